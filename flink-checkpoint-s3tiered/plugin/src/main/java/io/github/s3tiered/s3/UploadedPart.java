package io.github.s3tiered.s3;

/**
 * A part of a multipart upload that S3 accepted. {@code crc32c}: the CRC32C of the {@code length}
 * bytes the part's request sent, as the SDK read them (else null, when not known): the parts'
 * CRC32Cs combined must be the file's recorded one before the upload is completed.
 */
public record UploadedPart(int partNumber, String etag, Integer crc32c, long length) {

    public UploadedPart(int partNumber, String etag) {
        this(partNumber, etag, null, -1);
    }
}
