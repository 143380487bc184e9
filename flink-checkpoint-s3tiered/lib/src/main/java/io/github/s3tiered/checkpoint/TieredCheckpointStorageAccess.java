package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.preupload.JobManagerReuseWindows;
import io.github.s3tiered.preupload.PreUploadSettings;
import io.github.s3tiered.preupload.PreUploadTarget;

import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
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
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Flink's file-system checkpoint storage access for one job, with this project's additions:
 *
 * <ul>
 *   <li>on the JobManager, the recovery guard in front of {@link #resolveCheckpoint} (Flink
 *       resolves {@code execution.state-recovery.path} through it before any task is deployed, so
 *       a refusal fails the submission), and the verification of each completed checkpoint
 *       ({@link CompletedCheckpointVerifier}), whose status travels in the location reference;
 *   <li>on the TaskManagers, the status taken out of the reference again, and a stream factory
 *       that refuses to reuse files found missing from S3 ({@link ReuseVetoingStreamFactory}).
 * </ul>
 */
final class TieredCheckpointStorageAccess implements CheckpointStorageAccess, PreUploadTarget.Source {

    private static final Logger LOG = LoggerFactory.getLogger(TieredCheckpointStorageAccess.class);

    private final CheckpointStorageAccess delegate;
    private final RecoveryGuard guard;
    /** Null when verification is off. Created lazily: only the JobManager completes checkpoints. */
    private final VerificationSettings verification;
    /** As Flink names it: with the entropy marker, if the checkpoint path has one. */
    private final Path jobDir;
    /**
     * Where the storage's own objects go (the verification status, the pre-upload grace record,
     * uploads ahead of checkpoints) and what its orphan removal lists: the job directory without
     * the entropy marker, where Flink writes {@code _metadata} and the inspector looks. Flink's
     * data files get entropy instead of the marker; an object written at a path still holding it
     * would sit under the marker itself, apart from the job directory.
     */
    private final Path storageDir;
    private final StreamSettings streams;
    private CompletedCheckpointVerifier verifier;
    /** The directory of the checkpoint this job restored from, when it resolved one; guarded by this. */
    private Path restoredFrom;
    /** The metadata file Flink read of it (a restore path may name one called otherwise); guarded by this. */
    private Path restoredFromMetadata;
    /**
     * Whether this JobManager's grace record for the inspector is durable. Until it is, a record an
     * earlier run under the same job id left may be in place with a shorter grace, and the
     * inspector's {@code orphans --delete} could take an upload a checkpoint of this run was handed:
     * so no checkpoint reuses an upload made ahead of it before then ({@link #reuseWindowSent}).
     */
    private volatile boolean preUploadGraceDurable;
    /**
     * System.nanoTime() (made odd, never 0) when the running write of the record began, 0 when none
     * runs: at most one at a time, retried with each checkpoint while it fails.
     */
    private final AtomicLong preUploadGraceWriteStarted = new AtomicLong();
    /** The write last WARNed about as not ending: each such write once. */
    private final AtomicLong preUploadGraceWriteWarned = new AtomicLong();
    /**
     * How long a write of the record may run before a checkpoint that finds it running WARNs:
     * reuse stays held back while it runs, and a write that never ends (a file system without
     * request timeouts under the storage) would otherwise hold it back without a word. Tests
     * shorten it.
     */
    long slowGraceRecordWriteNanos = TimeUnit.MINUTES.toNanos(1);

    /** Whether and how completed checkpoints are verified. */
    record VerificationSettings(int fullListingInterval, boolean removeOrphans, long orphanClockMarginSeconds,
            long orphanMinAgeSeconds, ClassLoader classLoader) {}

    /**
     * How the tasks write: Flink's file-state threshold and write buffer, and the pre-upload
     * settings; with the changelog state backend, the check of its files ({@code changelogFiles},
     * null without).
     */
    record StreamSettings(int fileStateThreshold, int writeBufferSize, PreUploadSettings preUpload,
            ChangelogFilesCheck changelogFiles) {

        StreamSettings(int fileStateThreshold, int writeBufferSize, PreUploadSettings preUpload) {
            this(fileStateThreshold, writeBufferSize, preUpload, null);
        }
    }

    /** Checkpoints started and not yet finalized or disposed: the orphan sweep waits for none. */
    private final PendingCheckpoints pending;
    /** When this run's JobManager made this (its checkpoint coordinator's start): see {@link OrphanSweep#runStartedAt}. */
    private final long createdMillis = System.currentTimeMillis();

    TieredCheckpointStorageAccess(CheckpointStorageAccess delegate, RecoveryGuard guard, VerificationSettings verification,
            Path jobDir, StreamSettings streams) {
        this.delegate = delegate;
        this.guard = guard;
        this.verification = verification;
        this.jobDir = jobDir;
        this.storageDir = withoutEntropyMarker(jobDir);
        this.streams = streams;
        this.pending = new PendingCheckpoints(verification != null && verification.removeOrphans());
    }

    static Path withoutEntropyMarker(Path jobDir) {
        try {
            return EntropyInjector.removeEntropyMarkerIfPresent(FileSystem.getUnguardedFileSystem(jobDir.toUri()), jobDir);
        } catch (IOException | RuntimeException e) {
            return jobDir; // no file system for it here: nothing of this storage's is written through it either
        }
    }

    // ---------------------------------------------------------------- JobManager

    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String pointer) throws IOException {
        CompletedCheckpointStorageLocation location =
                delegate.resolveCheckpoint(guard.enabled() ? guard.resolve(pointer) : pointer);
        if (verification != null && verification.removeOrphans()) {
            try {
                // the checkpoint this job restores from, when it lies in this job's directory (a job id
                // used again): the orphan removal keeps what it references; elsewhere nothing of it is in
                // this directory's shared/
                Path dir = new Path(location.getExternalPointer());
                if (dir.getParent() != null && samePath(dir.getParent(), storageDir)) {
                    // the file Flink read: a restore path may name one called otherwise than _metadata,
                    // and a search for _metadata would find nothing there, leaving its files unreferenced
                    restoredFrom(dir, location.getMetadataHandle() instanceof FileStateHandle file
                            ? file.getFilePath() : new Path(dir, CheckpointMetadataReader.METADATA_FILE));
                }
            } catch (RuntimeException e) {
                // only a listing that leaves it out could then make its files look unreferenced
                LOG.warn("Could not tell the orphan removal of {} the checkpoint restored from ({}): {}", storageDir,
                        pointer, e.toString());
            }
        }
        return location;
    }

    @Override
    public CheckpointStorageLocation initializeLocationForCheckpoint(long checkpointId) throws IOException {
        checkAtStart(); // Flink counts its base locations initialized before it calls that: a failed check goes again here
        if (!preUploadGraceDurable && streams.preUpload().enabled()) {
            recordPreUploadGrace(); // a write that failed before: again, in the background
        }
        if (verification == null) {
            return new MetadataWritingLocation(delegate.initializeLocationForCheckpoint(checkpointId), reuseWindowSent(),
                    streams.changelogFiles());
        }
        pending.started(checkpointId); // before any task can write a file of it
        try {
            return new VerifyingCheckpointLocation(delegate.initializeLocationForCheckpoint(checkpointId), checkpointId,
                    verifier(), pending, reuseWindowSent(), streams.changelogFiles());
        } catch (IOException | RuntimeException e) {
            pending.ended(checkpointId);
            throw e;
        }
    }

    /**
     * The window this JobManager sweeps and records orphans by: the tasks reuse no longer
     * ({@link LocationReferences}); held back until the record of it is durable.
     */
    private long reuseWindowSent() {
        if (!streams.preUpload().enabled()) {
            return LocationReferences.PRE_UPLOAD_OFF;
        }
        return preUploadGraceDurable ? streams.preUpload().reuseWindowMillis() : LocationReferences.REUSE_HELD;
    }

    /**
     * Starts writing the grace record unless a write is running (then WARNs, once, if it has run
     * too long); with pre-upload off it is written once.
     */
    private void recordPreUploadGrace() {
        long now = System.nanoTime() | 1;
        if (preUploadGraceWriteStarted.compareAndSet(0, now)) {
            PreUploadGraceFile.writeInBackground(storageDir, streams.preUpload(), durable -> {
                if (durable) {
                    preUploadGraceDurable = true;
                }
                preUploadGraceWriteStarted.set(0);
            });
            return;
        }
        long started = preUploadGraceWriteStarted.get();
        if (started != 0 && now - started > slowGraceRecordWriteNanos
                && preUploadGraceWriteWarned.getAndSet(started) != started) {
            LOG.warn("Writing {} has not ended in {} s. Until it is durable no checkpoint reuses an SST file uploaded"
                    + " ahead of it: the tasks upload their files themselves, on the checkpoint's critical path. An"
                    + " earlier run under this job id may have left a record with a shorter grace, which the recovery"
                    + " inspector's orphans would go by meanwhile.", new Path(storageDir, PreUploadGraceFile.NAME),
                    TimeUnit.NANOSECONDS.toSeconds(now - started));
        }
    }

    /** The same path, whatever the scheme and authority are spelled as. */
    private static boolean samePath(Path a, Path b) {
        return io.github.s3tiered.inspector.PathKey.pathPart(io.github.s3tiered.inspector.PathKey.of(a))
                .equals(io.github.s3tiered.inspector.PathKey.pathPart(io.github.s3tiered.inspector.PathKey.of(b)));
    }

    private synchronized void restoredFrom(Path checkpointDir, Path metadataFile) {
        restoredFrom = checkpointDir;
        restoredFromMetadata = metadataFile;
        RestoredCheckpoints.record(storageDir, new RestoredCheckpoints.RestoredFrom(checkpointDir, metadataFile));
        if (verifier != null && verifier.sweep() != null) {
            verifier.sweep().restoredFrom(checkpointDir, metadataFile);
        }
    }

    private synchronized CompletedCheckpointVerifier verifier() {
        if (verifier == null) {
            long preUploadGraceMillis = streams.preUpload().enabled() ? streams.preUpload().orphanGraceMillis() : 0;
            OrphanSweep sweep = verification.removeOrphans()
                    ? new OrphanSweep(storageDir, jobDir, verification.classLoader(), pending, preUploadGraceMillis,
                            verification.orphanClockMarginSeconds(), verification.orphanClockMarginSeconds(),
                            System::nanoTime, verification.orphanMinAgeSeconds()) : null;
            if (sweep != null) {
                sweep.runStartedAt(createdMillis);
            }
            if (sweep != null && restoredFrom == null) {
                // restored by an earlier coordinator of this job (the adaptive scheduler's restarts),
                // or by an earlier submission of the job id in this process: which, the record cannot
                // tell; what that checkpoint references is kept either way
                RestoredCheckpoints.RestoredFrom earlier = RestoredCheckpoints.of(storageDir);
                if (earlier != null) {
                    restoredFrom = earlier.checkpointDir();
                    restoredFromMetadata = earlier.metadataFile();
                }
            }
            if (sweep != null && restoredFrom != null) {
                sweep.restoredFrom(restoredFrom, restoredFromMetadata);
            }
            verifier = new CompletedCheckpointVerifier(storageDir, verification.fullListingInterval(), verification.classLoader(),
                    sweep);
        }
        return verifier;
    }

    /** Whether a finalized checkpoint's changelog files are looked up (for tests). */
    boolean checksChangelogFiles() {
        return streams.changelogFiles() != null;
    }

    /** The checkpoint its orphan removal keeps as restored from (its directory), for tests; starts that removal. */
    synchronized Path orphanRemovalRestoredFrom() {
        return verification != null && verification.removeOrphans() && verifier().sweep() != null ? restoredFrom : null;
    }

    /** The checkpoints started and not ended, for tests. */
    PendingCheckpoints pendingCheckpoints() {
        return pending;
    }

    /** The verifier of this job, for tests; null before the first checkpoint. */
    synchronized CompletedCheckpointVerifier verifierIfStarted() {
        return verifier;
    }

    @Override
    public boolean supportsHighlyAvailableStorage() {
        return delegate.supportsHighlyAvailableStorage();
    }

    @Override
    public boolean hasDefaultSavepointLocation() {
        return delegate.hasDefaultSavepointLocation();
    }

    /**
     * Called by the JobManager's checkpoint coordinator when it starts and again when it triggers
     * a checkpoint with the base locations not yet made; never on a TaskManager.
     */
    @Override
    public void initializeBaseLocationsForCheckpoint() throws IOException {
        // Flink's checkpoint coordinator calls this as it starts, with a checkpoint interval: the JobManager alone
        checkAtStart();
        delegate.initializeBaseLocationsForCheckpoint();
        if (!preUploadGraceDurable) {
            recordPreUploadGrace();
        }
    }

    @Override
    public CheckpointStorageLocation initializeLocationForSavepoint(long checkpointId, String externalLocationPointer)
            throws IOException {
        checkAtStart();
        return new BackgroundDisposingLocation(delegate.initializeLocationForSavepoint(checkpointId, externalLocationPointer));
    }

    /** A check of the storage that fails the JobManager's start with a clear error. */
    @FunctionalInterface
    interface StartCheck {
        void run() throws IOException;
    }

    /** Null: no check (tests); set once by the storage before the access is handed out. */
    private StartCheck startCheck;

    /** The check {@link #initializeBaseLocationsForCheckpoint()} runs first. */
    TieredCheckpointStorageAccess checkingAtStart(StartCheck check) {
        this.startCheck = check;
        return this;
    }

    /**
     * Runs the start check until it passed once. As the coordinator starts with a checkpoint
     * interval; else (a job that only takes savepoints, where Flink initializes no base locations)
     * at its first savepoint or checkpoint, which are the JobManager's too. Each check that passed
     * is remembered for the process ({@link StorageCheck}), so this costs nothing after.
     */
    private void checkAtStart() throws IOException {
        StartCheck check = startCheck;
        if (check != null) {
            check.run();
        }
    }

    // ---------------------------------------------------------------- TaskManager

    @Override
    public CheckpointStreamFactory resolveCheckpointStorageLocation(long checkpointId, CheckpointStorageLocationReference reference)
            throws IOException {
        return resolve(delegate, jobDir, storageDir, checkpointId, reference, streams);
    }

    /** Flink's job directory, where the storage keeps its own files and records the verification status. */
    Path jobDirectory() {
        return jobDir;
    }

    /** The job's shared/ directory for RocksDB's files uploaded ahead of checkpoints; empty when off. */
    @Override
    public Optional<PreUploadTarget> preUploadTarget() {
        return streams.preUpload().enabled()
                ? Optional.of(new PreUploadTarget(new Path(storageDir, "shared"), streams.preUpload()))
                : Optional.empty();
    }

    /**
     * Takes the JobManager's reuse window and verification status out of the reference, then
     * resolves Flink's own reference; the streams are {@link TieredStreamFactory}'s (a discarded
     * stream uploads nothing; shared state is deduplicated against files uploaded ahead of the
     * checkpoint within the shorter of this TaskManager's window and the JobManager's).
     */
    static CheckpointStreamFactory resolve(CheckpointStorageWorkerView view, Path jobDir, Path storageDir, long checkpointId,
            CheckpointStorageLocationReference reference, StreamSettings streams) throws IOException {
        LocationReferences.Decoded decoded = LocationReferences.decode(reference);
        CheckpointStreamFactory factory = view.resolveCheckpointStorageLocation(checkpointId, decoded.original());
        // Only a checkpoint's default location has the job's shared/ for shared state; a savepoint
        // keeps all of its files in its own directory.
        Path jobShared = decoded.original().isDefaultReference() ? new Path(jobDir, "shared") : null;
        PreUploadSettings preUpload = streams.preUpload();
        if (jobShared != null && preUpload.enabled()) {
            String sharedKey = PathKey.of(new Path(storageDir, "shared")); // as the pre-upload target names it
            // this checkpoint's own window, not one another subtask's later checkpoint brought meanwhile
            long window = decoded.reuseWindowMillis() != LocationReferences.NOT_SENT
                    ? JobManagerReuseWindows.received(sharedKey, decoded.reuseWindowMillis())
                    : JobManagerReuseWindows.last(sharedKey);
            preUpload = preUpload.reusedWithin(window).reusedSince(JobManagerReuseWindows.reusableSinceNanos(sharedKey));
        }
        factory = TieredStreamFactory.wrap(factory, jobShared, new Path(storageDir, "shared"), preUpload,
                streams.fileStateThreshold(), streams.writeBufferSize());
        if (decoded.status() == null) {
            return factory;
        }
        TaskManagerVerificationStatus.received(PathKey.of(jobDir), decoded.status());
        return decoded.status().anyMissingSent()
                ? new ReuseVetoingStreamFactory(factory, checkpointId, decoded.status())
                : factory;
    }

    @Override
    public CheckpointStateOutputStream createTaskOwnedStateStream() throws IOException {
        return delegate.createTaskOwnedStateStream();
    }

    @Override
    public CheckpointStateToolset createTaskOwnedCheckpointStateToolset() {
        return delegate.createTaskOwnedCheckpointStateToolset();
    }

    /**
     * Refused, so that Flink's task goes on with this access, without file merging (it catches the
     * {@link IOException} and logs it). Flink's file merging writes several checkpoints' or
     * subtasks' state into one physical file that it keeps open, and syncs it after each segment:
     * S3 has no append, so each {@code sync()} uploads the whole file so far again, which costs more
     * uploads than merging saves requests; its streams would never refer to uploads ahead either.
     */
    @Override
    public CheckpointStorageWorkerView toFileMergingStorage(FileMergingSnapshotManager mergingSnapshotManager, Environment environment)
            throws IOException {
        throw new IOException(FILE_MERGING_REFUSED);
    }

    static final String FILE_MERGING_REFUSED = "execution.checkpointing.file-merging.enabled is not supported by the tiered"
            + " checkpoint storage: Flink's file merging syncs a still open file after each segment, and S3 has no append, so"
            + " each sync uploads the whole file again; checkpoints are written without file merging";
}
