package io.github.s3tiered.inspector;

/**
 * Something in a checkpoint that Flink would reject when the given job restores from it.
 *
 * @param kind what is wrong
 * @param operatorId the operator concerned (32 hex digits)
 * @param reason for a human
 */
public record CompatibilityIssue(Kind kind, String operatorId, String reason) {

    public enum Kind {
        /** State of an operator the job does not have: rejected unless allowNonRestoredState. */
        STATE_WITHOUT_OPERATOR,
        /** The operator's max parallelism in the checkpoint differs from the job's. */
        MAX_PARALLELISM_MISMATCH
    }
}
