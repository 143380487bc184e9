package io.github.s3tiered.inspector;

/**
 * What a validation proved. Only {@link #RESTORABLE} lets a job resume from a checkpoint;
 * {@link #UNKNOWN} is never treated as either of the others: the guard fails the submission and
 * the restore-point search stops at it instead of skipping to an older checkpoint.
 */
public enum Outcome {
    /** Every check passed. */
    RESTORABLE,
    /** A check failed; the {@link Verdict} says which. */
    NOT_RESTORABLE,
    /** The storage could not be read, so the checkpoint could not be judged. */
    UNKNOWN
}
