package io.github.s3tiered.inspector;

/**
 * Whether a checkpoint can be restored, or the first reason it cannot. Declared from the most
 * basic to the most subtle problem: the verdict of a checkpoint with several problems is the first
 * of them in this order (all of them are listed in {@link Validation#problems()}). {@link #UNKNOWN}
 * comes last and is not a reason: it means the storage could not be read, so nothing was proven
 * either way; a proven problem elsewhere in the same checkpoint still decides the verdict.
 */
public enum Verdict {
    RESTORABLE("restorable"),
    NO_METADATA("no _metadata: the checkpoint is in progress, was aborted, or its metadata was deleted"),
    CORRUPT_METADATA("the _metadata file cannot be read or contradicts itself"),
    MISSING_FILES("files it references are missing"),
    SIZE_MISMATCH("files it references do not have the recorded size"),
    CHECKSUM_MISMATCH("files it references do not match the checksum recorded when they were written"),
    CORRUPT_STATE("files it references fail the restore rehearsal: their content cannot be restored"),
    UNKNOWN("the storage could not be read (throttled, timed out, unreachable or denied): nothing was proven");

    private final String meaning;

    Verdict(String meaning) {
        this.meaning = meaning;
    }

    public String meaning() {
        return meaning;
    }

    public boolean restorable() {
        return this == RESTORABLE;
    }

    /** RESTORABLE, NOT_RESTORABLE, or UNKNOWN. */
    public Outcome outcome() {
        return switch (this) {
            case RESTORABLE -> Outcome.RESTORABLE;
            case UNKNOWN -> Outcome.UNKNOWN;
            default -> Outcome.NOT_RESTORABLE;
        };
    }
}
