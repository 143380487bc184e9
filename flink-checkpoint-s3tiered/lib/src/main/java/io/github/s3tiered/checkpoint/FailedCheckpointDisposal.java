package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.DaemonThreads;
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
 * never used again, and its files are no checkpoint's. Flink's own count of checkpoints being
 * cleaned (which holds back new triggers) no longer includes these deletes; failed checkpoints are
 * few. A process that exits waits for queued deletes up to {@link #EXIT_WAIT} (a shutdown hook);
 * a directory still left then has no {@code _metadata}: the inspector's {@code orphans} lists it,
 * and the storage's orphan removal, which deletes only unreferenced files under {@code shared/},
 * does not take it. A failed savepoint's directory goes the same way ({@link BackgroundDisposingLocation}).
 */
final class FailedCheckpointDisposal {

    private static final Logger LOG = LoggerFactory.getLogger(FailedCheckpointDisposal.class);

    /** An I/O step, as {@code disposeOnFailure} is. */
    interface Disposal {
        void run() throws Exception;
    }

    // One thread: failed checkpoints are few, and their deletes need not compete with each other.
    private static final ThreadPoolExecutor POOL = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS,
            // not the submitting thread's (possibly a job's) class loader: the thread outlives jobs
            new LinkedBlockingQueue<>(), r -> DaemonThreads.newThread(r, "s3tiered-failed-checkpoint-disposal",
                    FailedCheckpointDisposal.class.getClassLoader()));

    static final Duration EXIT_WAIT = Duration.ofSeconds(10);

    static {
        POOL.allowCoreThreadTimeOut(true);
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    if (!awaitIdle(EXIT_WAIT)) {
                        LOG.warn("Exiting with directories of failed checkpoints not deleted yet (the inspector's orphans lists them)");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "s3tiered-failed-checkpoint-disposal-at-exit"));
        } catch (IllegalStateException | SecurityException exiting) {
            // the JVM is already exiting, or may not be given hooks: nothing to wait in
        }
    }

    /** Disposals submitted and not yet ended. */
    private static final RunningCount RUNNING = new RunningCount();

    private FailedCheckpointDisposal() {}

    /**
     * Runs {@code disposal} in the background, then {@code afterwards} whatever its outcome; a
     * failure is logged naming {@code what}.
     */
    static void submit(String what, Disposal disposal, Runnable afterwards) {
        RUNNING.started();
        try {
            POOL.execute(() -> {
                try {
                    disposal.run();
                } catch (Throwable t) {
                    LOG.warn("Could not delete {}, the directory of a failed checkpoint (the inspector's orphans lists"
                            + " what is left): {}", what, t.toString());
                } finally {
                    try {
                        afterwards.run();
                    } finally {
                        ended();
                    }
                }
            });
        } catch (Throwable notStarted) { // rejected, or no thread could be made
            ended();
            throw notStarted;
        }
    }

    private static void ended() {
        RUNNING.ended();
    }

    /** The failed checkpoint's directory where Flink's location tells it, for the log. */
    static String describe(CheckpointStorageLocation location) {
        return location instanceof FsCheckpointStorageLocation fs
                ? fs.getCheckpointDirectory().toString() : location.toString();
    }

    /** True when every disposal submitted has ended within the timeout. */
    static boolean awaitIdle(Duration timeout) throws InterruptedException {
        return RUNNING.awaitIdle(timeout);
    }
}
