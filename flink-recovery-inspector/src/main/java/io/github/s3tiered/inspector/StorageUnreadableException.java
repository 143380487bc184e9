package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.io.IOException;

/**
 * The storage did not answer a request (throttled, timed out, unreachable, access denied): the
 * path may be fine, nothing is known about it. Validation turns it into {@link Verdict#UNKNOWN},
 * never into a verdict about the checkpoint.
 */
public final class StorageUnreadableException extends IOException {

    private static final long serialVersionUID = 1L;

    public StorageUnreadableException(String operation, Path path, IOException cause) {
        super("Could not " + operation + " " + path + ": " + describe(cause), cause);
    }

    private static String describe(Throwable e) {
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : msg;
    }
}
