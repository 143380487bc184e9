package io.github.s3tiered.s3;

import java.io.IOException;

/**
 * Runs an S3 request that cleans up after a failed or cancelled transfer (aborting a multipart
 * upload, deleting an object a cancelled upload completed) even on a thread that was interrupted.
 * Flink cancels a checkpoint by interrupting the thread that uploads it, and the SDK refuses every
 * request on an interrupted thread ("Thread was interrupted"), so the clean-up would fail and leave
 * the upload or the object behind. The interrupt is set again afterwards: the caller still ends as
 * interrupted. The request is retried as any other (each attempt bounded by {@code
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
