package io.github.s3tiered.inspector.rehearsal;

/**
 * A state file could not be decoded. {@link #damage()} tells whether that proves the file broken,
 * or only that the inspector lacks what the job has (its classes).
 */
final class StateDecodingException extends java.io.IOException {

    private static final long serialVersionUID = 1L;

    private final boolean damage;

    StateDecodingException(String message, boolean damage, Throwable cause) {
        super(message, cause);
        this.damage = damage;
    }

    boolean damage() {
        return damage;
    }
}
