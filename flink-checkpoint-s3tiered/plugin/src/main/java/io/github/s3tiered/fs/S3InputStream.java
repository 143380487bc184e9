package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.ObjectStream;
import io.github.s3tiered.s3.Retrier;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.S3OperationException;
import io.github.s3tiered.tier.LocalTier;

import org.apache.flink.core.fs.FSDataInputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.CRC32C;

/**
 * A seekable stream over one S3 object. After a broken connection it reopens the object at the
 * current position. When the object is read from start to end without seeking back, the bytes are
 * checked against the CRC32C recorded at upload, and a mismatch fails the read at the end.
 *
 * <p>With a local tier given, the bytes are also written to a staging file as they are read (one
 * GET, no second pass); at the end, if the checksum matches, the file becomes the local copy. A
 * seek away from the sequential position, or a close before the end, drops the staging file.
 *
 * <p>{@link #close()} may come from another thread while a read is blocked (Flink cancels through
 * its {@code CloseableRegistry}): it aborts the response body the read waits on, ends any retry
 * wait, and no request starts after it; the reading thread fails with "closed" and, if the close
 * could not take the lock, the holder releases the stream and the staging file on its way out.
 */
final class S3InputStream extends FSDataInputStream {

    private static final Logger LOG = LoggerFactory.getLogger(S3InputStream.class);

    /** Forward seeks up to this distance read and discard instead of opening a new request. */
    private static final long SKIP_LIMIT = 1 << 20;

    private final S3Access store;
    private final String bucket;
    private final String key;
    private final long length;
    private final Integer expectedCrc;
    /** The version opened (null: unknown): a reopen asks for it only, so a replaced object is not read on. */
    private final String etag;
    private final int reopenAttempts;
    private final LocalTier tier;
    private final Cancellation cancellation = new Cancellation();
    private volatile boolean closed;

    /** Guards every field below: the reader's state. */
    private final ReentrantLock lock = new ReentrantLock();
    private ObjectStream in;
    private Cancellation.Registration abortOnClose;
    private long pos;
    private final CRC32C crc = new CRC32C();
    /** True while every byte from 0 to pos went through {@link #crc}. */
    private boolean checksumming = true;
    /**
     * Set when the bytes read did not match the recorded CRC32C: every later read or seek fails
     * with it, so a caller that retries cannot read the damaged bytes again unchecked.
     */
    private IOException corrupt;
    private final long tierTicket;
    private final boolean countsAsDownload;
    private java.nio.file.Path teeFile;
    private FileChannel teeChannel;

    /**
     * A read of state (Flink's {@code open()}), checked against the object's recorded CRC32C and
     * counted as a download. {@code tier}: where to keep a copy of what is read in full, or null;
     * {@code tierTicket}: the tier's {@link LocalTier#readTicket} taken before S3 was asked what the
     * object is.
     */
    static S3InputStream ofState(S3Access store, String bucket, String key, ObjectInfo info, int reopenAttempts,
            LocalTier tier, long tierTicket) {
        return new S3InputStream(store, bucket, key, info.size(), info.crc32c(), info.etag(), reopenAttempts, tier,
                tierTicket, true);
    }

    /**
     * A check's read past the local tier (the start check's probe, the guard's and the inspector's
     * durable reads): the caller compares what it reads; nothing is kept, and it is not counted in
     * {@code bytesDownloaded}, which on 1.20, where restores stream, is what a TaskManager's restores
     * took from S3.
     */
    static S3InputStream ofCheck(S3Access store, String bucket, String key, ObjectInfo info, int reopenAttempts) {
        return new S3InputStream(store, bucket, key, info.size(), null, info.etag(), reopenAttempts, null, 0, false);
    }

    private S3InputStream(S3Access store, String bucket, String key, long length, Integer expectedCrc, String etag,
            int reopenAttempts, LocalTier tier, long tierTicket, boolean countsAsDownload) {
        this.countsAsDownload = countsAsDownload;
        this.tierTicket = tierTicket;
        this.etag = etag;
        this.store = store.cancellable(cancellation);
        this.bucket = bucket;
        this.key = key;
        this.length = length;
        this.expectedCrc = expectedCrc;
        this.reopenAttempts = reopenAttempts;
        this.tier = tier;
        if (tier != null) {
            try {
                teeFile = tier.newStagingFile();
                teeChannel = FileChannel.open(teeFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (IOException | RuntimeException e) {
                LOG.warn("Cannot keep a local copy of s3://{}/{}: {}", bucket, key, e.toString());
                dropTee();
            }
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        lock.lock();
        try {
            ensureOpen();
            if (len == 0) {
                return 0;
            }
            if (pos >= length) {
                verifyChecksum(); // an empty object too: its recorded CRC32C must be that of no bytes
                return -1;
            }
            return readLocked(b, off, len);
        } finally {
            unlock();
        }
    }

    private int readLocked(byte[] b, int off, int len) throws IOException {
        int attempts = 0;
        while (true) {
            int n;
            try {
                if (in == null) {
                    in = store.openFrom(bucket, key, pos, etag);
                    ObjectStream opened = in;
                    abortOnClose = cancellation.onCancel(opened::abort);
                }
                n = in.read(b, off, (int) Math.min(len, length - pos));
                if (n < 0) {
                    throw new EOFException("connection closed at byte " + pos + " of " + length);
                }
                if (checksumming) {
                    crc.update(b, off, n);
                }
                if (teeChannel != null) {
                    tee(b, off, n);
                }
                pos += n;
                if (countsAsDownload) {
                    store.recordDownload(n);
                } else {
                    store.statistics().bytesReadByChecks.add(n);
                }
            } catch (S3OperationException e) {
                if (e.statusCode() == 404) {
                    // deleted since it was opened: a missing file, not an unreadable store
                    throw new FileNotFoundException("No such file: s3://" + bucket + "/" + key + " (" + e.getMessage() + ")");
                }
                if (e.statusCode() == 412) {
                    throw new IOException("s3://" + bucket + "/" + key + " changed while it was read (its ETag is no longer "
                            + etag + "): not reading on in another object", e);
                }
                throw e;
            } catch (Cancellation.CancelledException e) {
                throw closedException();
            } catch (IOException e) {
                releaseStream();
                if (closed) {
                    throw closedException(); // the abort of close(), not a connection to reopen
                }
                if (Retrier.isInterruption(e)) { // Flink cancelling the task: a reopen would be refused as well
                    Thread.currentThread().interrupt();
                    InterruptedIOException interrupted = new InterruptedIOException("Reading s3://" + bucket + "/" + key
                            + " was interrupted at byte " + pos);
                    interrupted.initCause(e);
                    throw interrupted;
                }
                if (++attempts > reopenAttempts) {
                    throw new IOException("Reading s3://" + bucket + "/" + key + " at byte " + pos + " failed "
                            + attempts + " times: " + e.getMessage(), e);
                }
                store.statistics().reopens.increment();
                continue;
            }
            // Outside the retry: a checksum failure is not a broken connection to reopen.
            if (pos == length) {
                verifyChecksum();
            }
            return n;
        }
    }

    private void verifyChecksum() throws IOException {
        if (checksumming && expectedCrc != null) {
            int actual = (int) crc.getValue();
            checksumming = false;
            if (actual != expectedCrc) {
                dropTee();
                corrupt = new CorruptDownloadException("CRC32C mismatch reading s3://" + bucket + "/" + key + ": the object has "
                        + Crc32c.toHex(actual) + ", its upload recorded " + Crc32c.toHex(expectedCrc));
                throw corrupt;
            }
        }
        finishTee();
    }

    private void tee(byte[] b, int off, int n) {
        try {
            ByteBuffer bb = ByteBuffer.wrap(b, off, n);
            while (bb.hasRemaining()) {
                teeChannel.write(bb);
            }
        } catch (IOException e) {
            LOG.warn("Stopped keeping a local copy of s3://{}/{}: {}", bucket, key, e.toString());
            dropTee();
        }
    }

    /** At the end of a sequential, verified read: the staging file becomes the local copy. */
    private void finishTee() {
        if (teeChannel == null) {
            return;
        }
        try {
            teeChannel.close();
            teeChannel = null;
            // not kept when this host wrote, deleted or began rewriting the object meanwhile
            tier.commitRead(bucket, key, teeFile, length, (int) crc.getValue(), tierTicket);
        } catch (IOException | RuntimeException e) { // the bytes read are right; only the copy is lost
            LOG.warn("Could not keep the local copy of s3://{}/{}: {}", bucket, key, e.toString());
        } finally {
            dropTee();
        }
    }

    private void dropTee() {
        if (teeChannel != null) {
            try {
                teeChannel.close();
            } catch (IOException ignored) {
                // deleting it anyway
            }
            teeChannel = null;
        }
        if (teeFile != null) {
            try {
                Files.deleteIfExists(teeFile);
            } catch (IOException ignored) {
                // a stale staging file is removed by the tier later
            }
            teeFile = null;
        }
    }

    @Override
    public void seek(long desired) throws IOException {
        lock.lock();
        try {
            ensureOpen();
            if (desired < 0) {
                throw new EOFException("Cannot seek to negative position " + desired + " in s3://" + bucket + "/" + key);
            }
            if (desired == pos) {
                return;
            }
            if (in != null && desired > pos && desired - pos <= SKIP_LIMIT && desired <= length) {
                byte[] skip = new byte[(int) Math.min(64 * 1024, desired - pos)];
                while (pos < desired) {
                    if (readLocked(skip, 0, (int) Math.min(skip.length, desired - pos)) < 0) {
                        break;
                    }
                }
                return;
            }
            releaseStream();
            checksumming = false;
            dropTee();
            pos = desired;
        } finally {
            unlock();
        }
    }

    @Override
    public long getPos() {
        lock.lock();
        try {
            return pos;
        } finally {
            unlock();
        }
    }

    @Override
    public long skip(long n) throws IOException {
        if (n <= 0) {
            return 0;
        }
        lock.lock();
        try {
            long target = Math.min(length, pos + n);
            long before = pos;
            seek(target);
            return target - before;
        } finally {
            unlock();
        }
    }

    @Override
    public int available() {
        lock.lock();
        try {
            return (int) Math.min(Integer.MAX_VALUE, Math.max(0, length - pos));
        } finally {
            unlock();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // Unblocks a read waiting on the body or on a retry; no request starts after this.
        cancellation.cancel("s3://" + bucket + "/" + key + " closed");
        if (lock.tryLock()) {
            try {
                if (pos >= length && checksumming) {
                    try {
                        verifyChecksum(); // read to the end without asking for more: still a whole read
                    } catch (IOException e) {
                        LOG.warn(e.getMessage());
                    }
                }
                release();
            } finally {
                lock.unlock();
            }
        }
        // else: a read in another thread holds the lock; it releases everything when it returns
    }

    /**
     * Unlocks, then releases the stream if it was closed meanwhile. A {@link #close()} that found
     * the lock held left the release to its holder; checking after the unlock, not before, leaves
     * no window: either the close's {@code tryLock} follows the unlock and succeeds, or it failed
     * before it, and then {@link #closed} is seen here.
     */
    private void unlock() {
        lock.unlock();
        if (closed && lock.tryLock()) {
            try {
                release();
            } finally {
                lock.unlock();
            }
        }
    }

    private void release() {
        releaseStream();
        dropTee();
    }

    private void releaseStream() {
        if (abortOnClose != null) {
            abortOnClose.close();
            abortOnClose = null;
        }
        if (in != null) {
            // Abort instead of draining: the rest of the object may be large.
            in.abort();
            try {
                in.close();
            } catch (IOException ignored) {
                // aborted
            }
            in = null;
        }
    }

    private IOException closedException() {
        return new IOException("Stream of s3://" + bucket + "/" + key + " is closed");
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw closedException();
        }
        if (corrupt != null) {
            throw new IOException(corrupt.getMessage(), corrupt);
        }
    }
}
