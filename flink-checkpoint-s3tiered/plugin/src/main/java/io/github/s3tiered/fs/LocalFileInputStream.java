package io.github.s3tiered.fs;

import org.apache.flink.core.fs.FSDataInputStream;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.util.concurrent.atomic.LongAdder;

/**
 * A seekable stream over a local-tier copy; counts the bytes it serves. The open channel keeps the
 * copy readable even if the tier evicts it meanwhile. {@link #close()} may come from another
 * thread: a read blocked in the channel then fails, and every later call says the stream is closed.
 */
final class LocalFileInputStream extends FSDataInputStream {

    private final FileChannel channel;
    private final LongAdder servedBytes;
    private final String description;
    private volatile boolean closed;
    /** Guarded by {@code this}. */
    private long pos;

    /**
     * The copy's length as its check found it: the end of the file before it is a truncated copy,
     * not the end; bytes after it are not served.
     */
    private final long length;

    LocalFileInputStream(FileChannel channel, long length, LongAdder servedBytes, String description) {
        this.channel = channel;
        this.length = length;
        this.servedBytes = servedBytes;
        this.description = description;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public synchronized int read(byte[] b, int off, int len) throws IOException {
        ensureOpen();
        if (len == 0) {
            return 0;
        }
        if (pos >= length) {
            return -1; // bytes a writer appended after the check are not the object's
        }
        int n;
        try {
            n = channel.read(ByteBuffer.wrap(b, off, (int) Math.min(len, length - pos)), pos);
        } catch (ClosedByInterruptException e) {
            throw interrupted(e);
        } catch (ClosedChannelException e) {
            throw closed(e);
        }
        if (n > 0) {
            pos += n;
            servedBytes.add(n);
        } else if (n < 0 && pos < length) {
            // cut while open (by hand, or a full disk's repair): a short file would pass for the whole one
            throw new EOFException("The local copy of " + description + " ends at byte " + pos + " of its " + length
                    + ": it was truncated while it was read");
        }
        return n;
    }

    @Override
    public synchronized void seek(long desired) throws IOException {
        ensureOpen();
        if (desired < 0) {
            throw new IOException("Cannot seek to negative position " + desired + " in " + description);
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
        long target = Math.max(pos, Math.min(length, pos + n));
        long skipped = target - pos;
        pos = target;
        return skipped;
    }

    @Override
    public synchronized int available() throws IOException {
        ensureOpen();
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, length - pos));
    }

    /** Not synchronized: it must reach a read blocked in the channel, which then fails. */
    @Override
    public void close() throws IOException {
        closed = true;
        channel.close();
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw closed(null);
        }
    }

    private IOException closed(Throwable cause) {
        return new IOException("Stream of the local copy of " + description + " is closed", cause);
    }

    /** The reading thread was interrupted (Flink cancelling the task), which closed the channel; the copy is intact. */
    private IOException interrupted(ClosedByInterruptException cause) {
        closed = true;
        InterruptedIOException e = new InterruptedIOException("Reading the local copy of " + description
                + " was interrupted (the task is being cancelled); the stream is closed");
        e.initCause(cause);
        return e;
    }
}
