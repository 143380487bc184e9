package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Cancellation.CancelledException;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.UploadedPart;

import org.apache.flink.core.fs.FSDataOutputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

/**
 * Writes into a staging file of the local tier while computing the CRC32C. {@link #close()}
 * uploads the file (one PUT, or a multipart upload with parts in parallel) and returns only once
 * the object is durable in S3; then the file becomes the local-tier copy.
 *
 * <p>State, in {@link #state}: {@code OPEN} (writes go to the staging file) → {@code UPLOADING}
 * (the first {@code close()} uploads) → {@code CLOSED}. A {@code close()} from another thread
 * while the upload runs is a cancellation (Flink cancels through its {@code CloseableRegistry}):
 * {@code UPLOADING} → {@code CANCELLED}, no part or retry starts after it, a multipart upload is
 * aborted, an object that S3 completed meanwhile is deleted, and the uploading {@code close()}
 * fails. A failed multipart upload is aborted too, so no incomplete upload stays in the bucket;
 * when even the abort fails, the error names the upload id.
 */
final class TieredOutputStream extends FSDataOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(TieredOutputStream.class);
    private static final int BUFFER_SIZE = 256 * 1024;

    private enum State { OPEN, UPLOADING, CLOSED, CANCELLED }

    private final S3TieredRuntime runtime;
    private final ObjectPath target;
    private final Path staging;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final Cancellation cancellation = new Cancellation();

    /** Guards the buffer, the channel, the checksum and the position: the writer's state. */
    private final Object writeLock = new Object();
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(BUFFER_SIZE);
    private final CRC32C crc = new CRC32C();
    private long pos;
    /**
     * The first failed write to the staging file (a full or broken disk). Once set, the file and
     * the checksum no longer agree with what was written, so the stream only fails: every later
     * write, flush or close rethrows it, and close deletes the staging file and uploads nothing.
     */
    private IOException stagingFailure;

    TieredOutputStream(S3TieredRuntime runtime, ObjectPath target) throws IOException {
        this.runtime = runtime;
        this.target = target;
        this.staging = runtime.tier().newStagingFile();
        try {
            this.channel = FileChannel.open(staging, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IOException("Cannot create the staging file " + staging + " for " + target
                    + " in the local tier (s3tiered.local.dir): " + e.getMessage(), e);
        }
    }

    @Override
    public void write(int b) throws IOException {
        synchronized (writeLock) {
            ensureOpen();
            if (!buffer.hasRemaining()) {
                flushBuffer();
            }
            buffer.put((byte) b);
            pos++;
        }
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        synchronized (writeLock) {
            ensureOpen();
            while (len > 0) {
                if (!buffer.hasRemaining()) {
                    flushBuffer();
                }
                int n = Math.min(len, buffer.remaining());
                buffer.put(b, off, n);
                off += n;
                len -= n;
                pos += n;
            }
        }
    }

    private void flushBuffer() throws IOException {
        if (stagingFailure != null) {
            throw stagingBroken();
        }
        buffer.flip();
        int from = buffer.position();
        int length = buffer.remaining();
        try {
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        } catch (IOException e) {
            stagingFailure = new IOException("Writing " + target + " failed: could not write its staging file " + staging
                    + " in the local tier (s3tiered.local.dir " + runtime.tier().root() + "): " + e.getMessage(), e);
            throw stagingFailure;
        }
        // only bytes that reached the file count, so a retried flush cannot count them twice
        crc.update(buffer.array(), buffer.arrayOffset() + from, length);
        buffer.clear();
    }

    private IOException stagingBroken() {
        return new IOException(stagingFailure.getMessage() + " (an earlier write failed; the stream cannot go on)",
                stagingFailure);
    }

    @Override
    public long getPos() {
        synchronized (writeLock) {
            return pos;
        }
    }

    /** Hands buffered bytes to the local file; the S3 object appears only at {@link #close()}. */
    @Override
    public void flush() throws IOException {
        synchronized (writeLock) {
            ensureOpen();
            flushBuffer();
        }
    }

    /**
     * Makes the bytes durable on local disk. Durability in S3 comes only with {@link #close()}, as
     * S3 has no appendable objects; Flink closes checkpoint streams before it acknowledges them.
     */
    @Override
    public void sync() throws IOException {
        synchronized (writeLock) {
            ensureOpen();
            flushBuffer();
            channel.force(false);
        }
    }

    @Override
    public void close() throws IOException {
        if (state.compareAndSet(State.OPEN, State.UPLOADING)) {
            closeAndUpload();
        } else if (state.compareAndSet(State.UPLOADING, State.CANCELLED)) {
            LOG.info("Upload of {} cancelled: the stream was closed from another thread during its upload", target);
            cancellation.cancel("the stream to " + target + " was closed from another thread during its upload");
        }
        // CLOSED or CANCELLED: closing again does nothing
    }

    private void closeAndUpload() throws IOException {
        long length;
        int checksum;
        try {
            synchronized (writeLock) { // a write still running in another thread finishes first
                flushBuffer();
                channel.close();
                length = pos;
                checksum = (int) crc.getValue();
            }
            upload(length, checksum);
            if (!state.compareAndSet(State.UPLOADING, State.CLOSED)) {
                // Cancelled after S3 completed the object: the canceller expects no object.
                removeCancelledObject();
                throw new CancelledException("Upload of " + target + " cancelled: the stream was closed from another"
                        + " thread during its upload; the object S3 had completed was deleted");
            }
            try {
                runtime.tier().commit(target.bucket(), target.key(), staging, length, checksum);
            } catch (IOException e) {
                // The object is in S3; only the local copy is missing.
                LOG.warn("Uploaded {} but could not keep its local-tier copy: {}", target, e.toString());
            }
        } catch (IOException | RuntimeException e) {
            state.compareAndSet(State.UPLOADING, State.CLOSED);
            throw e;
        } finally {
            if (channel.isOpen()) {
                channel.close();
            }
            Files.deleteIfExists(staging);
        }
    }

    private void removeCancelledObject() {
        try {
            runtime.store().deleteObject(target.bucket(), target.key());
        } catch (IOException e) {
            LOG.warn("Could not delete {}, uploaded while its stream was cancelled: {}", target, e.toString());
        }
    }

    private void upload(long length, int checksum) throws IOException {
        S3Access store = runtime.store().cancellable(cancellation);
        S3TieredConfig config = runtime.config();
        long start = System.nanoTime();
        if (length <= config.multipartThreshold()) {
            store.putFile(target.bucket(), target.key(), staging, length, checksum);
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
                        return store.uploadPart(target.bucket(), target.key(), uploadId, n, staging, off, len);
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
                store.abortMultipartUpload(target.bucket(), target.key(), uploadId);
            } catch (IOException abortFailure) {
                cause.addSuppressed(abortFailure);
                outcome = "could NOT be aborted (" + abortFailure.getMessage()
                        + "); a bucket lifecycle rule for incomplete multipart uploads removes it";
            }
            String message = "Upload of " + target + " (" + length + " bytes, multipart upload id " + uploadId + ") "
                    + (cause instanceof CancelledException ? "was cancelled" : "failed") + " and " + outcome + ": "
                    + cause.getMessage();
            throw cause instanceof CancelledException ? withCause(new CancelledException(message), cause)
                    : new IOException(message, cause);
        }
    }

    private static IOException withCause(IOException e, Throwable cause) {
        e.initCause(cause);
        return e;
    }

    private void ensureOpen() throws IOException {
        if (stagingFailure != null) {
            throw stagingBroken();
        }
        if (state.get() != State.OPEN) {
            throw new IOException("Stream to " + target + " is closed");
        }
    }
}
