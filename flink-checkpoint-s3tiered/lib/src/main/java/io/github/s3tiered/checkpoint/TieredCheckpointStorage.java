package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.preupload.PreUploadSettings;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageAccess;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.ConfigurableCheckpointStorage;
import org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage;

import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Checkpoint storage on {@code s3tiered://}: Flink's file-system checkpoint storage (standard
 * layout {@code <dir>/<job-id>/chk-N/_metadata}, {@code shared/}, {@code taskowned/}, savepoints,
 * relative handles, retained checkpoints; not file merging, see the access), plus a check, once per process, that the
 * bucket is reachable, the credentials valid and the directory writable: a wrong setup fails the
 * job when it starts, naming the key and bucket, instead of at the first checkpoint. Before a job
 * resumes from {@code execution.state-recovery.path}, the recovery guard proves the checkpoint
 * restorable (or resolves a job directory to its newest restorable checkpoint).
 */
public class TieredCheckpointStorage implements CheckpointStorage, ConfigurableCheckpointStorage {

    private static final long serialVersionUID = 1L;

    public static final String SCHEME = BridgeContract.SCHEME;

    private final FileSystemCheckpointStorage delegate;
    private final RecoveryGuard guard;
    private final boolean verify;

    private final int fullListingInterval;
    private final boolean removeOrphans;
    /** execution.checkpointing.create-subdir: whether Flink's job directory is <dir>/<job id> or <dir> itself. */
    private final boolean jobSubdirectories;
    private final long orphanClockMarginSeconds;
    private final long orphanMinAgeSeconds;
    private final PreUploadSettings preUpload;

    /** Flink's key, the same in 1.20 and 2.x: the tasks fall back to writing without it (see the access). */
    private static final ConfigOption<Boolean> FILE_MERGING =
            ConfigOptions.key("execution.checkpointing.file-merging.enabled").booleanType().defaultValue(false);
    private static final AtomicBoolean FILE_MERGING_WARNED = new AtomicBoolean();

    /** From code: {@code env.getCheckpointConfig()...} or {@code new TieredCheckpointStorage("s3tiered://bucket/path")}. */
    public TieredCheckpointStorage(String checkpointDirectory) {
        this(new FileSystemCheckpointStorage(requireTieredDir(checkpointDirectory)), guardFrom(new Configuration(), null),
                new Configuration());
    }

    private TieredCheckpointStorage(FileSystemCheckpointStorage delegate, RecoveryGuard guard, ReadableConfig config) {
        this.delegate = delegate;
        this.guard = guard;
        this.verify = config.get(VerificationOptions.ENABLED);
        this.fullListingInterval = config.get(VerificationOptions.FULL_LISTING_INTERVAL);
        this.removeOrphans = config.get(VerificationOptions.REMOVE_ORPHANS);
        // as the delegate reads it (its own setting is never set here): Flink's job directory follows it
        this.jobSubdirectories = config.get(CheckpointingOptions.CREATE_CHECKPOINT_SUB_DIR);
        if (!verify && config.getOptional(VerificationOptions.REMOVE_ORPHANS).orElse(false)) {
            LoggerFactory.getLogger(TieredCheckpointStorage.class).warn("{}: true has no effect while {} is false: the"
                    + " orphan removal runs in the verification's passes", VerificationOptions.REMOVE_ORPHANS.key(),
                    VerificationOptions.ENABLED.key());
        }
        io.github.s3tiered.bridge.UnitlessValues.check(config, VerificationOptions.ORPHAN_CLOCK_MARGIN);
        java.time.Duration margin = config.get(VerificationOptions.ORPHAN_CLOCK_MARGIN);
        if (margin.isNegative()) {
            throw new IllegalConfigurationException(VerificationOptions.ORPHAN_CLOCK_MARGIN.key() + " must not be negative, is "
                    + margin);
        }
        this.orphanClockMarginSeconds = (margin.toMillis() + 999) / 1000;
        this.preUpload = PreUploadSettings.from(config, delegate.getMinFileSizeThreshold());
        io.github.s3tiered.bridge.UnitlessValues.check(config, VerificationOptions.ORPHAN_MIN_AGE);
        java.time.Duration minAge = config.getOptional(VerificationOptions.ORPHAN_MIN_AGE)
                .orElse(java.time.Duration.ofMillis(preUpload.checkpointTimeoutMillis()));
        if (minAge.isNegative()) {
            throw new IllegalConfigurationException(VerificationOptions.ORPHAN_MIN_AGE.key() + " must not be negative, is "
                    + minAge);
        }
        this.orphanMinAgeSeconds = (minAge.toMillis() + 999) / 1000;
        JobOnlyFileSystemOptions.warnAbout(config.toMap(), delegate.getCheckpointPath());
        for (String unknown : unknownKeys(config.toMap().keySet())) {
            // once per process: the storage is built again for each job, and in each task
            if (UNKNOWN_KEYS_WARNED.add(unknown)) {
                LoggerFactory.getLogger(TieredCheckpointStorage.class).warn("{} is not an option of the tiered checkpoint"
                        + " storage or state backend and is ignored (did you mean {}?)", unknown,
                        io.github.s3tiered.bridge.NearestKey.of(unknown, optionKeys()));
            }
        }
        if (config.get(FILE_MERGING) && FILE_MERGING_WARNED.compareAndSet(false, true)) {
            LoggerFactory.getLogger(TieredCheckpointStorage.class).warn(TieredCheckpointStorageAccess.FILE_MERGING_REFUSED);
        }
        if (fullListingInterval < 1) {
            throw new IllegalConfigurationException(VerificationOptions.FULL_LISTING_INTERVAL.key() + " must be at least 1, is "
                    + fullListingInterval);
        }
    }

    private static RecoveryGuard guardFrom(ReadableConfig config, ClassLoader jobClassLoader) {
        return new RecoveryGuard(config.get(RecoveryGuardOptions.VALIDATE), config.get(RecoveryGuardOptions.DEEP),
                config.get(RecoveryGuardOptions.FALLBACK), jobClassLoader,
                config.get(org.apache.flink.configuration.StateRecoveryOptions.CHECKPOINT_ID_OF_IGNORED_IN_FLIGHT_DATA));
    }

    static Path requireTieredDir(String dir) {
        if (dir == null || dir.isBlank()) {
            throw new IllegalConfigurationException("The tiered checkpoint storage needs "
                    + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key() + ": s3tiered://<bucket>/<path>");
        }
        Path path = new Path(dir.trim());
        if (!SCHEME.equals(path.toUri().getScheme()) || path.toUri().getAuthority() == null) {
            throw new IllegalConfigurationException("Invalid " + CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()
                    + " '" + dir + "' for the tiered checkpoint storage: expected s3tiered://<bucket>/<path>");
        }
        return path;
    }

    @Override
    public TieredCheckpointStorage configure(ReadableConfig config, ClassLoader classLoader) {
        return new TieredCheckpointStorage(delegate.configure(config, classLoader), guardFrom(config, classLoader), config);
    }

    PreUploadSettings preUploadSettings() {
        return preUpload;
    }

    public Path getCheckpointPath() {
        return delegate.getCheckpointPath();
    }

    @Override
    public CompletedCheckpointStorageLocation resolveCheckpoint(String pointer) throws IOException {
        // Flink calls this only to dispose of a savepoint (flink savepoint -d): the path as given, never
        // the guard's choice, which would discard another checkpoint (a job directory's newest, a fallback).
        // A job resumes through the access's resolveCheckpoint, where the guard sits.
        return delegate.resolveCheckpoint(pointer);
    }

    /**
     * The JobManager resolves {@code execution.state-recovery.path} and completes checkpoints
     * through the access returned here, and the tasks resolve their checkpoint locations through
     * it: the recovery guard and the verification of completed checkpoints sit in it.
     */
    @Override
    public CheckpointStorageAccess createCheckpointStorage(JobID jobId) throws IOException {
        CheckpointStorageAccess access = delegate.createCheckpointStorage(jobId);
        TieredCheckpointStorageAccess.VerificationSettings verification = verify
                ? new TieredCheckpointStorageAccess.VerificationSettings(fullListingInterval, removeOrphans,
                        orphanClockMarginSeconds, orphanMinAgeSeconds, TieredCheckpointStorage.class.getClassLoader())
                : null;
        // Flink's own job directory: <dir>/<job id>, or <dir> itself with execution.checkpointing.create-subdir
        // false (Flink then asks that no two jobs run in it at once, as jobs of one id do not)
        Path jobDir = jobSubdirectories ? new Path(delegate.getCheckpointPath(), jobId.toString()) : delegate.getCheckpointPath();
        return new TieredCheckpointStorageAccess(access, guard, verification, jobDir,
                new TieredCheckpointStorageAccess.StreamSettings(delegate.getMinFileSizeThreshold(),
                        delegate.getWriteBufferSize(), preUpload,
                        new ChangelogFilesCheck(TieredCheckpointStorage.class.getClassLoader())))
                .checkingAtStart(this::ensureUsable);
    }

    /**
     * The start check of the directories ({@link StorageCheck}): on the JobManager only, where the
     * checkpoint coordinator starts (a failure fails the submission), not in each task's
     * constructor on a TaskManager, where it ran on the task thread with every request's retries:
     * a TaskManager started while S3 was down failed every task after minutes, though a restore
     * from its local tier needs no request.
     */
    private void ensureUsable() throws IOException {
        StorageCheck.ensureUsable(delegate.getCheckpointPath());
        Path savepoints = delegate.getSavepointPath();
        if (savepoints != null && "s3tiered".equals(savepoints.toUri().getScheme())) {
            // at the start, not at the first savepoint (often an upgrade's)
            StorageCheck.ensureUsable(savepoints, CheckpointingOptions.SAVEPOINT_DIRECTORY.key(), "Savepoint");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TieredCheckpointStorage other && delegate.equals(other.delegate);
    }

    @Override
    public int hashCode() {
        return Objects.hash(delegate);
    }

    @Override
    public String toString() {
        return "TieredCheckpointStorage{" + delegate.getCheckpointPath() + "}";
    }

    /** Keys under the storage's and backend's prefixes that none of their options reads (a misspelling). */
    static java.util.List<String> unknownKeys(java.util.Set<String> keys) {
        java.util.Set<String> known = optionKeys();
        return keys.stream()
                .filter(k -> io.github.s3tiered.bridge.LibOptionKeys.PREFIXES.stream().anyMatch(k::startsWith))
                .filter(k -> !known.contains(k))
                .sorted()
                .toList();
    }

    private static final java.util.Set<String> UNKNOWN_KEYS_WARNED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** The keys of the storage's and backend's options. */
    static java.util.SortedSet<String> optionKeys() {
        java.util.SortedSet<String> known = new java.util.TreeSet<>();
        for (Class<?> holder : java.util.List.of(VerificationOptions.class, RecoveryGuardOptions.class,
                io.github.s3tiered.preupload.PreUploadOptions.class)) {
            for (java.lang.reflect.Field f : holder.getDeclaredFields()) {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getType() == ConfigOption.class) {
                    try {
                        known.add(((ConfigOption<?>) f.get(null)).key());
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        }
        return known;
    }
}
