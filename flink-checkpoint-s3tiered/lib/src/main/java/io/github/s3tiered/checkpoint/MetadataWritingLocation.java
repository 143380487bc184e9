package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.IOException;

/**
 * A checkpoint's location on the JobManager, as Flink's storage made it, when completed
 * checkpoints are not verified: only its {@code _metadata} stream differs, the one without
 * Flink's {@code exists()} round trip on s3tiered, checked when the checkpoint starts
 * ({@link MetadataFileOutputStream#openFor}, {@link MetadataPrecheck}), as with verification on
 * ({@link VerifyingCheckpointLocation}).
 */
final class MetadataWritingLocation extends ForwardingCheckpointStreamFactory implements CheckpointStorageLocation {

    private final CheckpointStorageLocation delegate;
    /** Null where it does not apply. */
    private final MetadataPrecheck precheck;

    MetadataWritingLocation(CheckpointStorageLocation delegate) {
        super(delegate);
        this.delegate = delegate;
        this.precheck = MetadataPrecheck.startFor(delegate);
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        return MetadataFileOutputStream.openFor(delegate, precheck);
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
