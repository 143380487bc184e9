package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;

import org.apache.flink.core.fs.FSDataInputStream;

import java.io.IOException;
import java.util.Optional;

/**
 * The stream {@code open()} returns for a {@link WholeFirstRead}: the file is downloaded and
 * checked at the first read or seek, then every call goes to the checked local file (or, when it
 * could not be staged locally, to a streaming read). Flink registers a stream for cancellation once
 * {@code open()} returned it and closes it from another thread to cancel a restore: that close
 * cancels {@link #closing}, which ends a download in progress (its S3 stream is closed) or a wait
 * for another read's download, and every later call fails.
 */
final class WholeFirstInputStream extends FSDataInputStream {

    /**
     * What the first read or seek does: download and check, or empty to stream instead. {@code
     * closing} is cancelled when the stream is closed, from any thread: the download or the wait
     * it is in must end then (it may already be cancelled when the download begins).
     */
    interface Download {
        Optional<FSDataInputStream> start(Cancellation closing) throws IOException;
    }

    /** The streaming read taken when the file cannot be staged locally. */
    interface Streaming {
        FSDataInputStream open() throws IOException;
    }

    private final Download download;
    private final Streaming streaming;
    private final long length;
    private final String description;

    /** Guards {@link #delegate}'s creation: one download, by the first caller. */
    private final Object opening = new Object();
    /** Null until the first read or seek; written under {@link #opening}. */
    private volatile FSDataInputStream delegate;
    /** Cancelled by the close: ends the download in progress or a wait for another read's. */
    private final Cancellation closing = new Cancellation();
    private volatile boolean closed;

    WholeFirstInputStream(Download download, Streaming streaming, long length, String description) {
        this.download = download;
        this.streaming = streaming;
        this.length = length;
        this.description = description;
    }

    private FSDataInputStream delegate() throws IOException {
        FSDataInputStream d = delegate;
        if (d != null) {
            return d;
        }
        synchronized (opening) {
            ensureOpen();
            if (delegate == null) {
                Optional<FSDataInputStream> checked = download.start(closing);
                FSDataInputStream opened = checked.isPresent() ? checked.get() : streaming.open();
                delegate = opened;
                if (closed) { // closed during the download: the close may not have seen the delegate
                    opened.close();
                }
            }
            ensureOpen();
            return delegate;
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("Stream of " + description + " is closed");
        }
    }

    @Override
    public int read() throws IOException {
        return delegate().read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        java.util.Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            ensureOpen();
            return 0;
        }
        return delegate().read(b, off, len);
    }

    @Override
    public void seek(long desired) throws IOException {
        ensureOpen();
        if (desired < 0) {
            throw new java.io.EOFException("Cannot seek to negative position " + desired + " in " + description);
        }
        if (desired == 0 && delegate == null) {
            return; // where it stands: no download for that
        }
        delegate().seek(desired);
    }

    @Override
    public long getPos() throws IOException {
        ensureOpen();
        FSDataInputStream d = delegate;
        return d == null ? 0 : d.getPos();
    }

    @Override
    public long skip(long n) throws IOException {
        ensureOpen();
        return n <= 0 ? 0 : delegate().skip(n);
    }

    @Override
    public int available() throws IOException {
        ensureOpen();
        FSDataInputStream d = delegate;
        return d == null ? (int) Math.min(Integer.MAX_VALUE, length) : d.available();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        // a download's read fails at once (its staging file is removed); a wait ends
        closing.cancel("the stream of " + description + " was closed");
        FSDataInputStream d = delegate;
        if (d != null) {
            d.close();
        }
    }
}
