package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.preupload.PreUploadSettings;

import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

import java.io.IOException;
import java.util.Optional;

/**
 * Flink's file-system stream factory with {@link TieredStateOutputStream}s in place of Flink's
 * streams, for a location on {@code s3tiered://}: files go where Flink's would and get the same
 * handles, but a discarded stream uploads nothing, and (with pre-upload on, for a checkpoint's
 * shared state) a file whose content was uploaded ahead of the checkpoint is not uploaded again.
 */
final class TieredStreamFactory extends ForwardingCheckpointStreamFactory {

    private final FsCheckpointStorageLocation flinkLocation;
    private final FileSystem fs;
    private final S3TieredBridge bridge;
    /** The job's shared/ when shared state is deduplicated against pre-uploads; else null. */
    private final Path deduplicatedSharedDirectory;
    /** Where the job's uploads ahead of checkpoints are (its shared/ without the entropy marker). */
    private final Path preUploadDirectory;
    private final long reuseWindowMillis;
    private final int fileStateThreshold;
    private final int writeBufferSize;

    private TieredStreamFactory(FsCheckpointStorageLocation flinkLocation, FileSystem fs, S3TieredBridge bridge,
            Path deduplicatedSharedDirectory, Path preUploadDirectory, long reuseWindowMillis, int fileStateThreshold,
            int writeBufferSize) {
        super(flinkLocation);
        this.preUploadDirectory = preUploadDirectory;
        this.flinkLocation = flinkLocation;
        this.fs = fs;
        this.bridge = bridge;
        this.deduplicatedSharedDirectory = deduplicatedSharedDirectory;
        this.reuseWindowMillis = reuseWindowMillis;
        this.fileStateThreshold = fileStateThreshold;
        this.writeBufferSize = writeBufferSize;
    }

    /**
     * Wraps Flink's factory when it is the plain file-system location (not file merging's, whose
     * streams write segments of shared files) on {@code s3tiered://}; otherwise returns it
     * unchanged. With {@code jobShared} (the job's {@code shared/}, for a checkpoint's default
     * location) and pre-upload on, shared state is deduplicated against pre-uploaded files.
     */
    static CheckpointStreamFactory wrap(CheckpointStreamFactory factory, Path jobShared, PreUploadSettings preUpload,
            int fileStateThreshold, int writeBufferSize) throws IOException {
        return wrap(factory, jobShared, jobShared, preUpload, fileStateThreshold, writeBufferSize);
    }

    /** {@code preUploadDirectory}: where the job's uploads ahead are, the only ones its streams may refer to. */
    static CheckpointStreamFactory wrap(CheckpointStreamFactory factory, Path jobShared, Path preUploadDirectory,
            PreUploadSettings preUpload, int fileStateThreshold, int writeBufferSize) throws IOException {
        if (factory.getClass() != FsCheckpointStorageLocation.class) {
            return factory;
        }
        FsCheckpointStorageLocation location = (FsCheckpointStorageLocation) factory;
        // Unguarded: the streams are written and closed by the snapshot's upload threads, not the task thread.
        FileSystem fs = FileSystem.getUnguardedFileSystem(location.getCheckpointDirectory().toUri());
        Optional<S3TieredBridge> bridge = S3TieredBridge.of(fs);
        if (bridge.isEmpty()) {
            return factory;
        }
        boolean deduplicate = jobShared != null && preUpload != null && preUpload.enabled();
        return new TieredStreamFactory(location, fs, bridge.get(), deduplicate ? jobShared : null, preUploadDirectory,
                deduplicate ? preUpload.reuseWindowMillis() : -1, fileStateThreshold, writeBufferSize);
    }

    @Override
    public CheckpointStateOutputStream createCheckpointStateOutputStream(CheckpointedStateScope scope) throws IOException {
        // where Flink's factory writes (its getTargetPath, private in Flink 1.20)
        Path target = scope == CheckpointedStateScope.EXCLUSIVE
                ? flinkLocation.getCheckpointDirectory()
                : flinkLocation.getSharedStateDirectory();
        // as Flink's factory: shared state, and any state where entropy is injected, gets absolute handles
        boolean relativeHandles = scope == CheckpointedStateScope.EXCLUSIVE && !EntropyInjector.isEntropyInjecting(fs, target);
        if (scope == CheckpointedStateScope.SHARED && deduplicatedSharedDirectory != null) {
            // the job's shared/, where the pre-uploads are (Flink's target for a checkpoint's shared state too)
            return new TieredStateOutputStream(deduplicatedSharedDirectory, fs, bridge, fileStateThreshold, writeBufferSize,
                    reuseWindowMillis, preUploadDirectory, false);
        }
        return new TieredStateOutputStream(target, fs, bridge, fileStateThreshold, writeBufferSize, -1, relativeHandles);
    }
}
