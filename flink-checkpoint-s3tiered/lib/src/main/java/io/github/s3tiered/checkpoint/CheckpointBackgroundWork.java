package io.github.s3tiered.checkpoint;

import io.github.s3tiered.preupload.SstPreUploader;

import java.time.Duration;

/**
 * The work this process goes on doing after a job ended: uploads ahead of checkpoints and their
 * withdrawals (TaskManager), and the verification of the last completed checkpoint with its status
 * file and orphan removal, the deletion of failed checkpoints' directories and the pre-upload grace
 * record (JobManager). All
 * of it writes into or removes from the local tier, so whoever deletes a tier directory (a test's
 * temporary directory) waits for it first.
 */
public final class CheckpointBackgroundWork {

    private CheckpointBackgroundWork() {}

    /** True when all of it ended within the timeout. */
    public static boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        // a verification may write nothing until the uploads it lists have ended, and an upload may
        // be withdrawn by a sweep: wait for both until both are idle at once
        while (true) {
            if (!SstPreUploader.awaitIdle(remaining(deadline))
                    || !CompletedCheckpointVerifier.awaitAllIdle(remaining(deadline))
                    || !FailedCheckpointDisposal.awaitIdle(remaining(deadline))
                    || !PreUploadGraceFile.awaitIdle(remaining(deadline))) {
                return false;
            }
            if (SstPreUploader.awaitIdle(Duration.ZERO) && CompletedCheckpointVerifier.awaitAllIdle(Duration.ZERO)
                    && FailedCheckpointDisposal.awaitIdle(Duration.ZERO) && PreUploadGraceFile.awaitIdle(Duration.ZERO)) {
                return true;
            }
        }
    }

    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    }
}
