package io.github.s3tiered.inspector;

/** What a directory given by a user holds. */
public enum PathRole {
    /** One checkpoint: a {@code chk-N} directory, or any directory with a {@code _metadata} file. */
    CHECKPOINT,
    /** One savepoint: a {@code savepoint-*} directory. */
    SAVEPOINT,
    /** One job's checkpoint directory: {@code chk-N}, {@code savepoint-*}, {@code shared/}, {@code taskowned/}. */
    JOB_DIRECTORY,
    /** A directory holding job directories (the configured {@code execution.checkpointing.dir}). */
    BASE_DIRECTORY,
    /** None of the above (for example an empty directory). */
    UNKNOWN;

    public boolean singleCheckpoint() {
        return this == CHECKPOINT || this == SAVEPOINT;
    }
}
