package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.discovery.CheckpointDiscovery;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.orphans.OrphanSearch;
import io.github.s3tiered.inspector.restorepoint.RestorePointSearch;
import io.github.s3tiered.inspector.storage.DirectoryListings;
import io.github.s3tiered.inspector.storage.FileSystemCalls;
import io.github.s3tiered.inspector.storage.FileSystemChecksums;
import io.github.s3tiered.inspector.validation.CheckpointValidator;
import io.github.s3tiered.inspector.validation.JobCompatibility;

import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks checkpoints and savepoints before a job resumes from them: the entry point of the library.
 * Everything goes through Flink's {@code FileSystem} API (works on {@code s3tiered://},
 * {@code s3://}, {@code file://}); file systems must be initialized by the caller, as Flink does.
 *
 * <pre>{@code
 * CheckpointInspector inspector = new CheckpointInspector(classLoader);
 * Validation v = inspector.validate(path, false);          // one checkpoint
 * RestorePoint rp = inspector.restorePoint(jobDir, false); // the newest restorable one
 * }</pre>
 *
 * <p>Instances are immutable and thread-safe; each call lists what it needs afresh.
 */
public final class CheckpointInspector {

    private final ClassLoader classLoader;
    private final boolean jobClassesComplete;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;
    /** The checkpoint whose in-flight data a restore discards (Flink's {@code execution.state-recovery.without-channel-state.checkpoint-id}), or -1. */
    private final long inFlightDataIgnoredOf;

    /**
     * An inspector whose class loader holds Flink's classes but maybe not the job's: deep
     * validation then reports state whose serializers need a job class as not decoded, instead of
     * as damaged. Checksums are the ones the tiered file system recorded.
     */
    public CheckpointInspector(ClassLoader classLoader) {
        this(classLoader, false, new FileSystemChecksums(), InspectionProgress.NONE);
    }

    /**
     * @param jobClassesComplete true when {@code classLoader} holds the job's classes (the
     *     JobManager's user-code class loader, or the job's jar given to the command line): a
     *     class a serializer snapshot names that cannot be found is then damage
     */
    public CheckpointInspector(ClassLoader classLoader, boolean jobClassesComplete, ChecksumSource checksums,
            InspectionProgress progress) {
        this(classLoader, jobClassesComplete, checksums, progress, -1);
    }

    private CheckpointInspector(ClassLoader classLoader, boolean jobClassesComplete, ChecksumSource checksums,
            InspectionProgress progress, long inFlightDataIgnoredOf) {
        this.inFlightDataIgnoredOf = inFlightDataIgnoredOf;
        this.classLoader = classLoader;
        this.jobClassesComplete = jobClassesComplete;
        this.checksums = checksums;
        this.progress = progress;
    }

    public CheckpointInspector withProgress(InspectionProgress progress) {
        return new CheckpointInspector(classLoader, jobClassesComplete, checksums, progress, inFlightDataIgnoredOf);
    }

    public CheckpointInspector withChecksums(ChecksumSource checksums) {
        return new CheckpointInspector(classLoader, jobClassesComplete, checksums, progress, inFlightDataIgnoredOf);
    }

    /** The same inspector, told that its class loader holds the job's classes. */
    public CheckpointInspector withJobClasses(ClassLoader jobClassLoader) {
        return new CheckpointInspector(jobClassLoader, true, checksums, progress, inFlightDataIgnoredOf);
    }

    /**
     * The same inspector, judging checkpoint {@code checkpointId} without its in-flight data
     * (unaligned checkpoints' channel state), as Flink restores it with {@code
     * execution.state-recovery.without-channel-state.checkpoint-id}: Flink's remedy for damaged
     * in-flight data, which it then never reads. -1: none.
     */
    public CheckpointInspector withInFlightDataIgnoredOf(long checkpointId) {
        return new CheckpointInspector(classLoader, jobClassesComplete, checksums, progress, checkpointId);
    }

    /**
     * True when the path names one checkpoint or savepoint by its name alone ({@code chk-N},
     * {@code savepoint-*}, or a {@code _metadata} file); no request is made. A path for which this is
     * false may still be a checkpoint in a renamed directory: {@link #classify} tells for sure.
     */
    public static boolean namesSingleCheckpoint(Path path) {
        return CheckpointNames.roleByName(path).singleCheckpoint();
    }

    /** What the directory holds: by name, else by listing it (and, if needed, its subdirectories). */
    public PathRole classify(Path path) throws IOException {
        return CheckpointDiscovery.classify(path, new DirectoryListings(new FileSystemCalls()));
    }

    /**
     * The directory of the checkpoint or savepoint {@code path} names: the path itself, the
     * directory of its {@code _metadata}, or that of a metadata file named otherwise.
     */
    public Path checkpointDirectoryOf(Path path) throws IOException {
        return CheckpointDiscovery.checkpointDirectoryOf(path, new DirectoryListings(new FileSystemCalls()));
    }

    /** The job directories under {@code dir} (itself, when it is one), each with its checkpoints. */
    public List<JobDirectory> discover(Path dir) throws IOException {
        return CheckpointDiscovery.discover(dir, new DirectoryListings(new FileSystemCalls()));
    }

    /**
     * Validates one checkpoint or savepoint directory (or its {@code _metadata} file).
     *
     * @param deep also read every file and compare its CRC32C with the recorded one
     * @throws java.io.FileNotFoundException when the directory does not exist
     * @throws IOException when the file system cannot be reached
     */
    public Validation validate(Path checkpointDir, boolean deep) throws IOException {
        return validator().validate(checkpointDir, deep, new DirectoryListings(new FileSystemCalls()));
    }

    /**
     * Validates every checkpoint of a job directory, newest first, sharing directory listings. One
     * removed after the directory was listed is NO_METADATA, saying so.
     */
    public List<Validation> validateAll(JobDirectory job, boolean deep) throws IOException {
        DirectoryListings listings = new DirectoryListings(new FileSystemCalls());
        List<Validation> out = new ArrayList<>();
        int i = 0;
        int unansweredInARow = 0;
        for (CheckpointLocation cp : job.checkpoints()) {
            if (unansweredInARow >= UNANSWERED_CHECKPOINTS_TO_STOP) {
                // each would pay its own retries (minutes against a store that stalls) for UNKNOWN
                out.add(CheckpointValidator.notAttempted(cp, "the storage could not be read for the " + unansweredInARow
                        + " checkpoints before it", listings.calls()));
                continue;
            }
            progress.step("validating " + cp.path() + " (" + (++i) + "/" + job.checkpoints().size() + ")");
            long failuresBefore = listings.calls().storageFailures();
            Validation v;
            try {
                v = validator().validate(cp.path(), deep, listings);
            } catch (FileNotFoundException e) {
                v = CheckpointValidator.vanished(cp, listings.calls());
            }
            out.add(v);
            boolean unanswered = v.verdict() == Verdict.UNKNOWN && listings.calls().storageFailures() > failuresBefore;
            unansweredInARow = unanswered ? unansweredInARow + 1 : 0;
        }
        return out;
    }

    /** Checkpoints in a row the storage did not answer for, after which the rest are not tried. */
    static final int UNANSWERED_CHECKPOINTS_TO_STOP = 2;

    /** The newest restorable checkpoint of a job directory (savepoints not considered). */
    public RestorePoint restorePoint(Path jobDir, boolean includeSavepoints) throws IOException {
        return restorePoint(jobDir, new RestorePointOptions(includeSavepoints, false, null));
    }

    /**
     * The newest restorable checkpoint of a job directory, with every newer one and why it was
     * skipped. Checkpoints are ordered by id; savepoints (by option) by the id in their metadata,
     * and those whose metadata cannot be read come last. The search stops at a checkpoint that
     * could not be judged ({@link Outcome#UNKNOWN}): an older one is never chosen over it; the
     * result then has no restore point and {@link RestorePoint#undecided()} names it.
     */
    public RestorePoint restorePoint(Path jobDir, RestorePointOptions options) throws IOException {
        return new RestorePointSearch(validator(), progress).search(jobDir, options, new DirectoryListings(new FileSystemCalls()));
    }

    /** What Flink would reject when {@code job} restores from the validated checkpoint. */
    public List<CompatibilityIssue> checkCompatibility(Validation validation, JobShape job) {
        if (validation.metadata() == null) {
            throw new IllegalArgumentException("The metadata of " + validation.path() + " could not be read: " + validation.reason());
        }
        return JobCompatibility.check(validation.metadata(), job);
    }

    /** The operators, state sizes and files of one checkpoint, with its (non-deep) validation. */
    public CheckpointDescription describe(Path checkpointDir) throws IOException {
        Validation v = validate(checkpointDir, false);
        if (v.metadata() == null) {
            return new CheckpointDescription(v, List.of(), 0);
        }
        return new CheckpointDescription(v, OperatorSummary.of(v.metadata(), v.files()), v.metadata().getMasterStates().size());
    }

    /** Unreferenced files of a job directory; deletes them only when the options say so. */
    public Orphans orphans(Path jobDir, OrphanOptions options) throws IOException {
        return new OrphanSearch(classLoader, checksums, progress)
                .search(jobDir, options, System.currentTimeMillis(), new DirectoryListings(new FileSystemCalls()));
    }

    private CheckpointValidator validator() {
        return new CheckpointValidator(classLoader, jobClassesComplete, checksums, progress, inFlightDataIgnoredOf);
    }
}
