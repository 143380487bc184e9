package io.github.s3tiered.inspector.cli;

/** A failure to report as one clear message with exit code 2 (configuration, unreachable storage). */
final class InspectorFailure extends RuntimeException {

    InspectorFailure(String message, Throwable cause) {
        super(message, cause);
    }

    InspectorFailure(String message) {
        super(message);
    }
}
