package io.github.s3tiered.s3;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.core.exception.SdkServiceException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The S3 operations as the file system uses them, over an {@link ObjectStore}: every request
 * retried by the {@link Retrier} (throttling apart from other failures), its final failure an
 * {@link S3OperationException} naming bucket, key and upload id, listings paged, deletes batched,
 * bytes counted.
 *
 * <p>A stream or batch takes its own view with {@link #cancellable}: once its {@link Cancellation}
 * is set, a retry wait ends at once and no request of that view starts.
 */
public final class S3Access implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(S3Access.class);

    private static final int DELETE_BATCH = 1000;
    private static final int LIST_PAGE = 1000;
    /** How long a retried Complete waits for an earlier attempt to show its object: 10 x 200 ms. */
    private static final int COMPLETION_CHECKS = 10;
    private static final long COMPLETION_CHECK_INTERVAL_MILLIS = 200;

    private final ObjectStore store;
    private final Retrier retrier;
    private final S3Statistics stats;
    private final Cancellation cancellation;
    /**
     * The multipart uploads this process started and has not completed or aborted, shared by every
     * view of the store: a search for uploads left by a lost answer never aborts one of them (a
     * stream that starts again after a failed start uses the same key).
     */
    private final java.util.Set<String> uploadsInProgress;

    public S3Access(ObjectStore store, Retrier retrier, S3Statistics stats) {
        this(store, retrier, stats, Cancellation.NONE, java.util.concurrent.ConcurrentHashMap.newKeySet());
    }

    private S3Access(ObjectStore store, Retrier retrier, S3Statistics stats, Cancellation cancellation,
            java.util.Set<String> uploadsInProgress) {
        this.store = store;
        this.retrier = retrier;
        this.stats = stats;
        this.cancellation = cancellation;
        this.uploadsInProgress = uploadsInProgress;
    }

    /** The same store, whose requests stop once {@code c} is cancelled. */
    public S3Access cancellable(Cancellation c) {
        return new S3Access(store, retrier, stats, c, uploadsInProgress);
    }

    public Cancellation cancellation() {
        return cancellation;
    }

    public S3Statistics statistics() {
        return stats;
    }

    public String endpointDescription() {
        return store.endpointDescription();
    }

    /** HEAD of an object; empty when it does not exist. */
    public Optional<ObjectInfo> head(String bucket, String key) throws IOException {
        return retrier.call(S3Request.of("HeadObject", bucket, key), cancellation, () -> store.head(bucket, key));
    }

    /**
     * Uploads a whole local file with one PUT, recording its CRC32C; {@code replacesDurable}: S3 may
     * hold a version a checkpoint refers to ({@link ObjectStore#putObject}).
     */
    public void putFile(String bucket, String key, Path file, long size, int crc32c, boolean replacesDurable)
            throws IOException {
        long start = System.nanoTime();
        retrier.call(S3Request.of("PutObject", bucket, key), cancellation, () -> {
            store.putObject(bucket, key, file, size, crc32c, replacesDurable, cancellation);
            return null;
        });
        stats.bytesUploaded.add(size);
        stats.uploads.increment();
        stats.uploadNanos.add(System.nanoTime() - start);
    }

    /**
     * Starts a multipart upload whose object will carry the given CRC32C. When an attempt failed
     * after it may have reached S3 (its answer lost), S3 may hold an upload nobody knows the id
     * of; after such a retried start, the other uploads in progress for this key are aborted (Flink
     * never writes one key from two streams), so none is left behind. Attempts S3 answered with a
     * throttle or a client error (503, 429, 4xx) started nothing and cost no search: in a storm of
     * 503s that search would add a listing, with its own retries, to every start.
     */
    public String createMultipartUpload(String bucket, String key, int crc32c) throws IOException {
        AtomicBoolean answerMayBeLost = new AtomicBoolean();
        String uploadId = retrier.call(S3Request.of("CreateMultipartUpload", bucket, key), cancellation, () -> {
            try {
                return store.createMultipartUpload(bucket, key, crc32c);
            } catch (SdkServiceException e) {
                if (!startedNothing(e)) {
                    answerMayBeLost.set(true);
                }
                throw e;
            } catch (IOException | RuntimeException e) {
                answerMayBeLost.set(true);
                throw e;
            }
        });
        uploadsInProgress.add(uploadId);
        if (answerMayBeLost.get()) {
            abortStrayUploads(bucket, key, uploadId);
        }
        return uploadId;
    }

    /** S3 answered, and with an answer that says it did not act (a 500 or a gateway's 502/504 may hide one that did). */
    private static boolean startedNothing(SdkServiceException e) {
        return e.statusCode() == 503 || e.statusCode() >= 400 && e.statusCode() < 500;
    }

    /**
     * After a start that failed: an attempt whose answer was lost (a timeout, a reset, an interrupt
     * after S3 answered) may have started an upload nobody knows the id of. Aborts the uploads in
     * progress for the key that this process does not run; it costs one listing, paid only when a
     * start failed.
     */
    public void abortUploadsOfFailedStart(String bucket, String key) {
        abortStrayUploads(bucket, key, null);
    }

    private void abortStrayUploads(String bucket, String key, String keep) {
        try {
            // the caller's cancellation: a write that Flink cancels need not wait for this clean-up
            List<String> ids = retrier.call(S3Request.of("ListMultipartUploads", bucket, key), cancellation,
                    () -> store.listMultipartUploads(bucket, key));
            for (String id : ids) {
                if (!id.equals(keep) && !uploadsInProgress.contains(id)) {
                    LOG.info("Aborting multipart upload {} of s3://{}/{}: started by an attempt whose answer was lost",
                            id, bucket, key);
                    abortMultipartUpload(bucket, key, id);
                }
            }
        } catch (IOException e) {
            LOG.warn("Could not look for multipart uploads of s3://{}/{} left by a lost answer (a bucket lifecycle"
                    + " rule for incomplete multipart uploads removes them): {}", bucket, key, e.toString());
        }
    }

    /** Uploads one part from a range of a local file. */
    public UploadedPart uploadPart(String bucket, String key, String uploadId, int partNumber, Path file, long offset,
            long length) throws IOException {
        UploadedPart part = retrier.call(S3Request.ofUpload("UploadPart", bucket, key, uploadId, partNumber), cancellation,
                () -> store.uploadPart(bucket, key, uploadId, partNumber, file, offset, length, cancellation));
        stats.bytesUploaded.add(length);
        return part;
    }

    /**
     * Completes a multipart upload whose object has {@code size} bytes and CRC32C {@code crc32c}.
     * Complete is not idempotent on the wire: when an attempt reached S3 but its answer was lost,
     * the retry is told the upload does not exist (a 404: NoSuchUpload on S3, NoSuchKey on some
     * servers) or, while the earlier attempt still assembles the object, that its parts are gone
     * (400 InvalidPart on S3Proxy). The object in place is then checked, for a short while since
     * that attempt may not have ended: with the expected size and recorded CRC32C it is this
     * upload's, and the call succeeds instead of failing a write that S3 has made durable.
     */
    public void completeMultipartUpload(String bucket, String key, String uploadId, List<UploadedPart> parts,
            long size, int crc32c) throws IOException {
        UploadDigest.requirePartsMatch(parts, crc32c, "s3://" + bucket + "/" + key + " (upload id " + uploadId + ")");
        AtomicInteger attempts = new AtomicInteger();
        AtomicBoolean uploadMayRemain = new AtomicBoolean();
        retrier.call(S3Request.ofUpload("CompleteMultipartUpload", bucket, key, uploadId, 0), cancellation, () -> {
            boolean retry = attempts.incrementAndGet() > 1;
            try {
                if (store.completeMultipartUpload(bucket, key, uploadId, parts) == null
                        && !holds(bucket, key, size, crc32c)) {
                    // a 200 whose body was lost (a proxy closing a response without a length): nothing
                    // confirms the object, and the HEAD finds other bytes or none
                    throw new IOException("CompleteMultipartUpload of s3://" + bucket + "/" + key + " (upload id "
                            + uploadId + ") was answered without an ETag, and the object there does not hold the"
                            + " upload's " + size + " bytes with CRC32C " + Crc32c.toHex(crc32c));
                }
            } catch (SdkServiceException e) {
                if (!retry || !saysTheUploadEnded(e) || !heldAfterAnEarlierAttempt(bucket, key, size, crc32c)) {
                    throw e;
                }
                LOG.info("CompleteMultipartUpload of s3://{}/{} (upload id {}) was answered {} {} on a retry;"
                        + " the object in place has the upload's size and CRC32C, taken as this upload's (an"
                        + " earlier attempt completed it)", bucket, key, uploadId, e.statusCode(), S3ErrorKind.errorCode(e));
                uploadMayRemain.set(e.statusCode() != 404);
            }
            return null;
        });
        uploadsInProgress.remove(uploadId);
        if (uploadMayRemain.get()) {
            // InvalidPart does not say the upload is gone: should the object be an older one with the
            // same bytes, the upload would stay open. Its abort is harmless once it completed.
            try {
                abortMultipartUpload(bucket, key, uploadId);
            } catch (IOException e) {
                LOG.warn("Could not abort the multipart upload {} of s3://{}/{} after its completion was in doubt: {}",
                        uploadId, bucket, key, e.toString());
            }
        }
    }

    /** What a retried Complete hears when an earlier attempt completed, or is completing, the upload. */
    private static boolean saysTheUploadEnded(SdkServiceException e) {
        return e.statusCode() == 404 || e.statusCode() == 400 && "InvalidPart".equals(S3ErrorKind.errorCode(e));
    }

    /** Whether the object holds the upload's bytes, polling briefly for an attempt still completing. */
    private boolean heldAfterAnEarlierAttempt(String bucket, String key, long size, int crc32c) throws IOException {
        for (int check = 0; check < COMPLETION_CHECKS; check++) {
            if (holds(bucket, key, size, crc32c)) {
                return true;
            }
            cancellation.check("CompleteMultipartUpload s3://" + bucket + "/" + key);
            try {
                Thread.sleep(COMPLETION_CHECK_INTERVAL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("Interrupted while checking s3://" + bucket + "/" + key);
            }
        }
        return holds(bucket, key, size, crc32c);
    }

    /**
     * One HEAD with the retries of any request: a throttled or failed HEAD proves nothing either way
     * (taken as "not there", a storm of 503s turned a completed upload into a failed write, whose
     * object the caller then deleted). Retries used up fail the Complete, naming the HEAD.
     */
    private boolean holds(String bucket, String key, long size, int crc32c) throws IOException {
        Optional<ObjectInfo> info = head(bucket, key);
        return info.isPresent() && info.get().size() == size && Integer.valueOf(crc32c).equals(info.get().crc32c());
    }

    static boolean isNoSuchUpload(SdkServiceException e) {
        return e.statusCode() == 404 && "NoSuchUpload".equals(S3ErrorKind.errorCode(e));
    }

    /**
     * Aborts a multipart upload. Not cancellable: it is the clean-up of a failed or cancelled
     * upload, and skipping it would leave the stored parts behind.
     */
    public void abortMultipartUpload(String bucket, String key, String uploadId) throws IOException {
        uploadsInProgress.remove(uploadId);
        retrier.call(S3Request.ofUpload("AbortMultipartUpload", bucket, key, uploadId, 0), Cancellation.NONE, () -> {
            try {
                store.abortMultipartUpload(bucket, key, uploadId);
            } catch (SdkServiceException e) {
                if (!isNoSuchUpload(e)) {
                    throw e;
                }
                // gone already: aborted by an attempt whose answer was lost, or by someone else
                LOG.debug("AbortMultipartUpload of s3://{}/{}: upload id {} no longer exists", bucket, key, uploadId);
            }
            return null;
        });
    }

    /** Opens a GET of {@code [from, toInclusive]}; a broken body is the caller's to reopen. */
    public ObjectStream openRange(String bucket, String key, long from, long toInclusive) throws IOException {
        return openRange(bucket, key, from, toInclusive, null);
    }

    /** As {@link #openRange(String, String, long, long)}, only of the object version tagged {@code ifMatch} (412 else). */
    public ObjectStream openRange(String bucket, String key, long from, long toInclusive, String ifMatch) throws IOException {
        return retrier.call(S3Request.ofRange("GetObject", bucket, key, from, toInclusive), cancellation,
                () -> getAbortable(bucket, key, from, toInclusive, ifMatch));
    }

    /** Opens a GET from {@code from} to the end (from 0: the whole object, no Range header). */
    public ObjectStream openFrom(String bucket, String key, long from) throws IOException {
        return openFrom(bucket, key, from, null);
    }

    /** As {@link #openFrom(String, String, long)}, only of the object version tagged {@code ifMatch} (412 else). */
    public ObjectStream openFrom(String bucket, String key, long from, String ifMatch) throws IOException {
        return retrier.call(S3Request.ofRange("GetObject", bucket, key, from, -1), cancellation,
                () -> getAbortable(bucket, key, from, -1, ifMatch));
    }

    /** The GET, aborted by a cancellation while it waits for its answer (the caller takes over once it opened). */
    private ObjectStream getAbortable(String bucket, String key, long from, long toInclusive, String ifMatch)
            throws IOException {
        try (Cancellation.Registration abort = store.abortOnCancel(cancellation)) {
            return store.get(bucket, key, from, toInclusive, ifMatch);
        }
    }

    /** One level below {@code prefix} (which ends with '/' or is empty), all pages. */
    public ObjectListing listDirectory(String bucket, String prefix) throws IOException {
        return list(bucket, prefix, "/", Integer.MAX_VALUE);
    }

    /**
     * Like {@link #listDirectory(String, String)}, but a directory of more than one page is listed
     * in parallel by key range on {@code pool} ({@link RangeListing}).
     */
    public ObjectListing listDirectory(String bucket, String prefix, java.util.concurrent.Executor pool) throws IOException {
        return new RangeListing(this, bucket, prefix, pool).list();
    }

    /** One page of a one-level listing: from {@code startAfter}, or on from a continuation token. */
    ObjectListingPage listPage(String bucket, String prefix, String continuationToken, String startAfter) throws IOException {
        return retrier.call(S3Request.of("ListObjectsV2", bucket, prefix + (startAfter != null ? " after " + startAfter : "")),
                cancellation, () -> store.list(bucket, prefix, "/", continuationToken, startAfter, LIST_PAGE));
    }

    /** Every object under {@code prefix}, recursively, all pages. */
    public List<ObjectInfo> listRecursive(String bucket, String prefix) throws IOException {
        return list(bucket, prefix, null, Integer.MAX_VALUE).objects();
    }

    /** Whether anything exists under {@code prefix}: one request at most. */
    public boolean hasAnyUnder(String bucket, String prefix) throws IOException {
        return !list(bucket, prefix, null, 1).isEmpty();
    }

    private ObjectListing list(String bucket, String prefix, String delimiter, int limit) throws IOException {
        List<ObjectInfo> objects = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        String token = null;
        do {
            String continuation = token;
            ObjectListingPage page = retrier.call(S3Request.of("ListObjectsV2", bucket, prefix), cancellation,
                    () -> store.list(bucket, prefix, delimiter, continuation, null, Math.min(limit, LIST_PAGE)));
            objects.addAll(page.objects());
            prefixes.addAll(page.commonPrefixes());
            token = page.nextToken();
        } while (token != null && objects.size() + prefixes.size() < limit);
        return new ObjectListing(objects, prefixes);
    }

    /** Deletes keys in batches of 1,000; a key that does not exist is not an error. */
    public void deleteObjects(String bucket, List<String> keys) throws IOException {
        for (int i = 0; i < keys.size(); i += DELETE_BATCH) {
            List<String> batch = keys.subList(i, Math.min(keys.size(), i + DELETE_BATCH));
            String first = batch.get(0);
            // keys S3 failed for a passing reason (InternalError, SlowDown) inside its 200 answer are
            // sent again, alone, as a failed request would be; the others end it
            List<String>[] remaining = new List[] {batch};
            List<ObjectStore.DeleteFailure> failures = retrier.call(
                    S3Request.of("DeleteObjects", bucket, first + (batch.size() > 1 ? " (+" + (batch.size() - 1) + " keys)" : "")),
                    cancellation, () -> {
                        List<ObjectStore.DeleteFailure> failed = store.deleteObjects(bucket, remaining[0]);
                        if (!failed.isEmpty() && failed.stream().allMatch(f -> S3ErrorKind.ofCode(f.code()) != S3ErrorKind.PERMANENT)) {
                            remaining[0] = failed.stream().map(ObjectStore.DeleteFailure::key).toList();
                            ObjectStore.DeleteFailure f = failed.get(0);
                            boolean throttled = failed.stream().anyMatch(x -> S3ErrorKind.ofCode(x.code()) == S3ErrorKind.THROTTLED);
                            throw software.amazon.awssdk.services.s3.model.S3Exception.builder().statusCode(throttled ? 503 : 500)
                                    .awsErrorDetails(software.amazon.awssdk.awscore.exception.AwsErrorDetails.builder()
                                            .errorCode(f.code()).errorMessage(failed.size() + " keys not deleted, first s3://"
                                                    + bucket + "/" + f.key() + ": " + f.message()).build())
                                    .message(failed.size() + " keys not deleted, first s3://" + bucket + "/" + f.key() + ": "
                                            + f.code() + " " + f.message())
                                    .build();
                        }
                        return failed;
                    });
            if (!failures.isEmpty()) {
                ObjectStore.DeleteFailure f = failures.get(0);
                throw new IOException("S3 DeleteObjects at " + endpointDescription() + " could not delete " + failures.size()
                        + " of " + batch.size() + " keys in bucket " + bucket + ", first: s3://" + bucket + "/"
                        + f.key() + ": " + f.code() + " " + f.message());
            }
        }
    }

    public void deleteObject(String bucket, String key) throws IOException {
        retrier.call(S3Request.of("DeleteObject", bucket, key), cancellation, () -> {
            store.deleteObject(bucket, key);
            return null;
        });
    }

    public void recordDownload(long bytes) {
        stats.bytesDownloaded.add(bytes);
    }

    @Override
    public void close() {
        store.close();
    }
}
