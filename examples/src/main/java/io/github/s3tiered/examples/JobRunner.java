package io.github.s3tiered.examples;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointStatsStatus;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.messages.FlinkJobTerminatedWithoutCancellationException;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;

/** Runs jobs on a MiniCluster and reads their checkpoint statistics. */
public final class JobRunner {

    private JobRunner() {}

    public static JobID submit(MiniCluster cluster, StreamExecutionEnvironment env) throws Exception {
        // a JobGraph: what both Flink lines' MiniCluster take
        JobGraph graph = env.getStreamGraph().getJobGraph();
        cluster.submitJob(graph).get();
        return graph.getJobID();
    }

    /** Completed checkpoints, oldest first. */
    public static List<CompletedCheckpointStats> completedCheckpoints(MiniCluster cluster, JobID job) throws Exception {
        AccessExecutionGraph graph = cluster.getExecutionGraph(job).get();
        List<CompletedCheckpointStats> out = new ArrayList<>();
        if (graph.getCheckpointStatsSnapshot() == null) {
            return out;
        }
        for (AbstractCheckpointStats s : graph.getCheckpointStatsSnapshot().getHistory().getCheckpoints()) {
            if (s.getStatus() == CheckpointStatsStatus.COMPLETED) {
                out.add((CompletedCheckpointStats) s);
            }
        }
        out.sort(Comparator.comparingLong(AbstractCheckpointStats::getCheckpointId));
        return out;
    }

    /**
     * Waits until the job reached a terminal state, calling {@code onCheckpoint} for each checkpoint
     * as it completes; returns the job's result.
     */
    public static JobResult await(MiniCluster cluster, JobID job, Duration timeout, Consumer<CompletedCheckpointStats> onCheckpoint)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long lastSeen = -1;
        while (System.nanoTime() < deadline) {
            JobStatus status = cluster.getJobStatus(job).get();
            for (CompletedCheckpointStats c : completedCheckpoints(cluster, job)) {
                if (c.getCheckpointId() > lastSeen) {
                    lastSeen = c.getCheckpointId();
                    onCheckpoint.accept(c);
                }
            }
            if (status.isGloballyTerminalState()) {
                return cluster.requestJobResult(job).get();
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("Job " + job + " did not finish within " + timeout);
    }

    /** Waits until the job has completed at least {@code count} checkpoints. */
    public static CompletedCheckpointStats awaitCheckpoints(MiniCluster cluster, JobID job, int count, Duration timeout)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            // counted by Flink, not from the history, which keeps only the newest few (web.checkpoints.history)
            var stats = cluster.getExecutionGraph(job).get().getCheckpointStatsSnapshot();
            List<CompletedCheckpointStats> done = completedCheckpoints(cluster, job);
            if (stats != null && stats.getCounts().getNumberOfCompletedCheckpoints() >= count && !done.isEmpty()) {
                return done.get(done.size() - 1);
            }
            failIfEnded(cluster, job, count + " checkpoints");
            Thread.sleep(50);
        }
        throw new IllegalStateException("Job " + job + " did not complete " + count + " checkpoints within " + timeout);
    }

    /**
     * Cancels the job and returns its newest completed checkpoint once it is CANCELED: one that
     * completed between an earlier look and the cancellation may have subsumed an older one.
     */
    public static CompletedCheckpointStats cancelKeepingNewest(MiniCluster cluster, JobID job, Duration timeout)
            throws Exception {
        cluster.cancelJob(job).get();
        awaitStatus(cluster, job, JobStatus.CANCELED, timeout);
        List<CompletedCheckpointStats> done = completedCheckpoints(cluster, job);
        if (done.isEmpty()) {
            throw new IllegalStateException("Job " + job + " was cancelled without a completed checkpoint");
        }
        return done.get(done.size() - 1);
    }

    /**
     * Cancels the job and returns how it ended: CANCELED, or the end it reached on its own while the
     * cancellation was on its way (Flink refuses a cancellation that arrives after the job failed or
     * finished; that race is not an error of the caller).
     */
    public static JobResult cancelAndAwaitEnd(MiniCluster cluster, JobID job, Duration timeout) throws Exception {
        try {
            cluster.cancelJob(job).get();
        } catch (ExecutionException refused) {
            if (!(refused.getCause() instanceof FlinkJobTerminatedWithoutCancellationException)) {
                throw refused;
            }
        }
        return await(cluster, job, timeout, c -> {});
    }

    /** Waits until a checkpoint with at least this id completed; returns the newest completed one. */
    public static CompletedCheckpointStats awaitCheckpointId(MiniCluster cluster, JobID job, long minId, Duration timeout)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            List<CompletedCheckpointStats> done = completedCheckpoints(cluster, job);
            if (!done.isEmpty() && done.get(done.size() - 1).getCheckpointId() >= minId) {
                return done.get(done.size() - 1);
            }
            failIfEnded(cluster, job, "checkpoint " + minId);
            Thread.sleep(50);
        }
        throw new IllegalStateException("Job " + job + " did not complete checkpoint " + minId + " within " + timeout);
    }

    private static void failIfEnded(MiniCluster cluster, JobID job, String awaited) throws Exception {
        JobStatus status = cluster.getJobStatus(job).get();
        if (status.isGloballyTerminalState()) {
            String cause = cluster.requestJobResult(job).get().getSerializedThrowable()
                    .map(t -> ": " + t.getFullStringifiedStackTrace()).orElse("");
            throw new IllegalStateException("Job " + job + " ended (" + status + ") before " + awaited + cause);
        }
    }

    /** Waits until the job is running again after a restart, i.e. with more than one attempt. */
    public static void awaitStatus(MiniCluster cluster, JobID job, JobStatus wanted, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (cluster.getJobStatus(job).get() == wanted) {
                return;
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("Job " + job + " did not reach " + wanted + " within " + timeout);
    }

    public static String describe(CompletedCheckpointStats c) {
        return String.format("checkpoint %3d  %5d ms  %8.1f KiB checkpointed  %8.1f KiB full state",
                c.getCheckpointId(), c.getEndToEndDuration(), c.getCheckpointedSize() / 1024.0, c.getStateSize() / 1024.0);
    }
}
