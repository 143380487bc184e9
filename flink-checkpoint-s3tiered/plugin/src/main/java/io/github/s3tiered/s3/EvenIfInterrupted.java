package io.github.s3tiered.s3;

import java.io.IOException;

/**
 * Runs a step that an interrupt must not cut short, with the thread's interrupt put aside and set
 * again afterwards (the caller still ends as interrupted). Flink cancels a checkpoint or a restore
 * by interrupting its threads. The SDK refuses every request on an interrupted thread ("Thread was
 * interrupted"), so a clean-up after a failed or cancelled transfer (aborting a multipart upload,
 * deleting an object a cancelled upload completed) would fail and leave the upload or the object
 * behind; and a file lock taken on an interrupted thread fails, so the local tier's bookkeeping
 * would. An S3 request run here is retried as any other (each attempt bounded by {@code
 * s3tiered.request.timeout}); a new interrupt during it ends a retry wait.
 */
public final class EvenIfInterrupted {

    /** A clean-up request. */
    public interface Request<T> {
        T run() throws IOException;
    }

    private EvenIfInterrupted() {}

    public static <T> T run(Request<T> request) throws IOException {
        boolean interrupted = Thread.interrupted();
        try {
            return request.run();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
