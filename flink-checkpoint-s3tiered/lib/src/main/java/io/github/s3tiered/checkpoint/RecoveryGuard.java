package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Outcome;
import io.github.s3tiered.inspector.PathRole;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.RestorePointOptions;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;

import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serializable;
import java.util.List;
import java.util.Optional;

/**
 * Decides which checkpoint a job resumes from when it is started with {@code
 * execution.state-recovery.path}: the named checkpoint once proven restorable, the newest
 * restorable checkpoint when the path names a job's checkpoint directory, or (only by option) the
 * newest restorable one when the named checkpoint is broken. Anything else fails the submission,
 * before any task starts, with the inspector's reason and the files concerned. A checkpoint that
 * could not be judged because the storage did not answer ({@link Outcome#UNKNOWN}) also fails the
 * submission: the guard never resumes from an older checkpoint instead of one it could not judge.
 */
final class RecoveryGuard implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RecoveryGuard.class);
    private static final String KEY = StateRecoveryOptions.SAVEPOINT_PATH.key();
    private static final int MAX_FILES_IN_MESSAGE = 20;

    private final boolean validate;
    private final boolean deep;
    private final boolean fallback;
    /** The job's user-code class loader, known when Flink configured the storage with it. */
    private final transient ClassLoader jobClassLoader;
    private final long inFlightDataIgnoredOf;

    RecoveryGuard(boolean validate, boolean deep, boolean fallback, ClassLoader jobClassLoader) {
        this(validate, deep, fallback, jobClassLoader, -1);
    }

    /**
     * @param inFlightDataIgnoredOf Flink's {@code execution.state-recovery.without-channel-state.checkpoint-id}:
     *     the checkpoint a restore takes without its in-flight data, judged so (-1: none)
     */
    RecoveryGuard(boolean validate, boolean deep, boolean fallback, ClassLoader jobClassLoader, long inFlightDataIgnoredOf) {
        this.inFlightDataIgnoredOf = inFlightDataIgnoredOf;
        this.validate = validate;
        this.deep = deep;
        this.fallback = fallback;
        this.jobClassLoader = jobClassLoader;
    }

    boolean enabled() {
        return validate;
    }

    /** The pointer to restore from, after the checks; throws when nothing restorable is named. */
    String resolve(String pointer) throws IOException {
        if (!validate) {
            return pointer;
        }
        try {
            return checked(pointer);
        } catch (IOException | RuntimeException e) {
            // Flink's adaptive scheduler logs a failed submission at INFO only
            LOG.error("Recovery guard: {}", e.getMessage());
            throw e;
        }
    }

    private String checked(String pointer) throws IOException {
        long start = System.nanoTime();
        Path path = new Path(pointer);
        if ("_metadata".equals(path.getName())) {
            path = path.getParent();
        }
        // With the job's user-code class loader, serializer snapshots of the job's own types resolve,
        // and a class that does not is damage; without it, such state is reported as not decoded.
        CheckpointInspector inspector = (jobClassLoader != null
                ? new CheckpointInspector(jobClassLoader).withJobClasses(jobClassLoader)
                : new CheckpointInspector(classLoader())).withInFlightDataIgnoredOf(inFlightDataIgnoredOf);
        PathRole role;
        try {
            role = inspector.classify(path);
        } catch (FileNotFoundException e) {
            throw new IOException(KEY + " = " + pointer + ": no such checkpoint or directory (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new IOException(KEY + " = " + pointer + ": the storage could not be read, so the checkpoint could not be"
                    + " checked before resuming (" + e.getMessage() + "). Nothing was resumed; retry when the storage"
                    + " answers (where it refused access, check the credentials and permissions of the JobManager).", e);
        }
        String resolved;
        switch (role) {
            case CHECKPOINT, SAVEPOINT -> resolved = checkSingle(inspector, pointer, path);
            case JOB_DIRECTORY -> resolved = newestRestorable(inspector, path, pointer);
            case BASE_DIRECTORY -> throw new IOException(KEY + " = " + pointer + " holds the checkpoints of several jobs: "
                    + "name one job's directory (<dir>/<job-id>) or one checkpoint (<dir>/<job-id>/chk-N)");
            default -> throw new IOException(KEY + " = " + pointer + " is neither a checkpoint (no _metadata) nor a job's "
                    + "checkpoint directory (no chk-N inside)");
        }
        LOG.info("Recovery guard: {} = {} resolved to {} in {} ms", KEY, pointer, resolved, (System.nanoTime() - start) / 1_000_000);
        return resolved;
    }

    private String checkSingle(CheckpointInspector inspector, String pointer, Path checkpoint) throws IOException {
        Validation v;
        try {
            v = inspector.validate(checkpoint, deep);
        } catch (FileNotFoundException e) {
            // never a fallback: a mistyped chk-N must not resume the newest checkpoint below it
            throw new IOException(KEY + " = " + pointer + ": no such checkpoint (" + e.getMessage() + "): it does not exist,"
                    + " or it disappeared while it was checked. Nothing was resumed.", e);
        } catch (IOException e) {
            throw new IOException(KEY + " = " + pointer + ": the checkpoint could not be checked before resuming ("
                    + e.getMessage() + "). Nothing was resumed; retry when the storage answers (where it refused"
                    + " access, check the credentials and permissions of the JobManager).", e);
        }
        if (v.restorable()) {
            LOG.info("Recovery guard: {} is restorable: {} ({})", checkpoint, v.reason(), v.requests());
            return pointer;
        }
        if (v.outcome() == Outcome.UNKNOWN) {
            throw new IOException(undecided(pointer, v));
        }
        String refusal = refusal(pointer, v);
        if (!fallback) {
            throw new IOException(refusal + "\nSet " + RecoveryGuardOptions.FALLBACK.key() + ": true to resume from the newest "
                    + "restorable checkpoint of the same job instead, or name another checkpoint (recovery-inspector "
                    + "restore-point <job-dir> finds it).");
        }
        // the checkpoint's directory, also where the pointer names its metadata file by another name
        Path jobDir = v.path().getParent();
        // back from the named checkpoint, never forward past it: an operator who names chk-7 may
        // be rolling back from what the newer ones hold
        long namedId = io.github.s3tiered.inspector.discovery.CheckpointNames.idFromName(v.path().getName());
        if (namedId < 0) {
            namedId = v.checkpointId();
        }
        if (namedId < 0 && !v.path().equals(checkpoint)) {
            // a file named as the metadata, unreadable, in no chk-N: no checkpoint to fall back below
            // (any file classifies so; the newest checkpoint of whatever holds it is not what was meant)
            throw new IOException(refusal + "\nNo fallback (" + RecoveryGuardOptions.FALLBACK.key() + "): " + pointer
                    + " names a file that is not a readable checkpoint metadata file, in a directory that is not a"
                    + " checkpoint's (chk-N), so no checkpoint of the job is known to lie below it.");
        }
        if (namedId < 0) {
            // a savepoint whose metadata cannot be read: with no id, every chk-N beside it would
            // count as older, and the newest of them may hold what a rollback to it was to undo
            throw new IOException(refusal + "\nNo fallback (" + RecoveryGuardOptions.FALLBACK.key() + "): the id of "
                    + v.path() + " is unknown (its metadata cannot be read and its directory is no chk-N), so no"
                    + " checkpoint is known to be older than it. Name an older checkpoint or savepoint instead.");
        }
        refuseAFallbackToAnotherJob(v.path(), jobDir, pointer, refusal);
        if (v.verdict() == Verdict.NO_METADATA) {
            refuseANameWithNothingStored(inspector, jobDir, pointer, v.path(), namedId, refusal);
        }
        RestorePoint rp = searchJobDirectory(inspector, jobDir, pointer,
                new RestorePointOptions(false, deep, null).below(namedId), refusal + "\n");
        if (rp.outcome() == Outcome.UNKNOWN) {
            throw new IOException(refusal + "\nFallback (" + RecoveryGuardOptions.FALLBACK.key() + ") stopped: "
                    + rp.explanation());
        }
        Optional<Path> chosen = rp.path();
        if (chosen.isEmpty()) {
            throw new IOException(refusal + "\nFallback (" + RecoveryGuardOptions.FALLBACK.key() + ") found nothing "
                    + "restorable either: " + rp.explanation());
        }
        LOG.error("\n********************************************************************************\n"
                        + "Recovery guard: FALLING BACK to an older checkpoint ({}: true).\n{}\n"
                        + "Resuming from {} instead: records after it are processed again.\n"
                        + "********************************************************************************",
                RecoveryGuardOptions.FALLBACK.key(), refusal, chosen.get());
        return chosen.get().toString();
    }

    private static final java.util.regex.Pattern SAVEPOINT_OF_JOB = java.util.regex.Pattern.compile("savepoint-([0-9a-f]{6})-.*");

    /**
     * A savepoint ({@code savepoint-<first six digits of its job's id>-...}) is fallen back from
     * only to the checkpoints of its own job: its directory's, named by that job's id. In a savepoint
     * directory, or copied into another job's directory, the {@code chk-N} beside it count from
     * another job's counter, and the newest of them below its id is another job's state.
     */
    private static void refuseAFallbackToAnotherJob(Path checkpoint, Path jobDir, String pointer, String refusal)
            throws IOException {
        java.util.regex.Matcher m = SAVEPOINT_OF_JOB.matcher(checkpoint.getName());
        if (m.matches() && (jobDir == null || !jobDir.getName().startsWith(m.group(1)))) {
            throw new IOException(refusal + "\nNo fallback (" + RecoveryGuardOptions.FALLBACK.key() + "): " + pointer
                    + " is a savepoint of a job whose id begins " + m.group(1) + ", in " + jobDir + ", a directory not"
                    + " named by that job's id: the checkpoints there, if any, are not known to be that job's. Name an"
                    + " older checkpoint or savepoint of the job instead.");
        }
    }

    /**
     * A named {@code chk-N} with nothing stored under it is not fallen back from: on an object
     * store it is what a name that never was a checkpoint (a mistyped id) looks like, and on a
     * local disk or HDFS Flink and the guard refuse such a name as missing. Falling back from it
     * would resume the newest checkpoint below the typo (the job's newest, when above them all),
     * not the one the operator meant to roll back to. A {@code chk-N} that holds anything but its
     * {@code _metadata} is one that lost it, and is fallen back from as asked.
     */
    private static void refuseANameWithNothingStored(CheckpointInspector inspector, Path jobDir, String pointer,
            Path checkpoint, long namedId, String refusal) throws IOException {
        List<io.github.s3tiered.inspector.JobDirectory> jobs;
        try {
            jobs = inspector.discover(jobDir);
        } catch (IOException e) {
            throw new IOException(refusal + "\nNot resuming from " + KEY + " = " + pointer + ": the checkpoints of " + jobDir
                    + " could not be listed (" + e.getMessage() + "). Nothing was resumed.", e);
        }
        long highest = -1;
        for (io.github.s3tiered.inspector.JobDirectory job : jobs) {
            for (io.github.s3tiered.inspector.CheckpointLocation cp : job.checkpoints()) {
                if (io.github.s3tiered.inspector.PathKey.of(cp.path()).equals(io.github.s3tiered.inspector.PathKey.of(checkpoint))) {
                    return; // it exists: a checkpoint without _metadata, fallen back from as asked
                }
                highest = Math.max(highest, cp.idFromName());
            }
        }
        throw new IOException(refusal + "\nNo fallback (" + RecoveryGuardOptions.FALLBACK.key() + "): nothing is stored"
                + " under " + checkpoint + (namedId > highest ? ", and its id is above every checkpoint of " + jobDir
                        + (highest < 0 ? "" : " (the newest is chk-" + highest + ")") : "")
                + ": no such checkpoint (a mistyped id?), or one that lost its only object, its _metadata. Nothing was"
                + " resumed. Name an existing checkpoint (recovery-inspector list " + jobDir + " shows them), or the"
                + " job directory to resume its newest restorable one.");
    }

    private String newestRestorable(CheckpointInspector inspector, Path jobDir, String pointer) throws IOException {
        RestorePoint rp = searchJobDirectory(inspector, jobDir, pointer, new RestorePointOptions(false, deep, null), "");
        if (rp.runsDisagree()) {
            throw new IOException("Not resuming from " + KEY + " = " + pointer + ". " + rp.explanation()
                    + " (recovery-inspector restore-point " + jobDir + " shows the same). Nothing was resumed.");
        }
        if (rp.outcome() == Outcome.UNKNOWN) {
            throw new IOException(undecided(pointer, rp.undecided().orElseThrow()) + "\n" + rp.explanation());
        }
        if (rp.path().isEmpty()) {
            throw new IOException(KEY + " = " + pointer + " names a job's checkpoint directory without any restorable "
                    + "checkpoint: " + rp.explanation());
        }
        if (rp.skipped().isEmpty()
                || rp.skipped().size() == 1 && rp.skipped().get(0).verdict() == Verdict.NO_METADATA) {
            // none, or the newest without _metadata: the checkpoint that was being written when the job
            // stopped (an older one without it had completed and lost it: damage, below)
            LOG.info("Recovery guard: {} names a job directory; its newest restorable checkpoint is {}{}", pointer,
                    rp.path().get(), rp.skipped().isEmpty() ? "" : " (" + rp.explanation() + ")");
        } else {
            LOG.error("\n********************************************************************************\n"
                            + "Recovery guard: {} names a job directory whose newer checkpoints are NOT restorable.\n{}\n"
                            + "Resuming from {}: records after it are processed again.\n"
                            + "********************************************************************************",
                    pointer, rp.explanation(), rp.path().get());
        }
        return rp.path().get().toString();
    }

    /**
     * The inspector's search of a job directory, whose listings may fail (a storage that stopped
     * answering, a directory that keeps changing); the failure then names the key, the pointer and
     * the directory, and says that nothing was resumed: no older checkpoint is taken in its place.
     */
    private static RestorePoint searchJobDirectory(CheckpointInspector inspector, Path jobDir, String pointer,
            RestorePointOptions options, String before) throws IOException {
        try {
            return inspector.restorePoint(jobDir, options);
        } catch (FileNotFoundException e) {
            throw new IOException(before + "Not resuming from " + KEY + " = " + pointer + ": " + jobDir + " disappeared while"
                    + " its checkpoints were searched (" + e.getMessage() + "). Nothing was resumed.", e);
        } catch (IOException e) {
            throw new IOException(before + "Not resuming from " + KEY + " = " + pointer + ": the checkpoints of " + jobDir
                    + " could not be searched (" + e.getMessage() + "). Nothing was resumed, and no older checkpoint is"
                    + " used in its place; retry when the storage answers.", e);
        }
    }

    private static String undecided(String pointer, Validation v) {
        return "Not resuming from " + KEY + " = " + pointer + ": " + v.path() + " could not be checked (" + v.reason()
                + "). Nothing was resumed, and no older checkpoint is used in its place. Where the storage could not be"
                + " read, retry when it answers; where the checkpoint holds what this version cannot check (state handles"
                + " of a type it cannot map to files), " + RecoveryGuardOptions.VALIDATE.key() + ": false resumes"
                + " unchecked.";
    }

    private static String refusal(String pointer, Validation v) {
        StringBuilder sb = new StringBuilder("Refusing to resume from ").append(KEY).append(" = ").append(pointer)
                .append(": the checkpoint cannot be restored (").append(v.verdict().meaning()).append("). ").append(v.reason());
        List<String> files = v.filesConcerned();
        if (!files.isEmpty()) {
            sb.append("\nFiles concerned (").append(files.size()).append("):");
            files.stream().limit(MAX_FILES_IN_MESSAGE).forEach(f -> sb.append("\n  ").append(f));
            if (files.size() > MAX_FILES_IN_MESSAGE) {
                sb.append("\n  ... and ").append(files.size() - MAX_FILES_IN_MESSAGE).append(" more");
            }
        }
        return sb.toString();
    }

    private static ClassLoader classLoader() {
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        return context != null ? context : RecoveryGuard.class.getClassLoader();
    }
}
