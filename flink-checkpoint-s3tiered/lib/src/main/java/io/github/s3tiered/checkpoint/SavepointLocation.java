package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.IOException;

/**
 * A savepoint's location on the JobManager, as Flink's storage made it, except that the directory
 * of a failed savepoint is deleted in the background ({@link FailedCheckpointDisposal}): Flink calls
 * {@code disposeOnFailure()} on the JobManager's main thread, and a savepoint holds all of its
 * state, so on S3 the listing and batch deletes of a failed one could hold that thread for seconds.
 * Its {@code _metadata} is written by Flink's own stream (a savepoint may go to any directory the
 * user names, where Flink's check that no {@code _metadata} is there stays).
 */
final class SavepointLocation extends ForwardingCheckpointStreamFactory implements CheckpointStorageLocation {

    private final CheckpointStorageLocation delegate;

    SavepointLocation(CheckpointStorageLocation delegate) {
        super(delegate);
        this.delegate = delegate;
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        return delegate.createMetadataOutputStream();
    }

    /** In the background ({@link FailedCheckpointDisposal}). */
    @Override
    public void disposeOnFailure() {
        FailedCheckpointDisposal.submit(FailedCheckpointDisposal.describe(delegate), delegate::disposeOnFailure, () -> {});
    }

    @Override
    public CheckpointStorageLocationReference getLocationReference() {
        return delegate.getLocationReference();
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
