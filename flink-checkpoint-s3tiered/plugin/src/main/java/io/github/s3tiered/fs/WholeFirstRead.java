package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.tier.LocalTier;

import org.apache.flink.core.fs.FSDataInputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.concurrent.atomic.LongAdder;

/**
 * A read of a file small enough to be read whole first: downloaded into a staging file of the
 * local tier, checked against the CRC32C recorded at upload, then served from that file (and kept
 * as the tier's copy where reads are cached). A streaming read checks only a read from the first
 * byte to the last, at its end, after the reader has used every byte: a heap backend's restore
 * seeks to its key groups and was never checked, and bytes altered on the way failed the restore
 * instead of being downloaded again. Here every byte a reader gets is checked, wherever it seeks,
 * and a download whose bytes arrived altered is repeated, as often as a read reopens.
 *
 * <p>The download runs at the stream's first read or seek ({@link WholeFirstInputStream}), not in
 * {@code open()}: Flink registers a stream for cancellation only once it has it, and closes it from
 * another thread to cancel a restore; the close then ends the download.
 */
final class WholeFirstRead {

    private static final Logger LOG = LoggerFactory.getLogger(WholeFirstRead.class);
    private static final int BUFFER_BYTES = 256 * 1024;

    /** Bytes served from a file downloaded just now: not the local tier's, and counted as downloaded already. */
    private static final LongAdder NOT_COUNTED = new LongAdder();

    private WholeFirstRead() {}

    /**
     * Downloads and checks the file; its stream, or empty when it cannot be staged locally (a full
     * or broken tier disk: the caller streams instead). S3's failures (a missing object, a store
     * that does not answer, a corruption every download shows) are thrown.
     *
     * @param keepCopy whether the download becomes the tier's copy
     * @param ticket the tier's read ticket, taken before S3 was asked what the object is
     * @param closing cancelled by the reader's close, from any thread: closes the download's S3
     *     stream, so that its read fails at once
     */
    static Optional<FSDataInputStream> download(S3TieredRuntime runtime, ObjectPath op, ObjectInfo info, boolean keepCopy,
            long ticket, Cancellation closing) throws IOException {
        LocalTier tier = runtime.tier();
        Path staged;
        try {
            staged = tier.newStagingFile();
        } catch (RuntimeException e) {
            LOG.warn("No staging file in the local tier ({}) to check {} before serving it: {}; streaming it", tier.root(),
                    op, e.toString());
            return Optional.empty();
        }
        FileChannel channel = null;
        try {
            for (int repeated = 0; ; repeated++) {
                try {
                    downloadOnce(runtime, op, info, staged, closing);
                    break;
                } catch (CorruptDownloadException e) {
                    if (!CorruptDownloadException.repeat(e, repeated, runtime.config().readReopenAttempts(), runtime.store())) {
                        throw e;
                    }
                }
            }
            // The open channel keeps the bytes readable whatever happens to the path next.
            try {
                channel = FileChannel.open(staged, StandardOpenOption.READ);
            } catch (IOException e) {
                throw new LocalWriteFailure(e); // out of file handles, or the tier wiped meanwhile
            }
        } catch (LocalWriteFailure e) {
            LOG.warn("Could not stage {} in the local tier ({}) to check it before serving it: {}; streaming it", op,
                    tier.root(), e.getCause().toString());
            return Optional.empty();
        } finally {
            if (channel == null) {
                deleteQuietly(staged, op);
            }
        }
        keep(tier, op, info, staged, keepCopy, ticket);
        return Optional.of(new WindowedInputStream(new LocalFileInputStream(channel, info.size(), NOT_COUNTED,
                op + " (checked before it was served)"), info.size(), op.toString()));
    }

    private static void downloadOnce(S3TieredRuntime runtime, ObjectPath op, ObjectInfo info, Path staged,
            Cancellation closing) throws IOException {
        closing.check(op); // closed before it began: no request
        byte[] buffer = new byte[(int) Math.min(BUFFER_BYTES, Math.max(1, info.size()))];
        OutputStream out;
        try {
            out = new FileOutputStream(staged.toFile());
        } catch (IOException e) {
            throw new LocalWriteFailure(e); // a read-only or vanished tier directory
        }
        try (S3InputStream in = S3InputStream.ofState(runtime.store(), op.bucket(), op.key(), info,
                        runtime.config().readReopenAttempts(), null, 0);
                Cancellation.Registration onClose = closing.onCancel(in::close)) {
            int n;
            while ((n = in.read(buffer, 0, buffer.length)) != -1) {
                // a socket read ignores an interrupt; between two reads, Flink's cancellation is heard
                if (Thread.currentThread().isInterrupted()) {
                    throw new InterruptedIOException("Downloading " + op + " to check it before serving it was interrupted");
                }
                try {
                    out.write(buffer, 0, n);
                } catch (IOException e) {
                    throw new LocalWriteFailure(e);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the download's own failure (a corruption, a close, S3) is what the caller must see
            try {
                out.close();
            } catch (IOException closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw e;
        }
        try {
            out.close();
        } catch (IOException e) {
            throw new LocalWriteFailure(e);
        }
    }

    /** Keeps the checked file as the tier's copy, or removes its path (the reader's channel stays valid). */
    private static void keep(LocalTier tier, ObjectPath op, ObjectInfo info, Path staged, boolean keepCopy, long ticket) {
        boolean kept = false;
        if (keepCopy) {
            try {
                kept = tier.commitRead(op.bucket(), op.key(), staged, info.size(), info.crc32c(), ticket);
            } catch (IOException | RuntimeException e) {
                LOG.warn("Read {} but could not keep its local-tier copy: {}", op, e.toString());
            }
        }
        if (!kept) {
            deleteQuietly(staged, op);
        }
    }

    /** A staging file left behind is removed by the tier's scan once old; never fail a read for it. */
    private static void deleteQuietly(Path staged, ObjectPath op) {
        try {
            Files.deleteIfExists(staged);
        } catch (IOException e) {
            LOG.warn("Could not remove the staging file {} of {}: {}", staged, op, e.toString());
        }
    }

    /** Staging the file failed: the local disk's (or the process's) fault, not S3's. */
    private static final class LocalWriteFailure extends IOException {
        private static final long serialVersionUID = 1L;

        LocalWriteFailure(IOException cause) {
            super(cause);
        }
    }
}
