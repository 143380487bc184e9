package io.github.s3tiered.inspector;

/**
 * How to choose a restore point.
 *
 * @param includeSavepoints also consider the job directory's {@code savepoint-*} directories
 * @param deep validate candidates in deep mode (reads every file: slow)
 * @param job when not null, report what Flink would reject when this job restores
 */
public record RestorePointOptions(boolean includeSavepoints, boolean deep, JobShape job) {

    public static RestorePointOptions checkpointsOnly() {
        return new RestorePointOptions(false, false, null);
    }
}
