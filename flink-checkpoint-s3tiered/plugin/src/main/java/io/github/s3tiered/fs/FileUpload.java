package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Cancellation.CancelledException;
import io.github.s3tiered.s3.EvenIfInterrupted;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.UploadedPart;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Uploads a local file that does not change while it is read (a staging file, an SST file) as one
 * object: one PUT, or a multipart upload with parts in parallel on the transfer pool. Returns only
 * once S3 holds the object. A failed or cancelled multipart upload is aborted after every part
 * settled; when even the abort fails, the error names the upload id.
 */
final class FileUpload {

    private FileUpload() {}

    static void upload(S3TieredRuntime runtime, Cancellation cancellation, ObjectPath target, Path file, long length,
            int checksum) throws IOException {
        S3Access store = runtime.store().cancellable(cancellation);
        S3TieredConfig config = runtime.config();
        long start = System.nanoTime();
        if (length <= config.multipartThreshold()) {
            store.putFile(target.bucket(), target.key(), file, length, checksum);
            return;
        }
        String uploadId = store.createMultipartUpload(target.bucket(), target.key(), checksum);
        List<CompletableFuture<UploadedPart>> parts = new ArrayList<>();
        AtomicBoolean failed = new AtomicBoolean();
        try {
            long partSize = config.partSize();
            int partNumber = 1;
            for (long offset = 0; offset < length; offset += partSize, partNumber++) {
                long off = offset;
                long len = Math.min(partSize, length - offset);
                int n = partNumber;
                parts.add(CompletableFuture.supplyAsync(() -> {
                    if (failed.get() || cancellation.isCancelled()) {
                        return null; // the upload is aborted anyway
                    }
                    try {
                        return store.uploadPart(target.bucket(), target.key(), uploadId, n, file, off, len);
                    } catch (IOException | RuntimeException e) {
                        failed.set(true);
                        throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
                    }
                }, runtime.transferPool()));
            }
            List<UploadedPart> completed = new ArrayList<>(parts.size());
            for (CompletableFuture<UploadedPart> p : parts) {
                completed.add(p.join());
            }
            cancellation.check("Upload of " + target);
            store.completeMultipartUpload(target.bucket(), target.key(), uploadId, completed, length, checksum);
            runtime.store().statistics().uploads.increment();
            runtime.store().statistics().uploadNanos.add(System.nanoTime() - start);
        } catch (RuntimeException | IOException e) {
            failed.set(true);
            // Abort only after every part settled: a part finishing after the abort would leave
            // stored parts behind on some S3 implementations.
            for (CompletableFuture<UploadedPart> p : parts) {
                try {
                    p.join();
                } catch (RuntimeException ignored) {
                    // reported through 'e'
                }
            }
            IOException cause = RangedDownload.unwrap(e);
            String outcome = "was aborted";
            try {
                // the thread may be interrupted (Flink cancelling the checkpoint): the upload is aborted anyway
                EvenIfInterrupted.run(() -> {
                    store.abortMultipartUpload(target.bucket(), target.key(), uploadId);
                    return null;
                });
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
            throw cause instanceof java.io.InterruptedIOException && Thread.currentThread().isInterrupted()
                    ? withCause(new java.io.InterruptedIOException(message), cause) : new IOException(message, cause);
        }
    }

    static IOException withCause(IOException e, Throwable cause) {
        e.initCause(cause);
        return e;
    }

}
