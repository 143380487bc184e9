package io.github.s3tiered.fs;

import org.apache.flink.core.fs.FSDataInputStream;

import java.io.EOFException;
import java.io.IOException;

/**
 * Serves short reads of a file from a {@value #WINDOW_SIZE}-byte window that one read of the
 * underlying stream fills; longer reads go straight to it. Flink's heap-backend and
 * canonical-savepoint restores read state through {@code DataInputView}s that have no buffer of
 * their own, a few bytes per call: without the window every such call was one positional read of
 * a local copy, or one read of the S3 response with its checksum update and its write into the
 * copy being kept, which made a heap restore from the local tier slower than from {@code file://}.
 *
 * <p>A seek only moves the position; the underlying stream is moved when a read needs it, so a
 * seek back or forward inside the window costs nothing. The underlying stream's statistics count
 * what it read: up to a window more than the caller took. {@link #close()} may come from another
 * thread: it closes the underlying stream (which fails a read blocked in it) and every later call
 * fails, even one the window could answer.
 */
final class WindowedInputStream extends FSDataInputStream {

    static final int WINDOW_SIZE = 64 * 1024;
    private static final long UNKNOWN = -1;

    private final FSDataInputStream in;
    private final long length;
    private final String description;
    private volatile boolean closed;

    // Guarded by this. The window holds the file's bytes [windowStart, windowStart + windowLength).
    private long pos;
    /** Where the underlying stream is; UNKNOWN after it failed, so the next read seeks it first. */
    private long inPos;
    /** Allocated at the first short read: a stream read only in large blocks never holds one. */
    private byte[] window;
    private long windowStart;
    private int windowLength;

    /**
     * @param in a stream at position 0 of a file of {@code length} bytes, which this one owns
     * @param description what the stream reads, for errors
     */
    WindowedInputStream(FSDataInputStream in, long length, String description) {
        this.in = in;
        this.length = length;
        this.description = description;
    }

    @Override
    public synchronized int read() throws IOException {
        ensureOpen();
        if (!inWindow() && !fillWindow()) {
            return -1;
        }
        return window[(int) (pos++ - windowStart)] & 0xff;
    }

    @Override
    public synchronized int read(byte[] b, int off, int len) throws IOException {
        java.util.Objects.checkFromIndexSize(off, len, b.length);
        ensureOpen();
        if (len == 0) {
            return 0;
        }
        int n;
        if (inWindow()) {
            n = Math.min(len, (int) (windowStart + windowLength - pos));
            System.arraycopy(window, (int) (pos - windowStart), b, off, n);
        } else if (len >= WINDOW_SIZE) {
            n = readUnderlying(b, off, len);
        } else if (fillWindow()) {
            n = Math.min(len, windowLength);
            System.arraycopy(window, 0, b, off, n);
        } else {
            n = -1;
        }
        if (n > 0) {
            pos += n;
        }
        return n;
    }

    private boolean inWindow() {
        return window != null && pos >= windowStart && pos < windowStart + windowLength;
    }

    /** Fills the window from {@code pos}; false at the end of the file. */
    private boolean fillWindow() throws IOException {
        if (window == null) {
            window = new byte[WINDOW_SIZE];
        }
        windowLength = 0; // a failed read leaves no stale window
        windowStart = pos;
        int n = readUnderlying(window, 0, WINDOW_SIZE);
        if (n <= 0) {
            return false;
        }
        windowLength = n;
        return true;
    }

    private int readUnderlying(byte[] b, int off, int len) throws IOException {
        if (inPos != pos) {
            inPos = UNKNOWN;
            in.seek(pos);
            inPos = pos;
        }
        int n;
        try {
            n = in.read(b, off, len);
        } catch (IOException | RuntimeException e) {
            inPos = UNKNOWN;
            throw e;
        }
        if (n > 0) {
            inPos += n;
        }
        return n;
    }

    @Override
    public synchronized void seek(long desired) throws IOException {
        ensureOpen();
        if (desired < 0) {
            throw new EOFException("Cannot seek to negative position " + desired + " in " + description);
        }
        pos = desired;
    }

    @Override
    public synchronized long getPos() {
        return pos;
    }

    @Override
    public synchronized long skip(long n) throws IOException {
        ensureOpen();
        long target = Math.max(pos, Math.min(length, pos + Math.max(0, n)));
        long skipped = target - pos;
        pos = target;
        return skipped;
    }

    @Override
    public synchronized int available() throws IOException {
        ensureOpen();
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, length - pos));
    }

    /** Not synchronized: it must reach a read blocked in the underlying stream, which then fails. */
    @Override
    public void close() throws IOException {
        closed = true;
        in.close();
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("Stream of " + description + " is closed");
        }
    }
}
