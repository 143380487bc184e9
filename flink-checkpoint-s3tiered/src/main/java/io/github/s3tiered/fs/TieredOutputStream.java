package io.github.s3tiered.fs;

import io.github.s3tiered.s3.ObjectStore;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.tier.LocalTier;

import org.apache.flink.core.fs.FSDataOutputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import software.amazon.awssdk.services.s3.model.CompletedPart;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;

/**
 * Writes into a staging file of the local tier while computing the CRC32C. {@link #close()}
 * uploads the file (one PUT, or a multipart upload with parts in parallel) and returns only once
 * the object is durable in S3; then the file becomes the local-tier copy. A failed multipart upload
 * is aborted, so no incomplete upload stays in the bucket.
 */
final class TieredOutputStream extends FSDataOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(TieredOutputStream.class);
    private static final int BUFFER_SIZE = 256 * 1024;

    private final S3TieredRuntime runtime;
    private final ObjectPath target;
    private final Path staging;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(BUFFER_SIZE);
    private final CRC32C crc = new CRC32C();
    private long pos;
    private boolean closed;

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
        ensureOpen();
        if (!buffer.hasRemaining()) {
            flushBuffer();
        }
        buffer.put((byte) b);
        pos++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
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

    private void flushBuffer() throws IOException {
        buffer.flip();
        crc.update(buffer.array(), buffer.arrayOffset() + buffer.position(), buffer.remaining());
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
        buffer.clear();
    }

    @Override
    public long getPos() {
        return pos;
    }

    /** Hands buffered bytes to the local file; the S3 object appears only at {@link #close()}. */
    @Override
    public void flush() throws IOException {
        ensureOpen();
        flushBuffer();
    }

    /**
     * Makes the bytes durable on local disk. Durability in S3 comes only with {@link #close()}, as
     * S3 has no appendable objects; Flink closes checkpoint streams before it acknowledges them.
     */
    @Override
    public void sync() throws IOException {
        flush();
        channel.force(false);
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        boolean uploaded = false;
        try {
            flushBuffer();
            channel.close();
            int checksum = (int) crc.getValue();
            upload(checksum);
            uploaded = true;
            runtime.tier().commit(target.bucket(), target.key(), staging, pos, checksum);
        } catch (IOException e) {
            if (uploaded) {
                // The object is in S3; only the local copy is missing.
                LOG.warn("Uploaded {} but could not keep its local-tier copy: {}", target, e.toString());
                return;
            }
            throw e;
        } finally {
            if (channel.isOpen()) {
                channel.close();
            }
            Files.deleteIfExists(staging);
        }
    }

    private void upload(int checksum) throws IOException {
        ObjectStore store = runtime.store();
        S3TieredConfig config = runtime.config();
        long start = System.nanoTime();
        if (pos <= config.multipartThreshold()) {
            store.putFile(target.bucket(), target.key(), staging, pos, checksum);
            return;
        }
        String uploadId = store.createMultipartUpload(target.bucket(), target.key(), checksum);
        List<CompletableFuture<CompletedPart>> parts = new ArrayList<>();
        java.util.concurrent.atomic.AtomicBoolean failed = new java.util.concurrent.atomic.AtomicBoolean();
        try {
            long partSize = config.partSize();
            int partNumber = 1;
            for (long offset = 0; offset < pos; offset += partSize, partNumber++) {
                long off = offset;
                long len = Math.min(partSize, pos - offset);
                int n = partNumber;
                parts.add(CompletableFuture.supplyAsync(() -> {
                    if (failed.get()) {
                        return null; // another part failed: the upload is aborted anyway
                    }
                    try {
                        return store.uploadPart(target.bucket(), target.key(), uploadId, n, staging, off, len);
                    } catch (IOException | RuntimeException e) {
                        failed.set(true);
                        throw e instanceof IOException io ? new java.io.UncheckedIOException(io) : (RuntimeException) e;
                    }
                }, runtime.transferPool()));
            }
            List<CompletedPart> completed = new ArrayList<>(parts.size());
            for (CompletableFuture<CompletedPart> p : parts) {
                completed.add(p.join());
            }
            store.completeMultipartUpload(target.bucket(), target.key(), uploadId, completed);
            store.statistics().uploads.increment();
            store.statistics().uploadNanos.add(System.nanoTime() - start);
        } catch (RuntimeException | IOException e) {
            failed.set(true);
            // Abort only after every part settled: a part finishing after the abort would leave
            // stored parts behind on some S3 implementations.
            for (CompletableFuture<CompletedPart> p : parts) {
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
            throw new IOException("Upload of " + target + " (" + pos + " bytes, multipart upload id " + uploadId
                    + ") failed and " + outcome + ": " + cause.getMessage(), cause);
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("Stream to " + target + " is closed");
        }
    }

    LocalTier tier() {
        return runtime.tier();
    }
}
