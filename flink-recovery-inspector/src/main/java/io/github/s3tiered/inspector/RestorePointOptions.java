package io.github.s3tiered.inspector;

/**
 * How to choose a restore point.
 *
 * @param includeSavepoints also consider the job directory's {@code savepoint-*} directories
 * @param deep validate candidates in deep mode (reads every file: slow)
 * @param job when not null, report what Flink would reject when this job restores
 * @param belowId consider only checkpoints with a lower id ({@link Long#MAX_VALUE}: all): a
 *     fallback from a named checkpoint goes back, never forward past what the operator named
 */
public record RestorePointOptions(boolean includeSavepoints, boolean deep, JobShape job, long belowId) {

    public RestorePointOptions(boolean includeSavepoints, boolean deep, JobShape job) {
        this(includeSavepoints, deep, job, Long.MAX_VALUE);
    }

    /** These options, for checkpoints older than {@code checkpointId} only. */
    public RestorePointOptions below(long checkpointId) {
        return new RestorePointOptions(includeSavepoints, deep, job, checkpointId);
    }

    public static RestorePointOptions checkpointsOnly() {
        return new RestorePointOptions(false, false, null);
    }
}
