package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.checkpoint.filemerging.FileMergingSnapshotManager;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStateToolset;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointStorageWorkerView;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;

import java.io.IOException;

/**
 * Flink's file-system checkpoint storage access with the recovery guard in front of {@link
 * #resolveCheckpoint}: the JobManager resolves {@code execution.state-recovery.path} through this
 * view before any task is deployed, so a refusal fails the submission.
 */
final class GuardedCheckpointStorageAccess implements CheckpointStorageAccess {

    private final CheckpointStorageAccess delegate;
    private final RecoveryGuard guard;

    GuardedCheckpointStorageAccess(CheckpointStorageAccess delegate, RecoveryGuard guard) {
        this.delegate = delegate;
        this.guard = guard;
    }

    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String pointer) throws IOException {
        return delegate.resolveCheckpoint(guard.resolve(pointer));
    }

    @Override
    public boolean supportsHighlyAvailableStorage() {
        return delegate.supportsHighlyAvailableStorage();
    }

    @Override
    public boolean hasDefaultSavepointLocation() {
        return delegate.hasDefaultSavepointLocation();
    }

    @Override
    public void initializeBaseLocationsForCheckpoint() throws IOException {
        delegate.initializeBaseLocationsForCheckpoint();
    }

    @Override
    public CheckpointStorageLocation initializeLocationForCheckpoint(long checkpointId) throws IOException {
        return delegate.initializeLocationForCheckpoint(checkpointId);
    }

    @Override
    public CheckpointStorageLocation initializeLocationForSavepoint(long checkpointId, String externalLocationPointer)
            throws IOException {
        return delegate.initializeLocationForSavepoint(checkpointId, externalLocationPointer);
    }

    @Override
    public CheckpointStreamFactory resolveCheckpointStorageLocation(long checkpointId, CheckpointStorageLocationReference reference)
            throws IOException {
        return delegate.resolveCheckpointStorageLocation(checkpointId, reference);
    }

    @Override
    public CheckpointStateOutputStream createTaskOwnedStateStream() throws IOException {
        return delegate.createTaskOwnedStateStream();
    }

    @Override
    public CheckpointStateToolset createTaskOwnedCheckpointStateToolset() {
        return delegate.createTaskOwnedCheckpointStateToolset();
    }

    @Override
    public CheckpointStorageWorkerView toFileMergingStorage(FileMergingSnapshotManager mergingSnapshotManager, Environment environment)
            throws IOException {
        return delegate.toFileMergingStorage(mergingSnapshotManager, environment);
    }
}
