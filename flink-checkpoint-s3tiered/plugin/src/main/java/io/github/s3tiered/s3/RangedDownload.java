package io.github.s3tiered.s3;


import java.io.FileNotFoundException;
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
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.zip.CRC32C;

/**
 * Downloads a whole object into a local file with parallel ranged GETs, and returns the CRC32C of
 * the bytes received (per-range checksums combined, so the file is not read again). Each range task writes at
 * its own offset and never waits for another task, so all ranges of many files can share one
 * bounded pool without deadlock. A range whose connection breaks is reopened where it stopped.
 * Every range after the first is asked only of the version the first described ({@code If-Match}
 * its ETag) and must describe the same size and recorded CRC32C: an object replaced during the
 * download fails it instead of mixing two objects' bytes.
 */
public final class RangedDownload {

    private RangedDownload() {}

    /** A finished download: the object as its first response described it, the file, and its bytes' CRC32C. */
    public record Downloaded(ObjectInfo info, Path target, int crc32c) {}

    /**
     * Downloads an object whose size is not known yet, without a HEAD first: the first range's
     * GET answers the size ({@code Content-Range}) and the recorded CRC32C together with its
     * bytes, which saves a round trip per file. {@code targetFor} picks the file once the size is
     * known. A response that does not say the size, or an empty object (S3 answers a range of it
     * with 416), is asked with a HEAD as {@link #start} does. A missing object fails with
     * {@link FileNotFoundException}.
     */
    public static CompletableFuture<Downloaded> startWithoutHead(
            S3Access store,
            String bucket,
            String key,
            Function<ObjectInfo, Path> targetFor,
            long rangeSize,
            int reopenAttempts,
            Executor pool) {
        // One task opens the first range, picks the file and reads that range itself: an open
        // response never waits in the queue for another task to read it, so open responses never
        // outnumber the pool's threads (a batch of more files than connections cannot starve).
        return CompletableFuture.supplyAsync(() -> {
            ObjectStream first;
            try {
                first = store.openRange(bucket, key, 0, rangeSize - 1);
            } catch (S3OperationException e) {
                if (e.statusCode() == 404) {
                    throw new UncheckedIOException(new FileNotFoundException("No such file: s3://" + bucket + "/" + key));
                }
                if (e.statusCode() != 416) {
                    throw new UncheckedIOException(e);
                }
                first = null; // an empty object: no range of it exists
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ObjectInfo info = first == null ? null : first.objectInfo();
            if (info == null) {
                if (first != null) {
                    first.abort();
                }
                return headThenStart(store, bucket, key, targetFor, rangeSize, reopenAttempts, pool);
            }
            Path target;
            try {
                target = targetFor.apply(info);
            } catch (RuntimeException e) {
                first.abort();
                throw e;
            }
            if (first.wholeObjectSent() && info.size() > rangeSize) {
                // A server that ignores Range would send the whole object for every range, each
                // range skipping the ones before it: one "range" of the whole object instead.
                first.abort();
                return start(store, bucket, key, info, null, target, info.size(), reopenAttempts, pool)
                        .thenApply(crc -> new Downloaded(info, target, crc));
            }
            return start(store, bucket, key, info, first, target, rangeSize, reopenAttempts, pool)
                    .thenApply(crc -> new Downloaded(info, target, crc));
        }, pool).thenCompose(download -> download);
    }

    private static CompletableFuture<Downloaded> headThenStart(S3Access store, String bucket, String key,
            Function<ObjectInfo, Path> targetFor, long rangeSize, int reopenAttempts, Executor pool) {
        ObjectInfo info;
        try {
            info = store.head(bucket, key)
                    .orElseThrow(() -> new FileNotFoundException("No such file: s3://" + bucket + "/" + key));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        Path target = targetFor.apply(info);
        return start(store, bucket, key, info, null, target, rangeSize, reopenAttempts, pool)
                .thenApply(crc -> new Downloaded(info, target, crc));
    }

    /** Downloads an object described by a HEAD (or a listing): every range must match {@code info}. */
    public static CompletableFuture<Integer> start(
            S3Access store,
            String bucket,
            String key,
            ObjectInfo info,
            Path target,
            long rangeSize,
            int reopenAttempts,
            Executor pool) {
        return start(store, bucket, key, info, null, target, rangeSize, reopenAttempts, pool);
    }

    /**
     * {@code firstRange}, when given, is the open response of the GET of the first range
     * ({@code [0, rangeSize)}): the other ranges are queued, then this thread reads it.
     */
    private static CompletableFuture<Integer> start(
            S3Access store,
            String bucket,
            String key,
            ObjectInfo expected,
            ObjectStream firstRange,
            Path target,
            long rangeSize,
            int reopenAttempts,
            Executor pool) {
        long size = expected.size();
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
            if (firstRange != null) {
                firstRange.abort();
            }
            return CompletableFuture.failedFuture(new LocalWriteException("Cannot create " + target + " to download s3://"
                    + bucket + "/" + key + ": " + e.getMessage(), e));
        }
        if (size == 0 && firstRange != null) {
            firstRange.abort(); // a server that answered the range of an empty object with 200 (S3 answers 416)
        }
        // The file's ranges stop together: once one fails for good (a 503 storm that outlasts its
        // throttle budget, a 403, a body that keeps breaking), the others stop retrying and the
        // queued ones do not start; else the file failed only after every range had spent its own
        // budget (minutes per wave of ranges), adding to the storm. The caller's cancellation
        // (the batch's, a stream's close) is passed on to them.
        String object = "s3://" + bucket + "/" + key;
        Cancellation rangesCancellation = new Cancellation();
        S3Access rangeStore = store.cancellable(rangesCancellation);
        Cancellation.Registration forwarded = store.cancellation().onCancel(
                () -> rangesCancellation.cancel("the download of " + object + " was cancelled"));
        AtomicReference<Throwable> firstFailure = new AtomicReference<>();
        Function<Long, java.util.function.Consumer<Throwable>> onFailure = from -> failure -> {
            IOException io = unwrap(failure);
            if (!(io instanceof Cancellation.CancelledException) && firstFailure.compareAndSet(null, io)) {
                rangesCancellation.cancel("the range from byte " + from + " of " + object + " failed: " + io.getMessage());
            }
        };
        List<CompletableFuture<Integer>> ranges = new ArrayList<>();
        CompletableFuture<Integer> readHere = null;
        try {
            for (long from = 0; from < size; from += rangeSize) {
                long start = from;
                long end = Math.min(size, from + rangeSize) - 1;
                if (from == 0 && firstRange != null) {
                    readHere = new CompletableFuture<>();
                    ranges.add(readHere);
                    continue;
                }
                ranges.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        rangesCancellation.check("Download of " + object); // queued behind a failed range
                        return downloadRange(rangeStore, bucket, key, expected, null, start, end, target, reopenAttempts);
                    } catch (IOException e) {
                        onFailure.apply(start).accept(e);
                        throw new UncheckedIOException(e);
                    } catch (RuntimeException | Error e) {
                        onFailure.apply(start).accept(e);
                        throw e;
                    }
                }, pool));
            }
        } catch (RuntimeException rejected) {
            if (firstRange != null) {
                firstRange.abort();
            }
            rangesCancellation.cancel("the download of " + object + " could not be queued");
            ranges.forEach(r -> r.cancel(false));
            forwarded.close();
            throw rejected;
        }
        if (readHere != null) {
            try {
                readHere.complete(downloadRange(rangeStore, bucket, key, expected, firstRange, 0,
                        Math.min(size, rangeSize) - 1, target, reopenAttempts));
            } catch (Throwable e) { // the future must end whatever ends the read: the others stop, the registration closes
                firstRange.abort();
                onFailure.apply(0L).accept(e);
                readHere.completeExceptionally(e);
                if (e instanceof VirtualMachineError fatal) {
                    throw fatal;
                }
            }
        }
        return CompletableFuture.allOf(ranges.toArray(new CompletableFuture[0]))
                .handle((ok, failure) -> {
                    forwarded.close();
                    if (failure != null) {
                        // the range that failed first, not one that was stopped because of it
                        Throwable first = firstFailure.get();
                        throw first != null ? new CompletionException(first)
                                : failure instanceof CompletionException ce ? ce : new CompletionException(failure);
                    }
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

    /**
     * Fails when a response describes another object than the first one did (replaced meanwhile):
     * bytes of two objects must not end up in one file. Not a broken body, so not retried.
     */
    private static void requireSameObject(ObjectStream response, ObjectInfo expected, String bucket, String key)
            throws ObjectChangedException {
        ObjectInfo now = response.objectInfo();
        if (now == null) {
            return;
        }
        boolean sameCrc = expected.crc32c() == null || now.crc32c() == null || expected.crc32c().equals(now.crc32c());
        if (now.size() != expected.size() || !sameCrc) {
            response.abort();
            throw new ObjectChangedException("s3://" + bucket + "/" + key + " changed during its download: first "
                    + expected.size() + " bytes" + (expected.crc32c() == null ? "" : ", CRC32C " + Crc32c.toHex(expected.crc32c()))
                    + ", then " + now.size() + " bytes" + (now.crc32c() == null ? "" : ", CRC32C " + Crc32c.toHex(now.crc32c())));
        }
    }

    /** An object replaced while it was being downloaded. */
    public static final class ObjectChangedException extends IOException {
        ObjectChangedException(String message) {
            super(message);
        }
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
     * {@code opened}, when given, is the open response of a GET of exactly this range, read
     * before any request of its own.
     */
    private static int downloadRange(S3Access store, String bucket, String key, ObjectInfo expected, ObjectStream opened,
            long start, long endInclusive, Path target, int reopenAttempts) throws IOException {
        long[] pos = {start};
        CRC32C crc = new CRC32C();
        int failuresWithoutProgress = 0;
        byte[] buf = new byte[256 * 1024];
        Cancellation cancellation = store.cancellation();
        ObjectStream next = opened;
        try (FileChannel out = FileChannel.open(target, StandardOpenOption.WRITE)) {
            while (pos[0] <= endInclusive) {
                cancellation.check("Download of s3://" + bucket + "/" + key);
                long before = pos[0];
                ObjectStream already = next;
                next = null;
                try (ObjectStream in = already != null ? already
                                : store.openRange(bucket, key, pos[0], endInclusive, expected.etag());
                        Cancellation.Registration abort = cancellation.onCancel(in::abort)) {
                    requireSameObject(in, expected, bucket, key);
                    copy(in, out, pos, endInclusive, buf, store, crc);
                    if (pos[0] <= endInclusive) {
                        in.abort();
                        throw new IOException("the response ended at byte " + pos[0] + " before the end of range "
                                + start + "-" + endInclusive);
                    }
                } catch (S3OperationException e) {
                    if (e.statusCode() == 412) {
                        throw new ObjectChangedException("s3://" + bucket + "/" + key + " changed during its download:"
                                + " its ETag is no longer " + expected.etag());
                    }
                    throw e; // the request itself failed after its retries
                } catch (Cancellation.CancelledException | ObjectChangedException e) {
                    throw e;
                } catch (TargetWriteException e) {
                    // the local file, not the response: reading the range again would not help
                    IOException cause = e.getCause() instanceof IOException io ? io : e;
                    if (cause instanceof java.nio.channels.ClosedByInterruptException) {
                        java.io.InterruptedIOException interrupted = new java.io.InterruptedIOException("Download of s3://"
                                + bucket + "/" + key + " into " + target + " was interrupted");
                        interrupted.initCause(cause);
                        throw interrupted;
                    }
                    throw new LocalWriteException("Download of s3://" + bucket + "/" + key + " failed: could not write "
                            + target + ": " + cause.getMessage(), cause);
                } catch (IOException e) {
                    cancellation.check("Download of s3://" + bucket + "/" + key); // the abort of a cancel
                    if (Retrier.isInterruption(e)) { // Flink cancelling the restore: no reopen would be allowed
                        Thread.currentThread().interrupt();
                        java.io.InterruptedIOException interrupted = new java.io.InterruptedIOException("Download of s3://"
                                + bucket + "/" + key + " was interrupted at byte " + pos[0]);
                        interrupted.initCause(e);
                        throw interrupted;
                    }
                    // A broken body: reopen where it stopped. Only failures that made no
                    // progress count against the limit, so a long range on a flaky network ends.
                    failuresWithoutProgress = pos[0] > before ? 0 : failuresWithoutProgress + 1;
                    if (failuresWithoutProgress > reopenAttempts) {
                        throw new BrokenBodyException("S3 GetObject s3://" + bucket + "/" + key + " broke at byte " + pos[0]
                                + " of range " + start + "-" + endInclusive + " " + failuresWithoutProgress + " times in a row: " + e.getMessage(), e);
                    }
                    store.statistics().reopens.increment();
                }
            }
        }
        return (int) crc.getValue();
    }

    /**
     * A response body that kept breaking without progress, past the reopens allowed: the network
     * or S3, not the local disk (a download elsewhere on this host would fare no better).
     */
    public static final class BrokenBodyException extends IOException {
        BrokenBodyException(String message, IOException cause) {
            super(message, cause);
        }
    }

    /** The download's local file could not be created or written: this host's disk, not S3. */
    public static final class LocalWriteException extends IOException {
        LocalWriteException(String message, IOException cause) {
            super(message, cause);
        }
    }

    /** Writing the downloaded bytes into the local file failed. */
    private static final class TargetWriteException extends IOException {
        TargetWriteException(IOException cause) {
            super(cause);
        }
    }

    private static void copy(
            InputStream in, FileChannel out, long[] pos, long endInclusive, byte[] buf, S3Access store, CRC32C crc)
            throws IOException {
        while (pos[0] <= endInclusive) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, endInclusive - pos[0] + 1));
            if (n < 0) {
                return;
            }
            ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
            long p = pos[0];
            try {
                while (bb.hasRemaining()) {
                    p += out.write(bb, p);
                }
            } catch (IOException e) {
                throw new TargetWriteException(e);
            }
            // only once written: a range reopened after a failure reads these bytes again
            crc.update(buf, 0, n);
            pos[0] += n;
            store.recordDownload(n);
        }
    }
}
