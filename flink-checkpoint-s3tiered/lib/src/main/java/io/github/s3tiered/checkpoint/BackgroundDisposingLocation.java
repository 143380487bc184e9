package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.IOException;

/**
 * A location on the JobManager, as Flink's storage made it, except that the directory of a failed
 * checkpoint or savepoint is deleted in the background ({@link FailedCheckpointDisposal}): Flink
 * calls {@code disposeOnFailure()} on the JobManager's main thread, and on S3 the listing and batch
 * deletes could hold that thread (for seconds with a savepoint, which holds all of the job's state).
 * Used as it is for savepoints, whose {@code _metadata} Flink's own stream writes (a savepoint may go
 * to any directory the user names, where Flink's check that no {@code _metadata} is there stays);
 * {@link MetadataWritingLocation} changes that stream for checkpoints.
 */
class BackgroundDisposingLocation extends ForwardingCheckpointStreamFactory implements CheckpointStorageLocation {

    final CheckpointStorageLocation delegate;

    BackgroundDisposingLocation(CheckpointStorageLocation delegate) {
        super(delegate);
        this.delegate = delegate;
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        return delegate.createMetadataOutputStream();
    }

    /** In the background ({@link FailedCheckpointDisposal}), unless {@link #keepsDirectory()}. */
    @Override
    public final void disposeOnFailure() {
        if (keepsDirectory()) {
            return;
        }
        FailedCheckpointDisposal.submit(FailedCheckpointDisposal.describe(delegate), delegate::disposeOnFailure, () -> {});
    }

    /** Whether the directory is not this location's to delete ({@link EarlierRunsMetadata}). */
    boolean keepsDirectory() {
        return false;
    }

    @Override
    public CheckpointStorageLocationReference getLocationReference() {
        return delegate.getLocationReference();
    }

    @Override
    public final String toString() {
        return delegate.toString();
    }
}
