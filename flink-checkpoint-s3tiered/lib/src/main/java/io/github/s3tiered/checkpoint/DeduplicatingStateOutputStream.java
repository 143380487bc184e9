package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A stream of shared checkpoint state (a RocksDB file) that behaves as Flink's file-system one
 * (state up to the file-state threshold stays inside {@code _metadata}; larger state goes to
 * {@code shared/<uuid>}), except that on {@link #closeAndGetHandle()} the file system may answer
 * that the same content was already uploaded ahead of the checkpoint: then the handle refers to
 * that object and {@code shared/<uuid>} is never created.
 *
 * <p>State: OPEN → CLOSING ({@link #closeAndGetHandle()} runs) → CLOSED. A {@link #close()} from
 * another thread while CLOSING (Flink cancels the checkpoint) closes the file system's stream,
 * which cancels its upload; the handle is then never returned.
 */
final class DeduplicatingStateOutputStream extends CheckpointStateOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(DeduplicatingStateOutputStream.class);

    private enum State { OPEN, CLOSING, CLOSED }

    private final Path directory;
    private final FileSystem fs;
    private final S3TieredBridge bridge;
    private final int threshold;
    private final long reuseWindowMillis;
    private final byte[] buffer;
    private int pos;
    private volatile FSDataOutputStream out;
    private volatile Path path;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);

    DeduplicatingStateOutputStream(Path directory, FileSystem fs, S3TieredBridge bridge, int threshold, int bufferSize,
            long reuseWindowMillis) {
        this.directory = directory;
        this.fs = fs;
        this.bridge = bridge;
        this.threshold = threshold;
        this.reuseWindowMillis = reuseWindowMillis;
        this.buffer = new byte[Math.max(Math.max(threshold, bufferSize), 4096)];
    }

    @Override
    public void write(int b) throws IOException {
        if (pos == buffer.length) {
            flushToFile();
        }
        buffer[pos++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (len >= buffer.length) {
            flushToFile();
            out.write(b, off, len);
            return;
        }
        if (len > buffer.length - pos) {
            flushToFile();
        }
        System.arraycopy(b, off, buffer, pos, len);
        pos += len;
    }

    private void flushToFile() throws IOException {
        if (state.get() != State.OPEN) {
            throw new IOException("The checkpoint stream to " + (path != null ? path : directory) + " is closed");
        }
        writeBufferToFile();
    }

    private void writeBufferToFile() throws IOException {
        if (out == null) {
            Path p = new Path(directory, UUID.randomUUID().toString());
            out = fs.create(p, FileSystem.WriteMode.NO_OVERWRITE);
            path = p;
        }
        if (pos > 0) {
            out.write(buffer, 0, pos);
            pos = 0;
        }
    }

    @Override
    public long getPos() throws IOException {
        return pos + (out == null ? 0 : out.getPos());
    }

    @Override
    public void flush() throws IOException {
        if (out != null || pos > threshold) {
            flushToFile();
        }
    }

    @Override
    public void sync() throws IOException {
        if (out != null) {
            out.sync();
        }
    }

    @Override
    public StreamStateHandle closeAndGetHandle() throws IOException {
        if (!state.compareAndSet(State.OPEN, State.CLOSING)) {
            throw new IOException("The checkpoint stream to " + (path != null ? path : directory) + " was already closed");
        }
        try {
            if (out == null && pos == 0) {
                return null;
            }
            if (out == null && pos <= threshold) {
                return new ByteStreamStateHandle(new Path(directory, UUID.randomUUID().toString()).toString(),
                        Arrays.copyOf(buffer, pos));
            }
            // the buffer may be larger than the threshold (a write buffer larger than the file-state threshold)
            writeBufferToFile();
            long size = out.getPos();
            S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(out, reuseWindowMillis);
            if (state.get() != State.CLOSING) {
                throw new IOException("The checkpoint stream to " + path + " was closed from another thread");
            }
            return new FileStateHandle(closed.object(), size);
        } catch (IOException | RuntimeException e) {
            discard();
            throw new IOException("Could not upload the checkpoint file " + (path != null ? path : directory)
                    + " and obtain its state handle: " + e.getMessage(), e);
        } finally {
            state.set(State.CLOSED);
        }
    }

    /** Discards what was written; from another thread while CLOSING, cancels the upload. */
    @Override
    public void close() {
        State s = state.getAndSet(State.CLOSED);
        if (s == State.OPEN) {
            discard();
        } else if (s == State.CLOSING && out != null) {
            try {
                out.close(); // the file system's stream treats this as a cancellation of its upload
            } catch (IOException e) {
                LOG.debug("Cancelling the upload of {}: {}", path, e.toString());
            }
        }
    }

    private void discard() {
        pos = 0;
        FSDataOutputStream o = out;
        if (o == null) {
            return;
        }
        try {
            o.close();
        } catch (IOException e) {
            LOG.debug("Closing the discarded checkpoint stream to {}: {}", path, e.toString());
        }
        try {
            fs.delete(path, false);
        } catch (IOException e) {
            LOG.warn("Could not delete the discarded checkpoint file {}: {}", path, e.toString());
        }
    }
}
