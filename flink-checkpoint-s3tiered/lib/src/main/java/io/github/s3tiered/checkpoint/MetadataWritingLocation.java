package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.IOException;

/**
 * A checkpoint's location on the JobManager, as Flink's storage made it, when completed
 * checkpoints are not verified: its {@code _metadata} stream is the one without Flink's {@code
 * exists()} round trip on s3tiered, checked when the checkpoint starts
 * ({@link MetadataFileOutputStream#openFor}, {@link MetadataPrecheck}), as with verification on
 * ({@link VerifyingCheckpointLocation}); a failed checkpoint's directory is deleted in the
 * background ({@link BackgroundDisposingLocation}); its reference carries the JobManager's reuse
 * window to the tasks ({@link LocationReferences}).
 */
final class MetadataWritingLocation extends BackgroundDisposingLocation {

    /** Null where it does not apply. */
    private final MetadataPrecheck precheck;
    private final CheckpointStorageLocationReference reference;

    /** Null where the job has no changelog. */
    private final ChangelogFilesCheck changelogFiles;
    private final EarlierRunsMetadata earlierRun = new EarlierRunsMetadata();

    MetadataWritingLocation(CheckpointStorageLocation delegate, long reuseWindowMillis, ChangelogFilesCheck changelogFiles)
            throws IOException {
        super(delegate);
        this.changelogFiles = changelogFiles;
        this.precheck = MetadataPrecheck.startFor(delegate);
        this.reference = LocationReferences.encode(delegate.getLocationReference(), reuseWindowMillis, null);
    }

    @Override
    public CheckpointStorageLocationReference getLocationReference() {
        return reference;
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        CheckpointMetadataOutputStream out = earlierRun.open(delegate, () -> MetadataFileOutputStream.openFor(delegate, precheck));
        return changelogFiles == null ? out : changelogFiles.wrap(out, checkpointDirectory(delegate));
    }

    @Override
    boolean keepsDirectory() {
        return earlierRun.keepsDirectoryOf(delegate, FailedCheckpointDisposal.describe(delegate));
    }

    /** The directory of an Fs location (where relative handles in its {@code _metadata} point), else null. */
    static org.apache.flink.core.fs.Path checkpointDirectory(CheckpointStorageLocation location) {
        return location instanceof org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation fs
                ? fs.getCheckpointDirectory() : null;
    }
}
