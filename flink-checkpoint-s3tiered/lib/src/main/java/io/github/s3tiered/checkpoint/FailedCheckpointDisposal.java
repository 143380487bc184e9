package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Deletes the directories of failed checkpoints on a thread of its own. Flink calls a location's
 * {@code disposeOnFailure()} on the JobManager's main thread whenever the discard of the
 * checkpoint's task states is already done when it is asked for (its {@code runAfterwards} runs
 * the disposal in the caller then): every failover with a checkpoint in progress does so, from
 * {@code CheckpointCoordinator.stopCheckpointScheduler}. On S3 that delete is a listing and a
 * batch delete, with their retries: measured holding the failover for 800 ms once S3 answered the
 * batch delete with a 500. Nothing waits for the directory to be gone: a failed checkpoint's id is
 * never used again, and its files are no checkpoint's. If the process ends first, the directory
 * stays, without {@code _metadata}, for the orphan removal.
 */
final class FailedCheckpointDisposal {

    private static final Logger LOG = LoggerFactory.getLogger(FailedCheckpointDisposal.class);

    /** An I/O step, as {@code disposeOnFailure} is. */
    interface Disposal {
        void run() throws Exception;
    }

    // One thread: failed checkpoints are few, and their deletes need not compete with each other.
    private static final ThreadPoolExecutor POOL = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
                Thread t = new Thread(r, "s3tiered-failed-checkpoint-disposal");
                t.setDaemon(true);
                return t;
            });

    static {
        POOL.allowCoreThreadTimeOut(true);
    }

    /** Guarded by the class: disposals submitted and not yet ended. */
    private static int running;

    private FailedCheckpointDisposal() {}

    /**
     * Runs {@code disposal} in the background, then {@code afterwards} whatever its outcome; a
     * failure is logged naming {@code what}.
     */
    static void submit(String what, Disposal disposal, Runnable afterwards) {
        synchronized (FailedCheckpointDisposal.class) {
            running++;
        }
        try {
            POOL.execute(() -> {
                try {
                    disposal.run();
                } catch (Throwable t) {
                    LOG.warn("Could not delete {} of a failed checkpoint (the orphan removal takes it later): {}", what,
                            t.toString());
                } finally {
                    try {
                        afterwards.run();
                    } finally {
                        ended();
                    }
                }
            });
        } catch (RuntimeException rejected) {
            ended();
            throw rejected;
        }
    }

    private static synchronized void ended() {
        running--;
        FailedCheckpointDisposal.class.notifyAll();
    }

    /** The failed checkpoint's directory where Flink's location tells it, for the log. */
    static String describe(CheckpointStorageLocation location) {
        return location instanceof FsCheckpointStorageLocation fs
                ? fs.getCheckpointDirectory().toString() : location.toString();
    }

    /** True when every disposal submitted has ended within the timeout. */
    static synchronized boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (running > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(FailedCheckpointDisposal.class, left);
        }
        return true;
    }
}
