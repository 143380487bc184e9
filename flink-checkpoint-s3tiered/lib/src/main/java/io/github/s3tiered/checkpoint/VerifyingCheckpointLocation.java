package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.DaemonThreads;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A checkpoint's location on the JobManager, as Flink's storage made it, with two additions: its
 * reference carries the verification status to the tasks ({@link LocationReferences}), and when
 * the checkpoint is finalized, the {@code _metadata} bytes just written go to the
 * {@link CompletedCheckpointVerifier} (no read back from S3).
 */
final class VerifyingCheckpointLocation extends ForwardingCheckpointStreamFactory implements CheckpointStorageLocation {

    private static final Logger LOG = LoggerFactory.getLogger(VerifyingCheckpointLocation.class);

    private final CheckpointStorageLocation delegate;
    private final long checkpointId;
    private final CompletedCheckpointVerifier verifier;
    private final CheckpointStorageLocationReference reference;
    private final PendingCheckpoints pending;
    /** Null where it does not apply. */
    private final MetadataPrecheck precheck;
    /** Null where the job has no changelog. */
    private final ChangelogFilesCheck changelogFiles;
    private final EarlierRunsMetadata earlierRun = new EarlierRunsMetadata();
    /** Set when Flink disposes of it after a failure: then the disposal ends the checkpoint. */
    private final AtomicBoolean disposed = new AtomicBoolean();

    /**
     * Ends checkpoints whose location became garbage while they were pending. Flink creates a
     * pending checkpoint before its location and attaches the location only if the checkpoint was
     * not aborted meanwhile (a failover right after the trigger); an aborted one is then neither
     * finalized nor disposed, and would keep the orphan removal off for the rest of the job. A
     * checkpoint that can still complete holds its location (Flink's pending checkpoint, or the
     * step about to attach it), so a location that is garbage belongs to one that never will.
     */
    private static final Cleaner ABANDONED = Cleaner.create(
            r -> DaemonThreads.newThread(r, "s3tiered-abandoned-checkpoints", VerifyingCheckpointLocation.class.getClassLoader()));

    /** Holds no reference to the location, or it would never become garbage. */
    private record EndIfAbandoned(PendingCheckpoints pending, long checkpointId, AtomicBoolean disposed) implements Runnable {
        @Override
        public void run() {
            if (!disposed.get() && pending.endedUnreported(checkpointId)) {
                LOG.info("Checkpoint {} ended without being completed or disposed of (Flink aborted it before it attached"
                        + " its location); the orphan removal no longer waits for it", checkpointId);
            }
        }
    }

    VerifyingCheckpointLocation(CheckpointStorageLocation delegate, long checkpointId, CompletedCheckpointVerifier verifier,
            PendingCheckpoints pending, long reuseWindowMillis, ChangelogFilesCheck changelogFiles) throws IOException {
        super(delegate);
        this.changelogFiles = changelogFiles;
        this.delegate = delegate;
        this.precheck = MetadataPrecheck.startFor(delegate);
        this.checkpointId = checkpointId;
        this.verifier = verifier;
        this.pending = pending;
        // fixed at creation: every task of this checkpoint must get the same reference
        this.reference = LocationReferences.encode(delegate.getLocationReference(), reuseWindowMillis, verifier.status());
        ABANDONED.register(this, new EndIfAbandoned(pending, checkpointId, disposed));
    }

    @Override
    public CheckpointStorageLocationReference getLocationReference() {
        return reference;
    }

    @Override
    public CheckpointMetadataOutputStream createMetadataOutputStream() throws IOException {
        // on s3tiered without the exists() round trip Flink's stream asks first (MetadataFileOutputStream)
        CheckpointMetadataOutputStream out = earlierRun.open(delegate, () -> MetadataFileOutputStream.openFor(delegate, precheck));
        return new TeeMetadataOutputStream(changelogFiles == null ? out
                : changelogFiles.wrap(out, MetadataWritingLocation.checkpointDirectory(delegate)));
    }

    /**
     * In the background ({@link FailedCheckpointDisposal}); pending until its directory is deleted.
     * Not deleted when it holds an earlier run's checkpoint ({@link EarlierRunsMetadata}).
     */
    @Override
    public void disposeOnFailure() {
        disposed.set(true);
        if (earlierRun.keepsDirectoryOf(delegate, FailedCheckpointDisposal.describe(delegate))) {
            pending.ended(checkpointId);
            return;
        }
        FailedCheckpointDisposal.submit(FailedCheckpointDisposal.describe(delegate), delegate::disposeOnFailure,
                () -> pending.ended(checkpointId));
    }

    /** Hands the metadata bytes to the verifier when the checkpoint is finalized. */
    private final class TeeMetadataOutputStream extends CopyingMetadataOutputStream {

        TeeMetadataOutputStream(CheckpointMetadataOutputStream out) {
            super(out);
        }

        @Override
        public CompletedCheckpointStorageLocation closeAndFinalizeCheckpoint() throws IOException {
            CompletedCheckpointStorageLocation completed = out.closeAndFinalizeCheckpoint();
            Path dir = new Path(completed.getExternalPointer());
            pending.finalized(checkpointId, dir);
            verifier.completed(checkpointId, bytes(), dir);
            return completed;
        }
    }
}
