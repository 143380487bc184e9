package io.github.s3tiered.s3;

/**
 * What S3 says of one object. {@code crc32c} is the checksum this file system recorded at upload
 * (object metadata), or null for objects written by other tools; {@code etag} is S3's tag of this
 * version of the object (null where the answer had none, as in listings here).
 */
public record ObjectInfo(String key, long size, long lastModifiedMillis, Integer crc32c, String etag) {

    public ObjectInfo(String key, long size, long lastModifiedMillis, Integer crc32c) {
        this(key, size, lastModifiedMillis, crc32c, null);
    }
}
