package io.github.s3tiered.s3;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The S3 requests the file system sends, one attempt each: {@link S3Access} retries, counts and
 * cancels them. Implemented over the AWS SDK ({@link SdkObjectStore}) and, in tests, in memory
 * with faults injected per operation, key and attempt.
 *
 * <p>A failed request throws what the SDK throws for it (an {@code SdkServiceException} carrying
 * the HTTP status and S3 error code, an {@code SdkClientException} for a broken connection or a
 * timeout) or an {@link IOException}; {@link S3ErrorKind} tells throttling, transient and
 * permanent failures apart from those, whatever the implementation.
 */
public interface ObjectStore extends AutoCloseable {

    /** Object metadata entry holding the CRC32C (8 hex digits) recorded at upload. */
    String CRC32C_METADATA = "s3tiered-crc32c";

    /** HEAD of an object; empty when it does not exist. */
    Optional<ObjectInfo> head(String bucket, String key) throws IOException;

    /**
     * Uploads a whole local file with one PUT, recording its CRC32C in the object's metadata. Once
     * {@code cancellation} is set, the request body stops being read and the request fails.
     * {@code replacesDurable}: S3 may hold a version of this object that a checkpoint refers to (a
     * stream synced before, a key named by its content). A PUT replaces it before anything could
     * check what was sent, so the file is then read and checked against {@code crc32c} first, and
     * its Content-MD5 sent for S3 to check the body: a file its disk changed fails, and the version
     * S3 holds stays.
     */
    void putObject(String bucket, String key, Path file, long size, int crc32c, boolean replacesDurable,
            Cancellation cancellation) throws IOException;

    /** Starts a multipart upload whose object will carry the given CRC32C; returns its upload id. */
    String createMultipartUpload(String bucket, String key, int crc32c) throws IOException;

    /** Uploads one part from a range of a local file; stops reading its body once {@code cancellation} is set. */
    UploadedPart uploadPart(String bucket, String key, String uploadId, int partNumber, Path file, long offset, long length,
            Cancellation cancellation)
            throws IOException;

    /**
     * Completes the upload; returns the ETag S3 answered, null when its answer held none (a 200 with
     * an empty body: the SDK reads it as success, though nothing says the object was made).
     */
    String completeMultipartUpload(String bucket, String key, String uploadId, List<UploadedPart> parts) throws IOException;

    /** The ids of the multipart uploads in progress for exactly this key (first page: enough for one key). */
    List<String> listMultipartUploads(String bucket, String key) throws IOException;

    /** Aborts a multipart upload; one that no longer exists is not an error. */
    void abortMultipartUpload(String bucket, String key, String uploadId) throws IOException;

    /**
     * Opens a GET of the bytes {@code [from, toInclusive]}, or from {@code from} to the end when
     * {@code toInclusive} is negative (no Range header at all from 0). The caller reads the body
     * and closes or aborts it.
     */
    default ObjectStream get(String bucket, String key, long from, long toInclusive) throws IOException {
        return get(bucket, key, from, toInclusive, null);
    }

    /**
     * As {@link #get(String, String, long, long)}, answered only while the object's ETag is
     * {@code ifMatch} (when not null): S3 answers 412 PreconditionFailed once it was replaced.
     */
    ObjectStream get(String bucket, String key, long from, long toInclusive, String ifMatch) throws IOException;

    /**
     * Makes {@code cancellation} abort the request the calling thread is about to send, until the
     * registration is closed: a GET whose answer has not begun (a server that stalls before its
     * headers) ends at once instead of at the socket timeout. A store that cannot abort a request
     * registers nothing.
     */
    default Cancellation.Registration abortOnCancel(Cancellation cancellation) {
        return () -> {};
    }

    /**
     * One page of a listing of the keys under {@code prefix}: with a delimiter, one level only
     * (the deeper keys rolled up into common prefixes). Starts after {@code startAfter} (when not
     * null) or at the continuation token of the previous page.
     */
    ObjectListingPage list(String bucket, String prefix, String delimiter, String continuationToken, String startAfter,
            int maxKeys) throws IOException;

    /** Deletes up to 1,000 keys in one request; returns the keys S3 could not delete. */
    List<DeleteFailure> deleteObjects(String bucket, List<String> keys) throws IOException;

    void deleteObject(String bucket, String key) throws IOException;

    /** Where the requests go, for messages: the endpoint and region, never credentials. */
    String endpointDescription();

    @Override
    void close();

    /** A key a multi-object delete left in place, with S3's error code and message. */
    record DeleteFailure(String key, String code, String message) {}
}
