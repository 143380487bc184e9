package io.github.s3tiered.inspector;

/** A retained checkpoint ({@code chk-N}) or a savepoint ({@code savepoint-*}). */
public enum CheckpointKind {
    CHECKPOINT,
    SAVEPOINT
}
