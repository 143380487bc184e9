package io.github.s3tiered.checkpoint;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;

/**
 * The {@code _metadata} stream of a checkpoint on {@code s3tiered://}: Flink's own
 * ({@code FsCheckpointMetadataOutputStream} over a plain output stream, as Flink uses for a file
 * system without a recoverable writer, which s3tiered is) less the {@code exists()} Flink asks
 * before it creates the file. On S3 that call is a HEAD and a listing, a round trip on the path
 * from the last task's acknowledgement to the completed checkpoint, and it checks nothing that
 * s3tiered's {@code create(NO_OVERWRITE)} does not check itself with its HEAD: that a file is
 * there. Everything else is Flink's: the same file, the same handle and external pointer, the
 * same deletion of the path after a failed close; a stream closed without being finalized is
 * abandoned (nothing uploaded) instead of Flink's upload-then-delete. Where the check was made by
 * a HEAD when the checkpoint started ({@link MetadataPrecheck}), the file is created without a
 * second one.
 *
 * <p>Only for {@code s3tiered://} ({@link #appliesTo}): on a file system with a recoverable writer
 * ({@code file://}), Flink's stream commits the file by rename, which this one would not.
 */
final class MetadataFileOutputStream extends ForwardingMetadataOutputStream {

    private static final Logger LOG = LoggerFactory.getLogger(MetadataFileOutputStream.class);

    private final FileSystem fileSystem;
    private final Path metadataFile;
    private final Path checkpointDirectory;

    /** Set once by the first close or finalize; both may come from different threads (Flink's canceller). */
    private boolean closed;

    /** Whether a checkpoint location's metadata is written with this stream rather than Flink's. */
    static boolean appliesTo(CheckpointStorageLocation location) {
        return location instanceof FsCheckpointStorageLocation fs
                && "s3tiered".equals(fs.getMetadataFilePath().toUri().getScheme());
    }

    /**
     * The stream for the {@code _metadata} of the checkpoint at {@code location}: this one on
     * s3tiered, Flink's own elsewhere. With the answer of the {@code precheck} made when the
     * checkpoint started (may be null), the file is created without a HEAD of its own when it found
     * nothing, and not at all when it found a file.
     */
    static CheckpointMetadataOutputStream openFor(CheckpointStorageLocation location, MetadataPrecheck precheck)
            throws IOException {
        if (!appliesTo(location)) {
            return location.createMetadataOutputStream();
        }
        FsCheckpointStorageLocation fs = (FsCheckpointStorageLocation) location;
        Path file = fs.getMetadataFilePath();
        Boolean present = precheck != null && precheck.metadataFile().equals(file) ? precheck.answer(MetadataPrecheck.WAIT)
                : null;
        if (Boolean.TRUE.equals(present)) {
            throw new FileAlreadyExistsException(file.toString(), null,
                    "was there when the checkpoint started, and the write mode is NO_OVERWRITE");
        }
        return new MetadataFileOutputStream(file.getFileSystem(), file, fs.getCheckpointDirectory(),
                Boolean.FALSE.equals(present) ? WriteMode.OVERWRITE : WriteMode.NO_OVERWRITE);
    }

    /**
     * @throws java.nio.file.FileAlreadyExistsException (or the file system's own
     *     {@link IOException}) when a file is already at {@code metadataFile}: this stream deletes
     *     nothing then (Flink's disposal of the failed checkpoint's directory may, as with its own stream)
     */
    MetadataFileOutputStream(FileSystem fileSystem, Path metadataFile, Path checkpointDirectory) throws IOException {
        this(fileSystem, metadataFile, checkpointDirectory, WriteMode.NO_OVERWRITE);
    }

    /**
     * {@code OVERWRITE} only when the check was already made ({@link MetadataPrecheck}): it saves
     * the HEAD of {@code NO_OVERWRITE}.
     */
    MetadataFileOutputStream(FileSystem fileSystem, Path metadataFile, Path checkpointDirectory, WriteMode mode)
            throws IOException {
        // NO_OVERWRITE is the check Flink's exists() made: a conflict fails here, before any byte
        // is written and before this stream could delete the file that is there
        super(fileSystem.create(metadataFile, mode));
        this.fileSystem = fileSystem;
        this.metadataFile = metadataFile;
        this.checkpointDirectory = checkpointDirectory;
    }

    /**
     * Discards the file. Flink's stream closes it, which on S3 uploads the partial bytes to
     * {@code _metadata}, then deletes the path: a JobManager lost in between, or a failed delete,
     * leaves a truncated {@code _metadata} where a completed checkpoint's would be. Here the file
     * system's stream is abandoned (nothing uploaded); only where it cannot be (a plugin jar without
     * the operation) is it closed and deleted as Flink does.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            java.util.Optional<io.github.s3tiered.bridge.S3TieredBridge> bridge =
                    io.github.s3tiered.bridge.S3TieredBridge.of(fileSystem);
            if (bridge.isPresent() && bridge.get().abandon(out())) {
                return;
            }
            out().close();
            fileSystem.delete(metadataFile, false);
        } catch (Throwable t) {
            LOG.warn("Could not close the state stream for {}.", metadataFile, t);
        }
    }

    @Override
    public synchronized FsCompletedCheckpointStorageLocation closeAndFinalizeCheckpoint() throws IOException {
        if (closed) {
            throw new IOException("Stream has already been closed and discarded.");
        }
        try {
            long size = 0;
            try {
                size = out().getPos();
            } catch (Exception ignored) {
                // best effort, as Flink's: the handle's size is informational
            }
            out().close();
            FileStateHandle metadataHandle = new FileStateHandle(metadataFile, size);
            return new FsCompletedCheckpointStorageLocation(fileSystem, checkpointDirectory, metadataHandle,
                    metadataFile.getParent().toString());
        } catch (Exception e) {
            try {
                fileSystem.delete(metadataFile, false);
            } catch (Exception deleteException) {
                LOG.warn("Could not delete the checkpoint stream file {}.", metadataFile, deleteException);
            }
            throw new IOException("Could not flush and close the file system output stream to " + metadataFile
                    + " in order to obtain the stream state handle", e);
        } finally {
            closed = true;
        }
    }
}
