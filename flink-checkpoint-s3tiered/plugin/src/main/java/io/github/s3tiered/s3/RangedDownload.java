package io.github.s3tiered.s3;


import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.zip.CRC32C;

/**
 * Downloads a whole object into a local file with parallel ranged GETs, and returns the CRC32C of
 * the bytes received (per-range checksums combined, so the file is not read again). Each range task writes at
 * its own offset and never waits for another task, so all ranges of many files can share one
 * bounded pool without deadlock. A range whose connection breaks is reopened where it stopped.
 */
public final class RangedDownload {

    private RangedDownload() {}

    public static CompletableFuture<Integer> start(
            S3Access store,
            String bucket,
            String key,
            long size,
            Path target,
            long rangeSize,
            int reopenAttempts,
            Executor pool) {
        try {
            Files.createDirectories(target.toAbsolutePath().getParent());
            try (FileChannel ch = FileChannel.open(target, StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                if (size > 0) {
                    // Reserve the length, so that ranges can be written in any order.
                    ch.write(ByteBuffer.wrap(new byte[1]), size - 1);
                }
            }
        } catch (IOException e) {
            return CompletableFuture.failedFuture(new IOException("Cannot create " + target + " to download s3://"
                    + bucket + "/" + key + ": " + e.getMessage(), e));
        }
        List<CompletableFuture<Integer>> ranges = new ArrayList<>();
        for (long from = 0; from < size; from += rangeSize) {
            long start = from;
            long end = Math.min(size, from + rangeSize) - 1;
            ranges.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return downloadRange(store, bucket, key, start, end, target, reopenAttempts);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, pool));
        }
        return CompletableFuture.allOf(ranges.toArray(new CompletableFuture[0]))
                .whenComplete((ok, failure) -> {
                    if (failure != null) {
                        ranges.forEach(r -> r.cancel(false));
                    }
                })
                .thenApply(ignored -> {
                    int crc = 0; // CRC32C of no bytes
                    long offset = 0;
                    for (CompletableFuture<Integer> r : ranges) {
                        long len = Math.min(rangeSize, size - offset);
                        crc = Crc32c.combine(crc, r.join(), len);
                        offset += len;
                    }
                    return crc;
                });
    }

    /** Unwraps the IOException of a failed download. */
    public static IOException unwrap(Throwable t) {
        Throwable c = t;
        while ((c instanceof CompletionException || c instanceof UncheckedIOException
                || c instanceof java.util.concurrent.ExecutionException) && c.getCause() != null) {
            c = c.getCause();
        }
        return c instanceof IOException io ? io : new IOException(c.getMessage(), c);
    }

    /**
     * Downloads one range; returns the CRC32C of its bytes. Stops at once when the store's
     * cancellation is set: the body being read is aborted and no request starts after it.
     */
    private static int downloadRange(
            S3Access store, String bucket, String key, long start, long endInclusive, Path target, int reopenAttempts)
            throws IOException {
        long[] pos = {start};
        CRC32C crc = new CRC32C();
        int failuresWithoutProgress = 0;
        byte[] buf = new byte[256 * 1024];
        Cancellation cancellation = store.cancellation();
        try (FileChannel out = FileChannel.open(target, StandardOpenOption.WRITE)) {
            while (pos[0] <= endInclusive) {
                cancellation.check("Download of s3://" + bucket + "/" + key);
                long before = pos[0];
                try (ObjectStream in = store.openRange(bucket, key, pos[0], endInclusive);
                        Cancellation.Registration abort = cancellation.onCancel(in::abort)) {
                    copy(in, out, pos, endInclusive, buf, store, crc);
                    if (pos[0] <= endInclusive) {
                        in.abort();
                        throw new IOException("the response ended at byte " + pos[0] + " before the end of range "
                                + start + "-" + endInclusive);
                    }
                } catch (S3OperationException | Cancellation.CancelledException e) {
                    throw e; // the request itself failed after its retries, or was cancelled
                } catch (IOException e) {
                    cancellation.check("Download of s3://" + bucket + "/" + key); // the abort of a cancel
                    // A broken body: reopen where it stopped. Only failures that made no
                    // progress count against the limit, so a long range on a flaky network ends.
                    failuresWithoutProgress = pos[0] > before ? 0 : failuresWithoutProgress + 1;
                    if (failuresWithoutProgress > reopenAttempts) {
                        throw new IOException("S3 GetObject s3://" + bucket + "/" + key + " broke at byte " + pos[0]
                                + " " + failuresWithoutProgress + " times in a row: " + e.getMessage(), e);
                    }
                    store.statistics().reopens.increment();
                }
            }
        }
        return (int) crc.getValue();
    }

    private static void copy(
            InputStream in, FileChannel out, long[] pos, long endInclusive, byte[] buf, S3Access store, CRC32C crc)
            throws IOException {
        while (pos[0] <= endInclusive) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, endInclusive - pos[0] + 1));
            if (n < 0) {
                return;
            }
            crc.update(buf, 0, n);
            ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
            long p = pos[0];
            while (bb.hasRemaining()) {
                p += out.write(bb, p);
            }
            pos[0] += n;
            store.recordDownload(n);
        }
    }
}
