package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.rawClient;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * S3 goes away for 20 s while a job runs (the S3 server's process stopped, then started again on the
 * same port with the same data): checkpoints fail or wait, the job keeps running (or recovers), no
 * checkpoint completes that is not entirely in S3 (each completed checkpoint is judged by the
 * recovery inspector, which reads S3 only), and the job ends with exactly the state of a
 * failure-free run.
 */
class S3OutageITCase implements AwaitsBackgroundUploads {

    static final long OUTAGE_MS = 20_000;

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setConfiguration(retainingAll())
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(RecoveryTestSupport.PARALLELISM)
                    .build());

    /**
     * Every checkpoint is kept while the job runs, so that each one can be judged after it completed
     * without racing Flink's deletion of subsumed checkpoints (a deleted one would look broken).
     */
    private static Configuration retainingAll() {
        Configuration conf = RecoveryTestSupport.clusterConfig();
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 1000);
        return conf;
    }

    @TempDir java.nio.file.Path localTier;
    @TempDir java.nio.file.Path output;

    @Test
    void aTwentySecondOutageOnlyFailsOrDelaysCheckpointsAndTheJobEndsWithExactState(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        assumeTrue(S3.server().isLocalProcess(), "the S3 server must be a process this test can stop");
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/outage";
        // ~53 s of input: runs before, through and after the outage (and a slow restart of the server).
        RecoveryJob.Settings s = new RecoveryJob.Settings(80_000, 1_000, 1_500, 0, output.toString());
        StreamExecutionEnvironment env = environment(dir, null, Map.of(
                "execution.checkpointing.interval", "1 s",
                "execution.checkpointing.timeout", "30 s",
                "execution.checkpointing.tolerable-failed-checkpoints", "1000",
                "restart-strategy.type", "fixed-delay",
                "restart-strategy.fixed-delay.attempts", "30",
                "restart-strategy.fixed-delay.delay", "1 s"));
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        Observer observer = new Observer(cluster, job);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

        JobRunner.awaitCheckpoints(cluster, job, 3, TIMEOUT);
        observer.poll();
        long lastBefore = observer.newestCompleted();
        Validation beforeOutage = inspector.validate(new Path(strip(observer.completed.get(lastBefore).getExternalPath())), false);
        assertThat(beforeOutage.restorable()).as(beforeOutage.reason()).isTrue();

        S3.server().stopProcess();
        long down = System.currentTimeMillis();
        while (System.currentTimeMillis() < down + OUTAGE_MS) {
            observer.poll();
            Thread.sleep(100);
        }
        long restartAsked = System.currentTimeMillis();
        observer.poll();
        S3.server().restartProcess();
        long up = System.currentTimeMillis();
        System.out.printf("S3 down for %d ms, back %d ms after the restart was asked%n", up - down, up - restartAsked);

        // Every checkpoint completed since the last one before the outage is judged on what S3 holds as
        // soon as it is seen (the recovery inspector reads S3 only, never the local tier).
        Map<Long, Validation> judged = new TreeMap<>();
        Set<Long> deep = new LinkedHashSet<>();
        Set<Long> excused = new LinkedHashSet<>();
        Set<Long> present = new LinkedHashSet<>();
        Map<Long, String> notes = new TreeMap<>();
        List<Validation> sweep = null;
        boolean sweepWhileRunning = false;
        Map<Long, List<String>> sweepMissing = new TreeMap<>();
        List<String> sweepNotes = new ArrayList<>();
        Set<Long> completedAtSweep = Set.of();
        JobStatus status;
        do {
            status = cluster.getJobStatus(job).get();
            observer.poll();
            for (CompletedCheckpointStats c : observer.completed.values()) {
                if (c.getCheckpointId() > lastBefore && !judged.containsKey(c.getCheckpointId())) {
                    // the first one completed after the outage is also read back in full (CRC32C, RocksDB open)
                    boolean readAll = deep.isEmpty() && observer.firstSeen.get(c.getCheckpointId()) > up;
                    Validation v = inspector.validate(new Path(strip(c.getExternalPath())), readAll);
                    judged.put(c.getCheckpointId(), v);
                    if (!v.restorable()) {
                        List<String> missing = reallyMissing(v);
                        JobStatus now = cluster.getJobStatus(job).get();
                        notes.put(c.getCheckpointId(), missing.isEmpty()
                                ? "a listing missed files that HEAD requests right after found: " + v.filesConcerned()
                                : "HEAD requests do not find " + missing + " either (job then " + now + ")");
                        if (missing.isEmpty()) {
                            present.add(c.getCheckpointId());
                        } else if (now.isGloballyTerminalState()) {
                            excused.add(c.getCheckpointId()); // the job ended meanwhile, and Flink deleted its checkpoints
                        }
                    }
                    if (readAll) {
                        deep.add(c.getCheckpointId());
                    }
                }
            }
            if (sweep == null && observer.firstSeen.values().stream().filter(seen -> seen > up).count() >= 3) {
                // While the job runs (nothing deleted yet): every checkpoint it retains, before, during
                // and after the outage, read back in full from S3.
                sweep = new ArrayList<>(inspector.validateAll(inspector.discover(new Path(dir + "/" + job)).get(0), true));
                Set<Long> swept = new LinkedHashSet<>(sweep.stream().map(Validation::checkpointId).toList());
                for (long id : new ArrayList<>(observer.completed.keySet())) {
                    // A listing of S3Proxy's file-system backend can miss a directory while Flink
                    // deletes others (those of the checkpoints the outage aborted): a completed
                    // checkpoint the listing missed is validated on its own, deep, when its
                    // _metadata is there; when not, it stays missing and fails the test below.
                    if (!swept.contains(id) && metadataExists(dir + "/" + job + "/chk-" + id)) {
                        sweep.add(inspector.validate(new Path(dir + "/" + job + "/chk-" + id), true));
                        sweepNotes.add("checkpoint " + id + ": the listing of the job directory missed it, a HEAD of its"
                                + " _metadata found it; validated on its own");
                    }
                }
                for (Validation c : sweep) {
                    if (!c.restorable()) { // checked at once, while Flink still keeps every checkpoint
                        sweepMissing.put(c.checkpointId(), reallyMissing(c));
                        sweepNotes.add("checkpoint " + c.checkpointId() + ": " + c.reason() + "; HEAD requests right after do not find "
                                + sweepMissing.get(c.checkpointId()));
                    }
                }
                sweepWhileRunning = cluster.getJobStatus(job).get() == JobStatus.RUNNING;
                completedAtSweep = new LinkedHashSet<>(observer.completed.keySet());
            }
            Thread.sleep(100);
        } while (!status.isGloballyTerminalState() && System.currentTimeMillis() < up + TIMEOUT.toMillis());

        JobResult result = cluster.requestJobResult(job).get();
        observer.poll();
        AccessExecutionGraph graph = cluster.getArchivedExecutionGraph(job).get();
        CheckpointStatsSnapshot stats = graph.getCheckpointStatsSnapshot();
        System.out.println(observer.report(down, up, stats));
        judged.forEach((id, v) -> System.out.println("checkpoint " + id + ": " + v.reason()
                + (notes.containsKey(id) ? "\n    " + notes.get(id) : "")));

        // The job survived the outage and produced exactly the state of a failure-free run.
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        assertThat(observer.statuses).as("job statuses seen").doesNotContain(JobStatus.FAILED, JobStatus.FAILING);
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();

        // Checkpoints failed, or waited through the outage.
        long failed = stats.getCounts().getNumberOfFailedCheckpoints();
        boolean waited = observer.completed.values().stream()
                .anyMatch(c -> c.getTriggerTimestamp() < restartAsked - 5_000 && observer.firstSeen.get(c.getCheckpointId()) > up);
        assertThat(failed > 0 || waited)
                .as("a checkpoint failed (%d failed) or waited through the outage; %s", failed, observer.report(down, up, stats))
                .isTrue();

        // No checkpoint completed while S3 was down (a second allowed for one whose uploads had all
        // finished before the server stopped), and checkpoints complete again after it is back.
        assertThat(observer.firstSeen).as("checkpoints completed while S3 was down; " + observer.report(down, up, stats))
                .allSatisfy((id, seen) -> assertThat(seen < down + 1_000 || seen >= restartAsked)
                        .as("checkpoint %d completed %d ms into the outage", id, seen - down).isTrue());
        assertThat(observer.firstSeen.values().stream().filter(seen -> seen > up).count())
                .as("checkpoints completed after S3 came back").isGreaterThanOrEqualTo(2);

        // Every checkpoint completed since the outage began is entirely in S3 (size and presence of
        // every file, _metadata readable from S3; the first after the outage also deep: every file's
        // CRC32C and a RocksDB open).
        assertThat(deep).as("a checkpoint completed after the outage and validated deep").hasSize(1);
        List<Long> unproven = new ArrayList<>();
        judged.forEach((id, validation) -> {
            if (!validation.restorable() && !excused.contains(id) && !present.contains(id)) {
                unproven.add(id);
            }
        });
        assertThat(judged).as("checkpoints judged").isNotEmpty();
        assertThat(unproven).as("completed checkpoints not entirely in S3: "
                + judged.entrySet().stream().filter(e -> unproven.contains(e.getKey()))
                        .map(e -> e.getKey() + " " + e.getValue().reason() + " (" + notes.get(e.getKey()) + ")").toList())
                .isEmpty();

        // And all retained checkpoints at once, deep, while the job still ran: a file of a checkpoint
        // completed during or right after the outage that reached the local tier only would show here.
        assertThat(sweep).as("the sweep of retained checkpoints ran").isNotNull();
        assertThat(sweepWhileRunning).as("the job still ran after the sweep (its checkpoints were all retained)").isTrue();
        assertThat(sweep.stream().map(Validation::checkpointId).toList()).as("checkpoints retained in S3")
                .containsAll(completedAtSweep);
        sweepNotes.forEach(System.out::println);
        assertThat(sweepMissing).as("retained checkpoints with files missing in S3: " + sweepNotes)
                .allSatisfy((id, missing) -> assertThat(missing).as("checkpoint " + id).isEmpty());
        System.out.println("Deep sweep of " + sweep.size() + " retained checkpoints: all in S3 ("
                + (sweep.size() - sweepMissing.size()) + " proven restorable by the inspector, " + sweepMissing.size()
                + " with files a listing missed and HEAD found)");
    }

    /**
     * The files a validation found missing that HEAD requests do not find either (or find with another
     * size than the checkpoint records); everything when it found another problem. S3Proxy's file-system backend lists a directory without some of its
     * objects while others in it are written or deleted (a listing taken as Flink deletes files of an
     * aborted checkpoint misses files of a completed one): an object a HEAD finds right after was
     * there, since checkpoint files are never written twice under one key.
     */
    private static List<String> reallyMissing(Validation v) {
        if (v.problems().stream().anyMatch(p -> p.verdict() != Verdict.MISSING_FILES || p.file() == null)) {
            return List.of(v.reason());
        }
        List<String> missing = new ArrayList<>();
        try (S3Client raw = rawClient(S3.server())) {
            for (String file : v.filesConcerned()) {
                String key = new Path(file).toUri().getPath().substring(1);
                ReferencedFile expected = v.files().stream().filter(f -> f.path().toString().equals(file)).findFirst().orElse(null);
                try {
                    long size = raw.headObject(b -> b.bucket(S3.server().bucket()).key(key)).contentLength();
                    if (expected == null || size < expected.minSize() || (expected.exactSize() && size != expected.minSize())) {
                        missing.add(file + " (" + size + " bytes, expected " + (expected == null ? "?" : expected.minSize()) + ")");
                    }
                } catch (NoSuchKeyException gone) {
                    missing.add(file);
                }
            }
        }
        return missing;
    }

    /** Whether a HEAD request finds the _metadata of the checkpoint directory {@code chkDir} (an s3tiered:// URI). */
    private static boolean metadataExists(String chkDir) {
        String key = new Path(chkDir + "/_metadata").toUri().getPath().substring(1);
        try (S3Client raw = rawClient(S3.server())) {
            raw.headObject(b -> b.bucket(S3.server().bucket()).key(key));
            return true;
        } catch (software.amazon.awssdk.services.s3.model.NoSuchKeyException e) {
            return false;
        } catch (software.amazon.awssdk.services.s3.model.S3Exception e) {
            if (e.statusCode() == 404) {
                return false;
            }
            throw e;
        }
    }

    private static String strip(String pointer) {
        return pointer.endsWith("/_metadata") ? pointer.substring(0, pointer.length() - "/_metadata".length()) : pointer;
    }

    /** What the test saw of the job, polled: statuses, checkpoints completed (with when first seen) and failed. */
    private static final class Observer {
        final MiniCluster cluster;
        final JobID job;
        final Set<JobStatus> statuses = new LinkedHashSet<>();
        final Map<Long, CompletedCheckpointStats> completed = new TreeMap<>();
        final Map<Long, Long> firstSeen = new TreeMap<>();
        final Map<Long, String> failures = new TreeMap<>();
        final Map<Long, Long> failedAt = new TreeMap<>();

        Observer(MiniCluster cluster, JobID job) {
            this.cluster = cluster;
            this.job = job;
        }

        void poll() throws Exception {
            statuses.add(cluster.getJobStatus(job).get());
            CheckpointStatsSnapshot snapshot = cluster.getExecutionGraph(job).get().getCheckpointStatsSnapshot();
            if (snapshot == null) {
                return;
            }
            long now = System.currentTimeMillis();
            for (AbstractCheckpointStats c : snapshot.getHistory().getCheckpoints()) {
                if (c instanceof CompletedCheckpointStats done && !completed.containsKey(done.getCheckpointId())) {
                    completed.put(done.getCheckpointId(), done);
                    firstSeen.put(done.getCheckpointId(), now);
                } else if (c instanceof FailedCheckpointStats f && !failures.containsKey(f.getCheckpointId())) {
                    failures.put(f.getCheckpointId(), f.getFailureMessage());
                    failedAt.put(f.getCheckpointId(), f.getFailureTimestamp());
                }
            }
        }

        long newestCompleted() {
            return ((TreeMap<Long, CompletedCheckpointStats>) completed).lastKey();
        }

        String report(long down, long up, CheckpointStatsSnapshot stats) {
            StringBuilder b = new StringBuilder("statuses " + statuses + "; failed checkpoints "
                    + stats.getCounts().getNumberOfFailedCheckpoints() + ", completed " + stats.getCounts().getNumberOfCompletedCheckpoints()
                    + "; S3 down at 0 ms, back at " + (up - down) + " ms\n");
            completed.forEach((id, c) -> b.append(String.format("  completed %3d: triggered at %6d ms, seen complete at %6d ms, %5d ms end to end%n",
                    id, c.getTriggerTimestamp() - down, firstSeen.get(id) - down, c.getEndToEndDuration())));
            failures.forEach((id, m) -> b.append(String.format("  failed    %3d: at %6d ms: %s%n", id, failedAt.get(id) - down, m)));
            return b.toString();
        }
    }
}
