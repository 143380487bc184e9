package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.filemerging.FileMergingSnapshotManager;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FsMergingCheckpointStorageAccess;
import org.apache.flink.runtime.state.filesystem.FsMergingCheckpointStorageLocation;

import java.io.IOException;

/**
 * A task's checkpoint storage with Flink's file merging on: Flink's own, with the verification
 * status taken out of the location reference (as {@link TieredCheckpointStorageAccess#resolve}
 * does without file merging) and reuse of objects found missing from S3 refused.
 *
 * <p>It must stay Flink's classes, not wrap them: the task casts what {@code toFileMergingStorage}
 * returns to a {@code CheckpointStorageAccess} and closes it only as an {@link
 * FsMergingCheckpointStorageAccess}, and Flink's operator-state snapshot and its savepoint
 * fallback recognise file merging by an {@link FsMergingCheckpointStorageLocation}.
 */
final class TieredMergingStorageAccess extends FsMergingCheckpointStorageAccess {

    private final Path jobDir;
    private final FileMergingSnapshotManager.SubtaskKey subtaskKey;
    private final FileMergingSnapshotManager manager;

    TieredMergingStorageAccess(Path jobDir, Path defaultSavepointDirectory, int fileSizeThreshold, int writeBufferSize,
            FileMergingSnapshotManager manager, Environment environment) throws IOException {
        super(jobDir, defaultSavepointDirectory, environment.getJobID(), fileSizeThreshold, writeBufferSize, manager,
                environment);
        this.jobDir = jobDir;
        this.subtaskKey = FileMergingSnapshotManager.SubtaskKey.of(environment);
        this.manager = manager;
    }

    @Override
    public CheckpointStreamFactory resolveCheckpointStorageLocation(long checkpointId, CheckpointStorageLocationReference reference)
            throws IOException {
        LocationReferences.Decoded decoded = LocationReferences.decode(reference);
        CheckpointStorageLocationReference original = decoded.original();
        if (decoded.status() == null) {
            return super.resolveCheckpointStorageLocation(checkpointId, original);
        }
        TaskManagerVerificationStatus.received(PathKey.of(jobDir), decoded.status());
        if (decoded.status().missing().isEmpty() || !original.isDefaultReference()) {
            return super.resolveCheckpointStorageLocation(checkpointId, original);
        }
        MissingObjects missing = new MissingObjects(checkpointId, decoded.status().missing());
        // as Flink's own default location, but asked first whether an earlier file may be reused
        return new FsMergingCheckpointStorageLocation(subtaskKey, fileSystem,
                createCheckpointDirectory(checkpointsDirectory, checkpointId), sharedStateDirectory, taskOwnedStateDirectory,
                original, fileSizeThreshold, writeBufferSize, manager, checkpointId) {
            @Override
            public boolean couldReuseStateHandle(StreamStateHandle stateHandle) {
                return !missing.vetoes(stateHandle) && super.couldReuseStateHandle(stateHandle);
            }
        };
    }
}
