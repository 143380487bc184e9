package io.github.s3tiered.examples;

import io.github.s3tiered.backend.RestoreTimings;
import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The README's first command: starts an S3 server and a MiniCluster, runs the recovery example on
 * s3tiered:// with an injected failure, restores once from the local tier and once from S3 after
 * wiping the tier, checks the final state against a failure-free run, and prints a report.
 */
public final class Demo {

    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private final List<String[]> report = new ArrayList<>();
    private final EmbeddedCluster embedded;
    private int step;

    private Demo(EmbeddedCluster embedded) {
        this.embedded = embedded;
    }

    public static void main(String[] args) throws Exception {
        long start = System.nanoTime();
        System.out.println("s3tiered demo: checkpoints through a local tier to S3, failure, restores, exact state\n");
        progress("Starting an S3 server (S3Proxy in its own JVM) and a Flink MiniCluster ...");
        boolean exact;
        try (EmbeddedCluster embedded = EmbeddedCluster.start(2)) {
            System.out.printf("      S3 endpoint %s, bucket %s; local tier %s%n", embedded.s3().endpoint(),
                    embedded.s3().bucket(), embedded.localTier());
            Demo demo = new Demo(embedded);
            exact = demo.failureAndRecovery() & demo.resumeFromLocalTierThenFromS3();
            demo.printReport();
        }
        System.out.printf(Locale.ROOT, "%nDone in %.0f s: %s. Flink's log: %s%n", (System.nanoTime() - start) / 1e9,
                exact ? "state exact in every run" : "STATE NOT EXACT", System.getProperty("demo.log.file", "examples/target/demo.log"));
        System.exit(exact ? 0 : 1);
    }

    private static void progress(String what) {
        System.out.println("... " + what);
    }

    private void header(String title) {
        System.out.printf("%n[%d] %s%n", ++step, title);
    }

    /** Run 1: a failure mid-stream, restore from the latest checkpoint (local tier), exact state. */
    private boolean failureAndRecovery() throws Exception {
        header("Recovery example with a failure injected mid-stream");
        String dir = embedded.checkpointDir("run-with-failure");
        Path output = embedded.workDir().resolve("output-1");
        RecoveryJob.Settings s = new RecoveryJob.Settings(300_000, 30_000, 30_000, 150_000, output.toString());
        StreamExecutionEnvironment env = environment(dir, null);
        RecoveryJob.build(env, s);
        Map<String, Long> before = transfer();
        long t0 = System.currentTimeMillis();
        JobID job = JobRunner.submit(embedded.cluster(), env);
        System.out.println("      job " + job + ", " + s.records() + " records over " + s.keys() + " keys, checkpoints to " + dir);
        JobResult result = JobRunner.await(embedded.cluster(), job, TIMEOUT, c -> System.out.println("      " + JobRunner.describe(c)));
        Map<String, Long> after = transfer();
        var restores = RestoreTimings.since(t0);
        System.out.printf("      failure injected and recovered: %d subtask restores; restored %s from the local tier, %s from S3%n",
                restores.size(), kib(delta(before, after, "restoreBytesFromLocalTier")), kib(delta(before, after, "restoreBytesFromS3")));
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        System.out.println("      final state: " + v + " (job " + (result.isSuccess() ? "FINISHED" : "FAILED") + ")");
        addRow("failure + automatic restore", restores, before, after, v);
        return v.exact() && result.isSuccess();
    }

    /** Run 2: cancel with a retained checkpoint; resume from the local tier; wipe it; resume from S3. */
    private boolean resumeFromLocalTierThenFromS3() throws Exception {
        header("Cancel with a retained checkpoint, then resume it from the local tier");
        String dir = embedded.checkpointDir("run-resumed");
        Path output = embedded.workDir().resolve("output-2");
        RecoveryJob.Settings s = new RecoveryJob.Settings(300_000, 30_000, 30_000, 0, output.toString());

        String checkpoint = runUntilCheckpointsThenCancel(environment(dir, null), s, 3);
        System.out.println("      cancelled; retained " + checkpoint);

        Map<String, Long> before = transfer();
        long t0 = System.currentTimeMillis();
        checkpoint = runUntilCheckpointsThenCancel(environment(dir, checkpoint), s, 2);
        Map<String, Long> after = transfer();
        var restores = RestoreTimings.since(t0);
        printRestore(restores, before, after);
        addRow("resume, local tier intact", restores, before, after, null);

        header("Wipe the local tier (as on a new host), resume from S3, run to the end");
        embedded.wipeLocalTier();
        before = transfer();
        t0 = System.currentTimeMillis();
        StreamExecutionEnvironment env = environment(dir, checkpoint);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(embedded.cluster(), env);
        JobResult result = JobRunner.await(embedded.cluster(), job, TIMEOUT, c -> {});
        after = transfer();
        restores = RestoreTimings.since(t0);
        printRestore(restores, before, after);
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        System.out.println("      final state after two resumes: " + v);
        addRow("resume, local tier wiped", restores, before, after, v);
        return v.exact() && result.isSuccess();
    }

    private String runUntilCheckpointsThenCancel(StreamExecutionEnvironment env, RecoveryJob.Settings s, int checkpoints)
            throws Exception {
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(embedded.cluster(), env);
        CompletedCheckpointStats last = JobRunner.awaitCheckpoints(embedded.cluster(), job, checkpoints, TIMEOUT);
        embedded.cluster().cancelJob(job).get();
        JobRunner.awaitStatus(embedded.cluster(), job, JobStatus.CANCELED, TIMEOUT);
        return last.getExternalPath();
    }

    private StreamExecutionEnvironment environment(String checkpointDir, String restoreFrom) {
        Configuration conf = StateRecoveryExample.checkpointing(checkpointDir, Duration.ofSeconds(1));
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        if (restoreFrom != null) {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(embedded.parallelism());
        return env;
    }

    private void printRestore(List<RestoreTimings.Restore> restores, Map<String, Long> before, Map<String, Long> after) {
        for (RestoreTimings.Restore r : restores) {
            System.out.printf("      subtask %d: state restored in %d ms (download %d ms + RocksDB open %d ms)%n", r.subtask(),
                    r.downloadMs() + r.restoreMs(), r.downloadMs(), r.restoreMs());
        }
        System.out.printf("      restored %s from the local tier, %s from S3%n",
                kib(delta(before, after, "restoreBytesFromLocalTier")), kib(delta(before, after, "restoreBytesFromS3")));
    }

    private void addRow(String what, List<RestoreTimings.Restore> restores, Map<String, Long> before, Map<String, Long> after,
            ExpectedResults.Verification v) {
        long maxRestore = restores.stream().mapToLong(r -> r.downloadMs() + r.restoreMs()).max().orElse(0);
        report.add(new String[] {what, String.valueOf(restores.size()), maxRestore + " ms",
                kib(delta(before, after, "restoreBytesFromLocalTier")), kib(delta(before, after, "restoreBytesFromS3")),
                kib(delta(before, after, "bytesUploaded")), v == null ? "(continues)" : v.exact() ? "exact" : "NOT exact"});
    }

    private void printReport() {
        header("Report");
        String fmt = "      %-28s %9s %12s %14s %12s %12s %11s%n";
        System.out.printf(fmt, "run", "restores", "restore max", "from local", "from S3", "uploaded", "state");
        for (String[] r : report) {
            System.out.printf(fmt, (Object[]) r);
        }
    }

    private Map<String, Long> transfer() throws Exception {
        FileSystem fs = FileSystem.get(URI.create(BridgeContract.SCHEME + "://" + embedded.s3().bucket() + "/"));
        return S3TieredBridge.of(fs).orElseThrow().transferMetrics().figures();
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String name) {
        return after.getOrDefault(name, 0L) - before.getOrDefault(name, 0L);
    }

    private static String kib(long bytes) {
        return bytes >= 10 << 20 ? String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0)
                : String.format(Locale.ROOT, "%.0f KiB", bytes / 1024.0);
    }
}
