package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.preupload.PreUploadSettings;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStreamFactory;

import java.io.IOException;
import java.util.Optional;

/**
 * Flink's file-system stream factory, with streams of shared state (RocksDB's files) that refer to
 * an object uploaded ahead of the checkpoint when the content is the same
 * ({@link DeduplicatingStateOutputStream}). Exclusive state goes to Flink's streams unchanged.
 */
final class DeduplicatingStreamFactory extends ForwardingCheckpointStreamFactory {

    private final Path sharedDirectory;
    private final FileSystem fs;
    private final S3TieredBridge bridge;
    private final int fileStateThreshold;
    private final int writeBufferSize;
    private final long reuseWindowMillis;

    private DeduplicatingStreamFactory(FsCheckpointStreamFactory delegate, Path sharedDirectory, FileSystem fs,
            S3TieredBridge bridge, int fileStateThreshold, int writeBufferSize, long reuseWindowMillis) {
        super(delegate);
        this.sharedDirectory = sharedDirectory;
        this.fs = fs;
        this.bridge = bridge;
        this.fileStateThreshold = fileStateThreshold;
        this.writeBufferSize = writeBufferSize;
        this.reuseWindowMillis = reuseWindowMillis;
    }

    /**
     * Wraps Flink's factory for a checkpoint in the job's directory ({@code shared} is its {@code
     * shared/}, where Flink's factory writes shared state too) when pre-upload is on and that
     * directory is on {@code s3tiered://}; otherwise returns it unchanged.
     */
    static CheckpointStreamFactory wrap(CheckpointStreamFactory factory, Path shared, PreUploadSettings settings,
            int fileStateThreshold, int writeBufferSize) throws IOException {
        if (settings == null || !settings.enabled() || !(factory instanceof FsCheckpointStreamFactory fsFactory)) {
            return factory;
        }
        // Unguarded: the streams are written and closed by the snapshot's upload threads, not the task thread.
        FileSystem fs = FileSystem.getUnguardedFileSystem(shared.toUri());
        Optional<S3TieredBridge> bridge = S3TieredBridge.of(fs);
        if (bridge.isEmpty()) {
            return factory;
        }
        return new DeduplicatingStreamFactory(fsFactory, shared, fs, bridge.get(), fileStateThreshold, writeBufferSize,
                settings.reuseWindowMillis());
    }

    @Override
    public CheckpointStateOutputStream createCheckpointStateOutputStream(CheckpointedStateScope scope) throws IOException {
        if (scope != CheckpointedStateScope.SHARED) {
            return super.createCheckpointStateOutputStream(scope);
        }
        return new DeduplicatingStateOutputStream(sharedDirectory, fs, bridge, fileStateThreshold, writeBufferSize,
                reuseWindowMillis);
    }
}
