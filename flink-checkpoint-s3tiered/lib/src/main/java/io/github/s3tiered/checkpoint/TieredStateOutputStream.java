package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.OutputStreamAndPath;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Arrays;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A checkpoint stream on {@code s3tiered://} that behaves as Flink's file-system one ({@code
 * FsCheckpointStateOutputStream}: state up to the file-state threshold stays inside {@code
 * _metadata}, larger state goes to {@code <directory>/<uuid>}, with the same handle types), except
 * in two ways:
 *
 * <ul>
 *   <li>Discarded ({@link #close()} before {@link #closeAndGetHandle()}, as when Flink cancels a
 *       snapshot), it abandons the file system's stream: nothing is uploaded and nothing deleted.
 *       Flink's stream closes the file system's stream and deletes the file, and for the file
 *       system closing means uploading, so a cancelled task would wait for its partial snapshot to
 *       be uploaded and deleted before Flink frees its slot.
 *   <li>With {@code reuseWindowMillis >= 0} (shared state with pre-upload on), {@link
 *       #closeAndGetHandle()} may be told that the same content was already uploaded ahead of the
 *       checkpoint: then the handle refers to that object and this stream's own is never created.
 * </ul>
 *
 * <p>State: OPEN → CLOSING ({@link #closeAndGetHandle()} runs) → CLOSED. A {@link #close()} from
 * another thread while CLOSING (Flink cancels the checkpoint) abandons the file system's stream or,
 * once its upload has started, cancels that upload; the handle is then never returned, and the
 * closing thread deletes what the cancelled upload may have left. {@link #discarded} makes sure the
 * file system's stream is discarded once.
 */
final class TieredStateOutputStream extends CheckpointStateOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(TieredStateOutputStream.class);
    /** As Flink's stream: a name taken meanwhile, or a failure to create, is tried again with another name. */
    private static final int CREATE_ATTEMPTS = 10;

    private enum State { OPEN, CLOSING, CLOSED }

    private final Path directory;
    private final FileSystem fs;
    private final S3TieredBridge bridge;
    private final int threshold;
    /** Negative: never refer to a pre-uploaded object. */
    private final long reuseWindowMillis;
    /** The job's directory of uploads ahead of checkpoints (null: the stream's own directory). */
    private final Path preUploadDirectory;
    /** Whether file handles name the file relative to the checkpoint's directory (Flink's exclusive state without entropy). */
    private final boolean relativeHandles;
    private final byte[] buffer;
    private int pos;
    private volatile FSDataOutputStream out;
    private volatile Path path;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final AtomicBoolean discarded = new AtomicBoolean();

    TieredStateOutputStream(Path directory, FileSystem fs, S3TieredBridge bridge, int threshold, int bufferSize,
            long reuseWindowMillis, boolean relativeHandles) {
        this(directory, fs, bridge, threshold, bufferSize, reuseWindowMillis, null, relativeHandles);
    }

    /** {@code preUploadDirectory}: where the job's uploads ahead are, the only ones this stream may refer to. */
    TieredStateOutputStream(Path directory, FileSystem fs, S3TieredBridge bridge, int threshold, int bufferSize,
            long reuseWindowMillis, Path preUploadDirectory, boolean relativeHandles) {
        this.directory = directory;
        this.preUploadDirectory = preUploadDirectory;
        this.fs = fs;
        this.bridge = bridge;
        this.threshold = threshold;
        this.reuseWindowMillis = reuseWindowMillis;
        this.relativeHandles = relativeHandles;
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
            createStream();
            if (state.get() == State.CLOSED) {
                // close() ran in another thread while the stream was created and found none to discard
                discard();
                throw new IOException("The checkpoint stream to " + path + " was closed from another thread");
            }
        }
        if (pos > 0) {
            out.write(buffer, 0, pos);
            pos = 0;
        }
    }

    private void createStream() throws IOException {
        IOException last = null;
        for (int attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
            try {
                OutputStreamAndPath created = EntropyInjector.createEntropyAware(fs, new Path(directory,
                        UUID.randomUUID().toString()), FileSystem.WriteMode.NO_OVERWRITE);
                path = created.path();
                out = created.stream();
                return;
            } catch (IOException e) {
                last = e;
            }
        }
        throw new IOException("Could not create a checkpoint file in " + directory + " (" + CREATE_ATTEMPTS
                + " attempts): " + last.getMessage(), last);
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
        Path referredAhead = null; // an object uploaded ahead that this close took: this checkpoint's to delete
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
            Path object;
            if (reuseWindowMillis >= 0) {
                object = bridge.closeDeduplicated(out, reuseWindowMillis, preUploadDirectory).object();
                referredAhead = !object.equals(path)
                        && io.github.s3tiered.preupload.PreUploadSettings.isNameOfOneUpload(object.getName()) ? object : null;
            } else {
                out.close();
                object = path;
            }
            if (state.get() != State.CLOSING) {
                throw new IOException("The checkpoint stream to " + path + " was closed from another thread");
            }
            // a deduplicated object is in shared/, never relative to this directory
            return relativeHandles && object.equals(path)
                    ? new RelativeFileStateHandle(object, object.getName(), size)
                    : new FileStateHandle(object, size);
        } catch (IOException | RuntimeException e) {
            discard();
            if (referredAhead != null) {
                // no handle names it, and its RocksDB instance no longer withdraws what a checkpoint took
                deleteEvenIfInterrupted(referredAhead);
            }
            throw new IOException("Could not upload the checkpoint file " + (path != null ? path : directory)
                    + " and obtain its state handle: " + e.getMessage(), e);
        } finally {
            state.set(State.CLOSED);
            pos = buffer.length; // as Flink's stream: a later write goes to flushToFile, which fails
        }
    }

    /** Discards what was written; from another thread while CLOSING, cancels the upload. */
    @Override
    public void close() {
        State s = state.getAndSet(State.CLOSED);
        if (s == State.OPEN) {
            discard();
        } else if (s == State.CLOSING) {
            cancel();
        }
    }

    /**
     * From another thread while CLOSING: the file system's stream is abandoned, or its upload is
     * cancelled (the closing thread then fails and deletes what the upload may have left; deleting
     * here could run before the cancelled upload ended). A stream still being created is discarded by
     * the closing thread once it sees CLOSED.
     */
    private void cancel() {
        FSDataOutputStream o = out;
        if (o == null || discarded.get()) {
            return;
        }
        if (abandon(o)) {
            discarded.set(true);
            return;
        }
        try {
            o.close(); // the file system's stream treats this as a cancellation of its upload
        } catch (IOException e) {
            LOG.debug("Cancelling the upload of {}: {}", path, e.toString());
        }
    }

    /**
     * Drops what was written, once: the file system's stream is abandoned, so nothing is uploaded
     * and there is nothing to delete. Where it cannot be (its upload had started, or an older
     * plugin jar), the stream is closed and its file deleted, as Flink's stream does.
     */
    private void discard() {
        pos = buffer.length; // as Flink's stream: a later write goes to flushToFile, which fails
        FSDataOutputStream o = out;
        if (o == null || !discarded.compareAndSet(false, true)) {
            return;
        }
        if (abandon(o)) {
            return;
        }
        try {
            o.close();
        } catch (IOException e) {
            LOG.debug("Closing the discarded checkpoint stream to {}: {}", path, e.toString());
        }
        deleteEvenIfInterrupted(path);
    }

    private void deleteEvenIfInterrupted(Path file) {
        // Flink interrupts the snapshot's thread when it cancels a checkpoint, and the S3 client
        // refuses requests on an interrupted thread: the delete runs with the interrupt put aside.
        boolean interrupted = Thread.interrupted();
        try {
            fs.delete(file, false);
        } catch (IOException e) {
            LOG.warn("Could not delete the discarded checkpoint file {}: {}", file, e.toString());
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private boolean abandon(FSDataOutputStream o) {
        try {
            return bridge.abandon(o);
        } catch (IOException e) {
            LOG.debug("Could not abandon the checkpoint stream to {}, closing and deleting it instead: {}", path, e.toString());
            return false;
        }
    }
}
