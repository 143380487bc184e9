package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;

import java.io.IOException;

/**
 * A checkpoint's location on the JobManager, as Flink's storage made it, when completed
 * checkpoints are not verified: its {@code _metadata} stream is the one without Flink's {@code
 * exists()} round trip on s3tiered, checked when the checkpoint starts
 * ({@link MetadataFileOutputStream#openFor}, {@link MetadataPrecheck}), as with verification on
 * ({@link VerifyingCheckpointLocation}); a failed checkpoint's directory is deleted in the
 * background ({@link BackgroundDisposingLocation}).
 */
final class MetadataWritingLocation extends BackgroundDisposingLocation {

    /** Null where it does not apply. */
    private final MetadataPrecheck precheck;

    MetadataWritingLocation(CheckpointStorageLocation delegate) {
        super(delegate);
        this.precheck = MetadataPrecheck.startFor(delegate);
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        return MetadataFileOutputStream.openFor(delegate, precheck);
    }
}
