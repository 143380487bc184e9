package io.github.s3tiered.bridge;

import io.github.s3tiered.bridge.BridgeContract.ErrorCode;

import java.io.IOException;

/** A bridge operation that failed; {@link #code()} says how, the message says on what. */
public final class S3TieredBridgeException extends IOException {

    private final ErrorCode code;
    private final String operation;

    public S3TieredBridgeException(ErrorCode code, String operation, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.operation = operation;
    }

    public ErrorCode code() {
        return code;
    }

    public String operation() {
        return operation;
    }
}
