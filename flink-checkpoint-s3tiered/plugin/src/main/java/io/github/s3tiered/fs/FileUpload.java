package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Cancellation.CancelledException;
import io.github.s3tiered.s3.EvenIfInterrupted;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.UploadedPart;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Uploads a local file that does not change while it is read (a staging file, an SST file) as one
 * object: one PUT, or a multipart upload with parts in parallel on the transfer pool. Returns only
 * once S3 holds the object. A failed or cancelled multipart upload is aborted after every part
 * settled; when even the abort fails, the error names the upload id. An interrupt (Flink cancelling
 * the checkpoint) ends the wait for the parts at once: parts not started are skipped, and the abort
 * follows on the transfer pool when the parts on the wire settle.
 */
final class FileUpload {

    private static final Logger LOG = LoggerFactory.getLogger(FileUpload.class);

    private FileUpload() {}

    /**
     * {@code replacesDurable}: S3 may hold a version of the object that a checkpoint refers to,
     * which a failed upload must leave as it is (a multipart upload does: the CRC32Cs of the bytes its
     * parts sent are checked against the file's before it completes).
     */
    static void upload(S3TieredRuntime runtime, Cancellation cancellation, ObjectPath target, Path file, long length,
            int checksum, boolean replacesDurable) throws IOException {
        upload(runtime, cancellation, target, file, length, checksum, replacesDurable, () -> { });
    }

    /**
     * As above; {@code completing} runs before the first request that can create the object (the
     * PUT, or the CompleteMultipartUpload): a failed upload may have created it only after that.
     */
    static void upload(S3TieredRuntime runtime, Cancellation cancellation, ObjectPath target, Path file, long length,
            int checksum, boolean replacesDurable, Runnable completing) throws IOException {
        S3Access store = runtime.store().cancellable(cancellation);
        S3TieredConfig config = runtime.config();
        long start = System.nanoTime();
        if (length <= config.multipartThreshold()) {
            completing.run();
            store.putFile(target.bucket(), target.key(), file, length, checksum, replacesDurable);
            return;
        }
        String uploadId;
        try {
            uploadId = store.createMultipartUpload(target.bucket(), target.key(), checksum);
        } catch (IOException | RuntimeException e) {
            abortUploadsOfFailedStartInBackground(runtime, target);
            throw e;
        }
        List<CompletableFuture<UploadedPart>> parts = new ArrayList<>();
        // Cancelled once the upload cannot complete: the caller cancelled it, a part failed for
        // good, or the wait for the parts failed. The other parts then stop retrying at once; else,
        // in a storm of 503s, a part awaited before it spends its whole throttle budget (minutes)
        // before the failure is reported, past the checkpoint's timeout, adding to the storm.
        Cancellation partsCancellation = new Cancellation().activityAlsoOf(cancellation);
        AtomicReference<Throwable> firstPartFailure = new AtomicReference<>();
        S3Access partStore = runtime.store().cancellable(partsCancellation);
        Cancellation.Registration forwarded = cancellation.onCancel(
                () -> partsCancellation.cancel("the upload of " + target + " was cancelled"));
        try {
            long partSize = partSizeFor(length, config.partSize());
            int partNumber = 1;
            for (long offset = 0; offset < length; offset += partSize, partNumber++) {
                long off = offset;
                long len = Math.min(partSize, length - offset);
                int n = partNumber;
                parts.add(CompletableFuture.supplyAsync(() -> {
                    if (partsCancellation.isCancelled()) {
                        return null; // the upload is aborted anyway
                    }
                    try {
                        return partStore.uploadPart(target.bucket(), target.key(), uploadId, n, file, off, len);
                    } catch (IOException | RuntimeException e) {
                        if (!(e instanceof CancelledException) && firstPartFailure.compareAndSet(null, e)) {
                            partsCancellation.cancel("part " + n + " of the upload failed");
                        }
                        throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
                    }
                }, runtime.transferPool()));
            }
            List<UploadedPart> completed = new ArrayList<>(parts.size());
            for (CompletableFuture<UploadedPart> p : parts) {
                completed.add(awaitPart(p, target, uploadId));
            }
            cancellation.check("Upload of " + target);
            completing.run();
            store.completeMultipartUpload(target.bucket(), target.key(), uploadId, completed, length, checksum);
            runtime.store().statistics().uploads.increment();
            runtime.store().statistics().uploadNanos.add(System.nanoTime() - start);
        } catch (RuntimeException | IOException e) {
            partsCancellation.cancel("the upload of " + target + " failed");
            IOException cause = RangedDownload.unwrap(e);
            if (cause instanceof CancelledException && !cancellation.isCancelled() && firstPartFailure.get() != null) {
                cause = RangedDownload.unwrap(firstPartFailure.get()); // the failure that stopped the other parts
            }
            // Abort only after every part settled: a part finishing after the abort would leave
            // stored parts behind on some S3 implementations.
            CompletableFuture<Void> settled = CompletableFuture.allOf(parts.toArray(new CompletableFuture[0]))
                    .handle((ignored, partFailure) -> null); // part failures are reported through 'cause'
            if (!awaitSettled(settled)) {
                // Flink does not wait for a cancelled checkpoint's thread; the upload still ends aborted
                settled.whenComplete((ignored, never) -> abortInBackground(store, target, uploadId));
                throw withCause(new InterruptedIOException("Upload of " + target + " (" + length
                        + " bytes, multipart upload id " + uploadId + ") was interrupted; it is aborted once its parts "
                        + "in flight settle: " + cause.getMessage()), cause);
            }
            String outcome;
            try {
                outcome = abortWithin(runtime, store, target, uploadId)
                        ? "was aborted"
                        : "is being aborted in the background (S3 did not answer the abort within "
                                + abortWait.toMillis() + " ms)";
            } catch (IOException abortFailure) {
                cause.addSuppressed(abortFailure);
                outcome = "could NOT be aborted (" + abortFailure.getMessage()
                        + "); a bucket lifecycle rule for incomplete multipart uploads removes it";
            }
            String message = "Upload of " + target + " (" + length + " bytes, multipart upload id " + uploadId + ") "
                    + (cause instanceof CancelledException ? "was cancelled" : "failed") + " and " + outcome + ": "
                    + cause.getMessage();
            if (cause instanceof CancelledException) {
                throw withCause(new CancelledException(message), cause);
            }
            throw cause instanceof InterruptedIOException && Thread.currentThread().isInterrupted()
                    ? withCause(new InterruptedIOException(message), cause) : new IOException(message, cause);
        } finally {
            forwarded.close();
        }
    }

    /**
     * The configured part size, or larger where the file would need more than S3's 10,000 parts
     * (a savepoint of 50 GiB with 5 MiB parts): else the upload fails at part 10,001 after
     * sending the rest.
     */
    static long partSizeFor(long length, long configured) {
        long least = (length + S3TieredConfig.MAX_PARTS - 1) / S3TieredConfig.MAX_PARTS;
        return Math.max(configured, least);
    }

    /** False when an interrupt ended the wait (the interrupt is kept). */
    private static boolean awaitSettled(CompletableFuture<Void> settled) {
        try {
            settled.get(); // never completes exceptionally
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Waits for a part; an interrupt ends the wait and fails the upload. */
    private static UploadedPart awaitPart(CompletableFuture<UploadedPart> part, ObjectPath target, String uploadId)
            throws IOException {
        try {
            return part.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Interrupted while the parts of " + target
                    + " (multipart upload id " + uploadId + ") were uploaded");
        } catch (ExecutionException e) {
            throw RangedDownload.unwrap(e);
        }
    }

    /**
     * How long a failed upload waits for its abort before it reports the failure. The abort retries
     * as any request (under a storm of 503s that takes minutes, as long as the parts took to fail):
     * Flink hears of the failure after this, and the abort goes on in the background.
     */
    static final java.time.Duration ABORT_WAIT = java.time.Duration.ofSeconds(10);
    /** {@link #ABORT_WAIT}; tests shorten it. */
    static volatile java.time.Duration abortWait = ABORT_WAIT;

    /** Aborts on the transfer pool; true when done within {@link #ABORT_WAIT}, false when it goes on. */
    private static boolean abortWithin(S3TieredRuntime runtime, S3Access store, ObjectPath target, String uploadId)
            throws IOException {
        CompletableFuture<Void> aborted = new CompletableFuture<>();
        try {
            runtime.transferPool().execute(() -> {
                try {
                    abort(store, target, uploadId);
                    aborted.complete(null);
                } catch (Throwable t) {
                    aborted.completeExceptionally(t);
                }
            });
        } catch (RejectedExecutionException closing) {
            abort(store, target, uploadId);
            return true;
        }
        // a thread interrupted before (Flink cancelling the checkpoint) waits as well, as briefly
        boolean interrupted = Thread.interrupted();
        try {
            aborted.get(abortWait.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException | InterruptedException slow) {
            interrupted |= slow instanceof InterruptedException;
            aborted.whenComplete((ok, failure) -> {
                if (failure != null) {
                    LOG.warn("The failed upload of {} (multipart upload id {}) could NOT be aborted: {}; a bucket "
                            + "lifecycle rule for incomplete multipart uploads removes it", target, uploadId, failure.toString());
                }
            });
            return false;
        } catch (ExecutionException e) {
            throw RangedDownload.unwrap(e);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The thread may be interrupted (Flink cancelling the checkpoint): the upload is aborted anyway. */
    private static void abort(S3Access store, ObjectPath target, String uploadId) throws IOException {
        EvenIfInterrupted.run(() -> {
            store.abortMultipartUpload(target.bucket(), target.key(), uploadId);
            return null;
        });
    }

    /**
     * In the background: when S3 is unreachable the listing waits out its own retries, which the
     * failed write (or Flink's cancellation of it) should not wait for.
     */
    private static void abortUploadsOfFailedStartInBackground(S3TieredRuntime runtime, ObjectPath target) {
        try {
            runtime.transferPool().execute(() ->
                    runtime.store().abortUploadsOfFailedStart(target.bucket(), target.key()));
        } catch (RejectedExecutionException closing) {
            LOG.warn("Could not look for a multipart upload of {} that a failed start may have left (the file system is"
                    + " closing); a bucket lifecycle rule for incomplete multipart uploads removes it", target);
        }
    }

    private static void abortInBackground(S3Access store, ObjectPath target, String uploadId) {
        try {
            abort(store, target, uploadId);
        } catch (IOException | RuntimeException e) {
            LOG.warn("The interrupted upload of {} (multipart upload id {}) could NOT be aborted: {}; a bucket "
                    + "lifecycle rule for incomplete multipart uploads removes it", target, uploadId, e.toString());
        }
    }

    static IOException withCause(IOException e, Throwable cause) {
        e.initCause(cause);
        return e;
    }

}
