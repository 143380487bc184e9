package io.github.s3tiered.inspector;

/**
 * Whether a checkpoint can be restored, or the first reason it cannot. Declared from the most
 * basic to the most subtle problem: the verdict of a checkpoint with several problems is the first
 * of them in this order (all of them are listed in {@link Validation#problems()}).
 */
public enum Verdict {
    RESTORABLE("restorable"),
    NO_METADATA("no _metadata: the checkpoint is in progress, was aborted, or its metadata was deleted"),
    CORRUPT_METADATA("the _metadata file cannot be read"),
    MISSING_FILES("files it references are missing or unreadable"),
    SIZE_MISMATCH("files it references do not have the recorded size"),
    CHECKSUM_MISMATCH("files it references do not match the checksum recorded when they were written");

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
}
