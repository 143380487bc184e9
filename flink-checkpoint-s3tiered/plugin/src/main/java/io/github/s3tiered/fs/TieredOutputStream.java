package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Cancellation.CancelledException;
import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.s3.EvenIfInterrupted;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.UploadedPart;
import io.github.s3tiered.tier.LocalTier;

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
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

/**
 * Writes into a staging file of the local tier while computing the CRC32C (and the SHA-256 in a
 * directory that received uploads ahead of checkpoints, see {@link PreUploads}). {@link #close()}
 * uploads the file (one PUT, or a multipart upload with parts in parallel) and returns only once
 * the object is durable in S3; then the file becomes the local-tier copy.
 *
 * <p>State, in {@link #state}: {@code OPEN} (writes go to the staging file) → {@code UPLOADING}
 * (the first {@code close()} uploads) → {@code CLOSED}. {@link #sync()} makes what was written so
 * far durable: {@code OPEN} → {@code SYNCING} (the staging file so far is uploaded as the object;
 * S3 has no append, so each sync uploads the whole file again) → {@code OPEN}; a later sync or
 * close replaces the object with a longer one that starts with the same bytes, so a reader of a
 * range synced earlier (Flink's file-merging segments) reads the same bytes from either. A
 * {@code close()} from another thread while the upload (or a sync's) runs is a cancellation
 * (Flink cancels through its {@code CloseableRegistry}): {@code UPLOADING} or {@code SYNCING} →
 * {@code CANCELLED}, no part or retry starts after it, a multipart upload is aborted, an object
 * that S3 completed meanwhile (also one whose aborted request S3 had whole and completed after the
 * canceller's own delete of the path) is deleted by the uploading thread unless a sync made bytes
 * of it durable (they stay), and the uploading {@code close()} or {@code sync()} fails. {@link #abandon()} while {@code OPEN} (a checkpoint stream Flink discards): {@code OPEN}
 * → {@code CANCELLED} without any upload. A failed multipart upload is aborted too, so no
 * incomplete upload stays in the bucket; when even the abort fails, the error names the upload id.
 */
final class TieredOutputStream extends FSDataOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(TieredOutputStream.class);
    private static final int BUFFER_SIZE = 256 * 1024;

    private enum State { OPEN, SYNCING, UPLOADING, CLOSED, CANCELLED }

    private final S3TieredRuntime runtime;
    private final ObjectPath target;
    private final Path staging;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final Cancellation cancellation = new Cancellation();
    /** Set once {@link #abandon()} took the stream from OPEN: its object is never created. */
    private volatile boolean abandoned;

    /**
     * Set before the closing upload sends its first request: from then on S3 may hold the object
     * (an answer lost). Read with {@link #closeEnded} by {@link #abandon()}: a close that ended
     * without it created nothing, and its caller has nothing to delete.
     */
    private volatile boolean closingUploadSent;
    /** The object a cancelled close's upload completed was deleted already (only the closing thread). */
    private boolean cancelledObjectRemoved;
    /** A request that can create the object (a PUT, a CompleteMultipartUpload) went out. */
    private volatile boolean creatingRequestSent;
    /**
     * An upload of this stream (a sync's or the close's) failed after such a request went out: S3 may
     * complete it later (its answer was lost), after a later upload even. The stream then keeps no
     * local-tier copy, and the key stays rewritten for a while after it ends ({@link #endRewrite()}).
     */
    private volatile boolean uploadInDoubt;
    /** See the constructor. */
    private final boolean mayReplace;

    /** Set once the uploading {@code close()} returned or threw: nothing more is sent for it. */
    private volatile boolean closeEnded;
    /**
     * How many bytes the object in S3 holds after the last successful {@link #sync()}, -1 before
     * any: the object then does not exist. Written only by the syncing thread, in SYNCING.
     */
    private volatile long syncedLength = -1;
    /**
     * Whether an upload (a sync's or the close's) told the local tier that this object changes
     * ({@link io.github.s3tiered.tier.LocalTier#beginRewrite}), and the token it answered.
     */
    private volatile boolean rewriteBegun;
    private volatile long rewriteToken;
    /**
     * Whether a sync sent an upload, successful or not: a failed one may have created the object all
     * the same (S3 stored it, its answer was lost), so an abandon then leaves the delete to the caller.
     */
    private volatile boolean syncUploadSent;

    /** Guards the buffer, the channel, the checksum and the position: the writer's state. */
    private final Object writeLock = new Object();
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(BUFFER_SIZE);
    private final CRC32C crc = new CRC32C();
    /**
     * The SHA-256 of the bytes in the staging file, computed as they are written when the
     * stream's directory has pre-uploads (its content may be one of them at close); else null.
     */
    private final MessageDigest sha256;
    /** CPU nanoseconds spent in {@link #sha256} ({@link ThreadCpuClock}): the cost of deduplication on this stream. */
    private long hashNanos;
    private long pos;
    /**
     * The first failed write to the staging file (a full or broken disk). Once set, the file and
     * the checksum no longer agree with what was written, so the stream only fails: every later
     * write, flush or close rethrows it, and close deletes the staging file and uploads nothing.
     */
    private IOException stagingFailure;

    TieredOutputStream(S3TieredRuntime runtime, ObjectPath target) throws IOException {
        this(runtime, target, true);
    }

    /** @param mayReplace created with {@code OVERWRITE}: an object may exist at the path before this stream's */
    TieredOutputStream(S3TieredRuntime runtime, ObjectPath target, boolean mayReplace) throws IOException {
        this.runtime = runtime;
        this.target = target;
        this.mayReplace = mayReplace;
        try {
            this.staging = runtime.tier().newStagingFile();
        } catch (java.io.UncheckedIOException e) {
            // its directory cannot be made (a full or read-only volume): Flink handles IOExceptions only
            throw new IOException("Cannot create a stream to " + target + ": " + e.getMessage(), e.getCause());
        }
        this.sha256 = runtime.preUploads().mayDeduplicate(target) ? ContentHash.newDigest() : null;
        try {
            this.channel = FileChannel.open(staging, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new IOException("Cannot create the staging file " + staging + " for " + target
                    + " in the local tier (s3tiered.local.dir): " + e.getMessage(), e);
        }
        runtime.openStreams().opened(this);
    }

    /**
     * Abandons the stream if it is still {@code OPEN} (no upload running): the file system deletes
     * its path. Flink deletes a path whose stream it gives up without closing it: its checkpoint
     * stream after a failed {@code sync()} ({@code FsCheckpointStateOutputStream#closeAndGetHandle}),
     * a failed checkpoint's directory while tasks still write into it. The staging file stayed
     * until the tier's leftover scan, hours later, and a later close would have created the object
     * the delete removed.
     */
    void abandonIfOpen() {
        // only OPEN -> CANCELLED: a close or sync its writer began meanwhile is not cancelled
        if (!abandoned && state.compareAndSet(State.OPEN, State.CANCELLED)) {
            abandonNow();
            LOG.debug("Stream to {} abandoned: its path was deleted", target);
        }
    }

    ObjectPath target() {
        return target;
    }

    /** See {@link S3TieredRuntime#keepOpenStagingFilesAlive()}: while writes or syncs may come. */
    void keepStagingFileAlive() {
        State now = state.get();
        if (now != State.OPEN && now != State.SYNCING) {
            return;
        }
        try {
            Files.setLastModifiedTime(staging, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis()));
        } catch (java.nio.file.NoSuchFileException closedMeanwhile) {
            // deleted by its close or abandon
        } catch (IOException e) {
            LOG.warn("Could not refresh the mtime of the staging file {} of {}: a scan of the local tier may take it"
                    + " for a crash's leftover after {} hours: {}", staging, target, LocalTier.LEFTOVER_HOURS, e.toString());
        }
    }

    /** Whether the SHA-256 is computed as the bytes stream (else, if needed, by reading the file at close). */
    boolean hashesWhileWriting() {
        return sha256 != null;
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

    /**
     * Writes the buffer to the staging file. When the volume is full, the tier's copies (a cache,
     * of every process sharing it) make room first, once per write: the tier's budget counts only
     * its own files, and RocksDB's may have filled the volume they share. A write the system
     * refused wrote nothing (a partial write returns its count), so the rest is written again.
     */
    private void writeBuffer() throws IOException {
        boolean evicted = false;
        while (buffer.hasRemaining()) {
            try {
                channel.write(buffer);
            } catch (java.nio.channels.ClosedChannelException e) {
                throw e;
            } catch (IOException e) {
                if (evicted || !runtime.tier().isVolumeFull(e)) {
                    throw e;
                }
                evicted = true;
                long freed;
                try {
                    freed = runtime.tier().evictForFullVolume(Math.max(FULL_VOLUME_EVICTION_BYTES, buffer.remaining()));
                } catch (IOException | RuntimeException evictionFailed) { // a scan's listing fails unchecked too
                    e.addSuppressed(evictionFailed);
                    throw e;
                }
                if (freed == 0) {
                    throw e; // no copy to evict: the volume is full of other files
                }
            }
        }
    }

    /** What a write that finds the volume full evicts at least: a little at a time would scan the tier on every buffer. */
    private static final long FULL_VOLUME_EVICTION_BYTES = 256L * 1024 * 1024;

    private void flushBuffer() throws IOException {
        if (stagingFailure != null) {
            throw stagingBroken();
        }
        buffer.flip();
        int from = buffer.position();
        int length = buffer.remaining();
        try {
            writeBuffer();
        } catch (java.nio.channels.ClosedByInterruptException e) {
            // the writing thread was interrupted (Flink cancelling the checkpoint): the channel is closed, not the disk broken
            stagingFailure = new java.io.InterruptedIOException("Writing " + target + " was interrupted (the checkpoint"
                    + " is being cancelled); its staging file " + staging + " was closed with it");
            stagingFailure.initCause(e);
            throw stagingFailure;
        } catch (IOException e) {
            stagingFailure = new IOException("Writing " + target + " failed: could not write its staging file " + staging
                    + " in the local tier (s3tiered.local.dir " + runtime.tier().root() + "): " + e.getMessage(), e);
            throw stagingFailure;
        }
        // only bytes that reached the file count, so a retried flush cannot count them twice
        crc.update(buffer.array(), buffer.arrayOffset() + from, length);
        if (sha256 != null) {
            long start = ThreadCpuClock.now();
            sha256.update(buffer.array(), buffer.arrayOffset() + from, length);
            hashNanos += ThreadCpuClock.now() - start;
        }
        buffer.clear();
    }

    private IOException stagingBroken() {
        String message = stagingFailure.getMessage() + " (an earlier write failed; the stream cannot go on)";
        if (stagingFailure instanceof java.io.InterruptedIOException) {
            java.io.InterruptedIOException e = new java.io.InterruptedIOException(message);
            e.initCause(stagingFailure);
            return e;
        }
        return new IOException(message, stagingFailure);
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
     * Makes every byte written so far durable in S3, as Flink's contract for {@code sync()} asks:
     * Flink's file merging syncs a physical file after each segment and keeps writing it, and a
     * checkpoint completes with the segments synced so far. S3 has no append, so the staging file
     * so far is uploaded as the whole object (a file synced n times is uploaded n times; Flink's own
     * storage syncs each checkpoint file once before closing it, the tiered storage's streams never
     * sync). Nothing new since the last sync: no request. A failed
     * sync leaves the stream open and the object as the last successful sync left it; the next
     * sync or {@code close()} uploads everything again.
     */
    @Override
    public void sync() throws IOException {
        runtime.streamSynced(target);
        long length;
        int checksum;
        synchronized (writeLock) {
            ensureOpen();
            flushBuffer();
            length = pos;
            checksum = (int) crc.getValue();
        }
        if (length == syncedLength) {
            return;
        }
        if (!state.compareAndSet(State.OPEN, State.SYNCING)) {
            throw new IOException("Stream to " + target + " is closed");
        }
        beginRewrite();
        syncUploadSent = true;
        try {
            upload(length, checksum);
        } catch (Throwable e) { // an Error too: the stream must never stay SYNCING
            if (state.compareAndSet(State.SYNCING, State.OPEN)) {
                if (e instanceof java.io.InterruptedIOException || e instanceof Error) {
                    throw e;
                }
                throw new IOException("sync() of " + target + " failed: the " + length + " bytes written so far are not"
                        + " durable (" + e.getMessage() + ")", e);
            }
            cancelledWhileSyncing(false);
            throw e instanceof IOException io ? io : new IOException("sync() of " + target + " cancelled", e);
        }
        // before the stream is OPEN again: an abandon() or a close from another thread must see what is durable
        long syncedBefore = syncedLength;
        syncedLength = length;
        runtime.tier().drop(target.bucket(), target.key()); // a copy of an earlier version is shorter
        if (!state.compareAndSet(State.SYNCING, State.OPEN)) {
            // S3 completed this sync after the cancel: its caller hears "cancelled", so nothing refers
            // to these bytes; only what an earlier sync reported durable stays (the object starts with it)
            syncedLength = syncedBefore;
            cancelledWhileSyncing(true);
            throw new CancelledException("sync() of " + target + " cancelled: the stream was closed from another thread"
                    + " during its upload; " + (syncedBefore < 0 ? "the object S3 had completed was deleted"
                            : "the object holds at least the " + syncedBefore + " bytes synced before"));
        }
        LOG.debug("{}: {} bytes synced to S3", target, length);
    }

    /**
     * A close() or abandon() from another thread ended the stream during a sync's upload. Bytes an
     * earlier sync made durable stay (a completed checkpoint may refer to them; Flink deletes what it
     * discards); without any, the object this sync may have created goes.
     */
    private void cancelledWhileSyncing(boolean syncCompleted) {
        synchronized (writeLock) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.debug("Closing the staging file {} of {}: {}", staging, target, e.toString());
            }
        }
        // an upload that did not complete may never have reached S3: over an object that may have been there before
        // (OVERWRITE), the delete would take that one, the previous durable version, instead of this stream's
        if (syncedLength < 0 && (syncCompleted || !mayReplace)) {
            removeCancelledObject();
        }
        endRewrite();
        try {
            Files.deleteIfExists(staging);
        } catch (IOException e) {
            LOG.warn("Could not delete the staging file {} of the cancelled stream to {}: {}", staging, target, e.toString());
        }
    }

    @Override
    public void close() throws IOException {
        if (state.compareAndSet(State.OPEN, State.UPLOADING)) {
            closeAndUpload();
        } else if (state.compareAndSet(State.UPLOADING, State.CANCELLED)) {
            LOG.info("Upload of {} cancelled: the stream was closed from another thread during its upload", target);
            cancellation.cancel("the stream to " + target + " was closed from another thread during its upload");
        } else if (state.compareAndSet(State.SYNCING, State.CANCELLED)) {
            LOG.info("Upload of {} cancelled: the stream was closed from another thread during a sync", target);
            cancellation.cancel("the stream to " + target + " was closed from another thread during a sync");
        }
        // CLOSED or CANCELLED: closing again does nothing
    }

    /**
     * Discards the stream without uploading: for a checkpoint stream that Flink cancels, whose
     * {@code close()} would upload the partial file only for Flink to delete it. While {@code OPEN}:
     * {@code OPEN} → {@code CANCELLED}, the staging file is deleted, every later write fails, and
     * the object is never created; returns true (false after a sync: the object holds what it made
     * durable, which stays; false too after a failed sync, which may have created the object).
     * While {@code UPLOADING} or {@code SYNCING}: the upload is cancelled
     * as by {@link #close()} from another thread; returns false, as S3 may have completed the
     * object before the cancellation reached it (the uploading thread deletes what a stream created
     * {@code NO_OVERWRITE} or a completed first sync may have created, but the caller must not count
     * on that). Closed or cancelled: does nothing; returns true when its close ended
     * without sending anything that could create the object (it failed before its upload, or it
     * referred to an upload ahead) or an earlier {@code abandon()} cancelled it, else false.
     */
    boolean abandon() {
        if (abandoned) {
            // still nothing to delete (a second caller must not send a DELETE for it), unless a sync sent some
            return syncedLength < 0 && !syncUploadSent;
        }
        if (!state.compareAndSet(State.OPEN, State.CANCELLED)) {
            try {
                close();
            } catch (IOException e) {
                LOG.debug("Cancelling the upload of {}: {}", target, e.toString()); // close() of UPLOADING does not throw
            }
            // A close that ended before sending anything (it failed or was cancelled while it hashed
            // or waited for an upload ahead, or it referred to one) never created the object: a
            // DELETE would only cost a request, with every retry under a throttling S3, on Flink's
            // thread. Read in this order: the close sets its flag before it ends.
            return closeEnded && !closingUploadSent && syncedLength < 0 && !syncUploadSent;
        }
        return abandonNow();
    }

    /** The rest of {@link #abandon()}, once it took the stream from OPEN to CANCELLED. */
    private boolean abandonNow() {
        abandoned = true;
        runtime.openStreams().ended(this);
        long written;
        synchronized (writeLock) { // a write running in another thread finishes first, the next one fails
            written = pos;
            try {
                channel.close();
            } catch (IOException e) {
                LOG.debug("Closing the abandoned staging file {} of {}: {}", staging, target, e.toString());
            }
        }
        try {
            Files.deleteIfExists(staging);
        } catch (IOException e) {
            // the local tier's scan removes a leftover staging file; the object was never created either way
            LOG.warn("Could not delete the staging file {} of the abandoned stream to {}: {}", staging, target, e.toString());
        }
        if (syncedLength >= 0 || syncUploadSent) {
            // a sync made part of it durable, which stays (a checkpoint may refer to it), or a failed sync
            // may have created it: the caller deletes it if it wants
            endRewrite();
            LOG.debug("Stream to {} abandoned at {} bytes; the object may hold what a sync sent ({} bytes reported"
                    + " durable)", target, written, Math.max(0, syncedLength));
            return false;
        }
        LOG.debug("Stream to {} abandoned at {} bytes: nothing uploaded", target, written);
        return true;
    }

    private void closeAndUpload() throws IOException {
        runtime.openStreams().ended(this); // uploading: a delete of its path no longer abandons it
        closeAndUpload(-1, null);
    }

    /**
     * Like {@link #close()}, but when a file with the same content (length and SHA-256) was
     * uploaded ahead of this checkpoint (see {@link PreUploads}) within the last
     * {@code reuseWindowNanos}, nothing is uploaded and the object at this stream's path is never
     * created: the caller must refer to the returned object instead. Otherwise the stream uploads
     * as {@link #close()} does and returns its own path.
     */
    ObjectPath closeDeduplicated(long reuseWindowNanos, ObjectPath preUploadDirectory) throws IOException {
        if (!state.compareAndSet(State.OPEN, State.UPLOADING)) {
            throw new IOException("Stream to " + target + " is closed");
        }
        runtime.openStreams().ended(this);
        return closeAndUpload(reuseWindowNanos, preUploadDirectory);
    }

    /**
     * With {@code reuseWindowNanos < 0}, never deduplicates; else only against pre-uploads in
     * {@code preUploadDirectory} (the job's, see {@link PreUploads}).
     */
    private ObjectPath closeAndUpload(long reuseWindowNanos, ObjectPath preUploadDirectory) throws IOException {
        long closeStart = System.nanoTime();
        long length;
        int checksum;
        try {
            synchronized (writeLock) { // a write still running in another thread finishes first
                flushBuffer();
                channel.close();
                length = pos;
                checksum = (int) crc.getValue();
            }
            boolean synced = syncedLength >= 0;
            if (synced) {
                reuseWindowNanos = -1; // the object exists at this path already: never refer to another
            }
            PreUploads preUploads = runtime.preUploads();
            PreUploads.ContentId content = null;
            // hashed while streaming (a directory with pre-uploads): claimed even when no entry is
            // left to take, as a pre-upload of these bytes may still be on its way
            if (reuseWindowNanos >= 0 && (sha256 != null || !preUploads.isEmpty())) {
                content = contentId(length, checksum);
                if (content == null) {
                    // read back, the staging file differs from what was written (its disk): never upload it
                    throw new IOException("Not uploading " + target + ": its staging file " + staging + " no longer holds"
                            + " the " + length + " bytes written to it (CRC32C " + Crc32c.toHex(checksum) + ")");
                }
                PreUploads.Entry reusable = reusePreUploaded(content, reuseWindowNanos, preUploadDirectory);
                if (reusable != null) {
                    ObjectPath reused = reusable.object;
                    if (!state.compareAndSet(State.UPLOADING, State.CLOSED)) {
                        // no checkpoint refers to it: it may be handed out, or withdrawn, again
                        giveBack(content, reusable);
                        throw new CancelledException("Upload of " + target + " cancelled: the stream was closed from"
                                + " another thread");
                    }
                    preUploads.referred(reusable);
                    runtime.store().statistics().deduplicatedUploads.increment();
                    runtime.store().statistics().deduplicatedBytes.add(length);
                    LOG.debug("{}: same content ({} bytes) as {}, uploaded ahead of the checkpoint; not uploaded again"
                            + " (closed in {} ms)", target, length, reused, (System.nanoTime() - closeStart) / 1_000_000);
                    return reused;
                }
            }
            // content != null: claimed for this upload (reusePreUploaded), taken back if it fails
            try {
                if (!synced || length != syncedLength) {
                    beginRewrite();
                    upload(length, checksum);
                }
            } catch (IOException | RuntimeException | Error e) {
                if (content != null) {
                    preUploads.releaseClaim(content);
                }
                throw e;
            }
            if (!state.compareAndSet(State.UPLOADING, State.CLOSED)) {
                // Cancelled after S3 completed the object: the canceller expects no object, unless a
                // sync made bytes of it durable, which stay
                if (!synced) {
                    cancelledObjectRemoved = true;
                    removeCancelledObject();
                }
                if (content != null) {
                    preUploads.releaseClaim(content);
                }
                throw new CancelledException("Upload of " + target + " cancelled: the stream was closed from another"
                        + " thread during its upload; " + (synced ? "the object keeps at least the bytes synced"
                                : "the object S3 had completed was deleted"));
            }
            if (content != null) {
                LOG.debug("{}: no pre-upload of its content ({} bytes) was found; uploaded by the checkpoint in {} ms",
                        target, length, (System.nanoTime() - closeStart) / 1_000_000);
            } else {
                LOG.debug("{}: {} bytes uploaded in {} ms", target, length, (System.nanoTime() - closeStart) / 1_000_000);
            }
            try {
                if (uploadInDoubt) {
                    // an earlier sync's upload may still land in S3 over this one: which version S3 ends with, only
                    // S3 can tell, so reads go there
                    runtime.tier().drop(target.bucket(), target.key());
                    LOG.debug("{}: an earlier upload of this stream may still complete in S3; no local-tier copy kept",
                            target);
                } else if (!runtime.tier().commitRewritten(target.bucket(), target.key(), staging, length, checksum,
                        rewriteToken)) {
                    LOG.debug("{}: another stream of this process wrote it meanwhile; no local-tier copy kept", target);
                }
            } catch (IOException | RuntimeException e) {
                // The object is in S3; only the local copy is missing.
                LOG.warn("Uploaded {} but could not keep its local-tier copy: {}", target, e.toString());
            }
            return target;
        } catch (IOException | RuntimeException e) {
            state.compareAndSet(State.UPLOADING, State.CLOSED);
            // the upload may have reached S3 all the same (its answer lost): a copy of an earlier
            // version of the object must not go on being served on this host
            runtime.tier().drop(target.bucket(), target.key());
            if (state.get() == State.CANCELLED && creatingRequestSent && syncedLength < 0 && !cancelledObjectRemoved
                    && !mayReplace) {
                // cancelled while S3's answer was awaited: S3 may have completed the request it had
                // whole, after the canceller's own delete of the path (Flink's checkpoint streams,
                // created NO_OVERWRITE, delete it as soon as their close returns); nothing refers to
                // the object, so it goes, as after a cancelled sync. Not over an object that may
                // have been there before (OVERWRITE): the delete would take that one if S3 never
                // got this one. In the background: an S3 that did not answer the upload may not
                // answer the delete either, and the cancelled close must end now. A request S3
                // completes after this delete still leaves its object (the window narrows, no more)
                removeCancelledObjectInBackground();
            }
            throw e;
        } finally {
            // never in place of the outcome: an object S3 holds must not be reported failed (its
            // caller would delete it) because the tier's disk refused a cleanup (remounted
            // read-only after an error); a leftover staging file goes with the tier's scan
            try {
                if (channel.isOpen()) {
                    channel.close();
                }
            } catch (IOException e) {
                LOG.debug("Closing the staging file {} of {}: {}", staging, target, e.toString());
            }
            try {
                Files.deleteIfExists(staging);
            } catch (IOException e) {
                LOG.warn("Could not remove the staging file {} of {}: {}", staging, target, e.toString());
            }
            endRewrite(); // after the commit: readers kept no copy of an older version meanwhile
            closeEnded = true;
        }
    }

    /**
     * Length and SHA-256 of what was written: from the hash computed while writing, or else by
     * reading the staging file again (a stream opened outside a directory with pre-uploads, such
     * as one opened before its directory's first pre-upload).
     * Null when the file no longer holds what was written.
     */
    private PreUploads.ContentId contentId(long length, int checksum) throws IOException {
        if (sha256 != null) {
            runtime.store().statistics().contentHashNanos.add(hashNanos);
            return new PreUploads.ContentId(length, HexFormat.of().formatHex(sha256.digest()));
        }
        long hashStart = ThreadCpuClock.now();
        ContentHash hash = ContentHash.of(staging);
        runtime.store().statistics().contentHashNanos.add(ThreadCpuClock.now() - hashStart);
        return hash.length() == length && hash.crc32c() == checksum ? hash.id() : null;
    }

    /**
     * The pre-upload of this content into {@code directory}, once durable; null when there is
     * none, it began longer than the window ago, its upload failed, or it stalled. The content is
     * claimed for this stream either way (see {@link PreUploads}). Waits for a pre-upload still
     * running while it shows life, slow or throttled as it may be: it started earlier, and an
     * upload of our own would share its bandwidth. Not for one stalled on a connection S3 stopped
     * answering, or one an attempt of which was aborted as stalled (a body the server no longer
     * reads is aborted after the socket timeout and retried, each retry on a new connection that
     * may stall again): this checkpoint, and each next one taking it again, would wait until
     * Flink's checkpoint timeout.
     */
    private PreUploads.Entry reusePreUploaded(PreUploads.ContentId content, long reuseWindowNanos, ObjectPath directory)
            throws IOException {
        PreUploads.Entry entry = runtime.preUploads().takeForReuseOrClaim(content, directory);
        if (entry == null) {
            return null;
        }
        long stallNanos = stallNanos(runtime.config());
        boolean durable;
        try {
            while (true) {
                cancellation.check("Upload of " + target);
                if (!entry.durable.isDone() && (System.nanoTime() - entry.startedNanos > reuseWindowNanos
                        || entry.upload.nanosSinceActivity() > stallNanos || entry.upload.hasStalled())) {
                    // past the window it would not be used anyway
                    LOG.info("{}: the upload ahead of the same {} bytes to {} has run for {} ms, the last {} ms without"
                                    + " progress{}; the checkpoint uploads them itself", target, content.length(), entry.object,
                            (System.nanoTime() - entry.startedNanos) / 1_000_000, entry.upload.nanosSinceActivity() / 1_000_000,
                            entry.upload.hasStalled() ? ", and an attempt of it was aborted as stalled" : "");
                    notUsed(entry);
                    return null;
                }
                try {
                    durable = entry.durable.get(100, java.util.concurrent.TimeUnit.MILLISECONDS);
                    break;
                } catch (java.util.concurrent.TimeoutException stillRunning) {
                    // check for cancellation and progress, then wait on
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            giveBack(content, entry);
            throw new java.io.InterruptedIOException("Interrupted while waiting for the pre-upload of " + entry.object);
        } catch (CancelledException e) {
            giveBack(content, entry);
            throw e;
        } catch (java.util.concurrent.ExecutionException e) {
            notUsed(entry); // failed: nothing to delete
            return null;
        }
        if (!durable || System.nanoTime() - entry.startedNanos > reuseWindowNanos) {
            notUsed(entry);
            return null;
        }
        return entry;
    }

    /**
     * How long an upload may show no life before it counts as stalled: the longest silence of a
     * live one is the wait for an answer (at most the socket timeout) or a backoff (at most the
     * longest retry delay), plus a few seconds.
     */
    static long stallNanos(S3TieredConfig config) {
        java.time.Duration longestDelay = config.retryPolicy().maxDelay().compareTo(config.retryPolicy().throttleMaxDelay()) > 0
                ? config.retryPolicy().maxDelay() : config.retryPolicy().throttleMaxDelay();
        return config.client().socketTimeout().plus(longestDelay).plusSeconds(5).toNanos();
    }

    /**
     * The stream does not refer to the entry it took: once its upload settled, the object is
     * withdrawable as an expired one, or deleted when its RocksDB instance withdrew it meanwhile.
     * Until then it stays held, so that a withdrawal arriving before it settles is not lost.
     */
    private void notUsed(PreUploads.Entry entry) {
        // in memory, at once when settled (a withdrawal right after finds it withdrawable), else on
        // the thread that settles it; only the deletion goes to the pool
        entry.durable.whenComplete((durable, failure) -> {
            if (runtime.preUploads().takenButNotUsed(entry) && Boolean.TRUE.equals(durable)) {
                poolOrInline().execute(() -> deleteIfDurable(entry, durable));
            }
        });
    }

    private void giveBack(PreUploads.ContentId content, PreUploads.Entry entry) {
        if (runtime.preUploads().giveBack(content, entry)) {
            // on the pool: not on the thread that ends the upload, nor on the cancelled checkpoint's
            entry.durable.whenCompleteAsync((durable, failure) -> deleteIfDurable(entry, durable), poolOrInline());
        }
    }

    /**
     * The transfer pool, or the calling thread once the pool is shut down: a rejection would
     * otherwise be thrown into the thread completing the upload.
     */
    private java.util.concurrent.Executor poolOrInline() {
        return task -> {
            try {
                runtime.transferPool().execute(task);
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                task.run();
            }
        };
    }

    /**
     * Deletes a pre-uploaded object that its RocksDB instance withdrew while this stream held it
     * and that no checkpoint refers to, once its upload is durable (it may still be running), on
     * the thread that ends it. A failed deletion leaves it to the orphan removal.
     */
    private void deleteIfDurable(PreUploads.Entry entry, Boolean durable) {
        if (!Boolean.TRUE.equals(durable)) {
            return;
        }
        try {
            EvenIfInterrupted.run(() -> {
                runtime.store().deleteObject(entry.object.bucket(), entry.object.key());
                return null;
            });
            runtime.tier().drop(entry.object.bucket(), entry.object.key()); // its upload kept a copy
            LOG.debug("Deleted {}, uploaded ahead and withdrawn while a checkpoint stream held it", entry.object);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not delete {}, uploaded ahead of a checkpoint that did not use it after its RocksDB instance"
                    + " closed; the storage's orphan removal takes it: {}", entry.object, e.toString());
        }
    }

    /** Once per stream, before its first upload (see {@code LocalTier#beginRewrite}). */
    private void beginRewrite() {
        if (!rewriteBegun) {
            rewriteBegun = true;
            rewriteToken = runtime.tier().beginRewrite(target.bucket(), target.key());
        }
    }

    private void endRewrite() {
        if (rewriteBegun) {
            rewriteBegun = false;
            long inDoubtUntil = 0;
            if (uploadInDoubt) {
                inDoubtUntil = System.nanoTime() + inDoubtNanos(runtime.config());
                inDoubtUntil = inDoubtUntil == 0 ? 1 : inDoubtUntil; // 0 means none
            }
            runtime.tier().endRewrite(target.bucket(), target.key(), inDoubtUntil);
        }
    }

    /**
     * How long after an upload failed with its request out S3 may still complete it: the longest an
     * attempt waits for its answer, then the longest silence of a live upload.
     */
    static long inDoubtNanos(S3TieredConfig config) {
        return config.client().requestTimeout().toNanos() + stallNanos(config);
    }

    private void removeCancelledObjectInBackground() {
        try {
            runtime.transferPool().execute(this::removeCancelledObject);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            LOG.warn("Could not delete {}, which S3 may have completed after its upload was cancelled: the file system"
                    + " is closing", target);
        }
    }

    private void removeCancelledObject() {
        try {
            EvenIfInterrupted.run(() -> {
                runtime.store().deleteObject(target.bucket(), target.key());
                return null;
            });
        } catch (IOException e) {
            LOG.warn("Could not delete {}, uploaded while its stream was cancelled: {}", target, e.toString());
        } finally {
            runtime.tier().drop(target.bucket(), target.key()); // S3 changed: no older copy stays
            runtime.lateUploads().deleted(target.bucket(), target.key(), null); // S3 may complete it after this delete
        }
    }

    private void upload(long length, int checksum) throws IOException {
        closingUploadSent = true;
        // after a sync, S3 holds a version a completed checkpoint may refer to (file merging)
        boolean[] sent = {false};
        try {
            FileUpload.upload(runtime, cancellation, target, staging, length, checksum, syncedLength >= 0, () -> {
                creatingRequestSent = true;
                sent[0] = true;
            });
        } catch (IOException | RuntimeException | Error e) {
            if (sent[0]) {
                uploadInDoubt = true;
                // before the failure is reported: its caller may delete the path at once
                runtime.lateUploads().failed(target.bucket(), target.key(), length, checksum,
                        System.nanoTime() + inDoubtNanos(runtime.config()));
            }
            throw e;
        }
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
