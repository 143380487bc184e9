package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.delta;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.transfer;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.backend.RestoreTimings;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.testutils.logging.LoggerAuditingExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.event.Level;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * A retained checkpoint resumed at another parallelism (2 → 3, then the 3-parallel run's checkpoint
 * at 1), once with the local tier warm and once with it wiped: RocksDB's rescaling restore (clip a
 * single handle, merge several) reads its files through the tiered file system's batch copy like a
 * plain restore, from the local tier or from S3, and the keyed state comes out exact.
 */
class RescaleRestoreITCase implements AwaitsBackgroundUploads {

    /** Fixed so that key groups mean the same at every parallelism (Flink would derive 128 too). */
    static final int MAX_PARALLELISM = 128;

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setConfiguration(RecoveryTestSupport.clusterConfig())
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(3)
                    .build());

    /** RocksDB's own account of each keyed subtask's restore: target key groups and the handles it got. */
    @RegisterExtension
    final LoggerAuditingExtension rocksRestoreLog = new LoggerAuditingExtension(RecoveryTestSupport.rocksDbClass("restore.RocksDBIncrementalRestoreOperation"), Level.INFO);

    @TempDir static java.nio.file.Path localTier;
    @TempDir java.nio.file.Path outputs;

    private static final Pattern TARGET_RANGE =
            Pattern.compile("Starting RocksDB incremental recovery in operator .* target key-group range \\[(\\d+), (\\d+)\\]");

    /** Slow enough that a job is cancelled with input left, short enough for the whole class to stay quick. */
    private final RecoveryJob.Settings base = new RecoveryJob.Settings(60_000, 3_000, 15_000, 0, null);

    @BeforeAll
    static void fileSystems() {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
    }

    @Test
    void retainedCheckpointsResumeAtAnotherParallelismFromTheLocalTierAndFromS3WithExactState(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        String bucket = S3.server().bucket();
        String dir = "s3tiered://" + bucket + "/" + S3.server().runPrefix() + "/rescale";

        // Parallelism 2, cancelled with its newest checkpoint retained.
        String atTwo = runThenCancel(cluster, dir, null, 2, 3);

        // 2 -> 3 from the local tier: the host that wrote the checkpoint still holds every file.
        Restored up = resume(cluster, dir, atTwo, 2, 3, "2-to-3-local-tier");
        up.fromLocalTierOnly();

        // 2 -> 3 from S3: a host with an empty tier.
        wipeLocalTier();
        Restored upFromS3 = resume(cluster, dir, atTwo, 2, 3, "2-to-3-s3");
        // Scaling up, two new subtasks read the same old subtask's files: whichever comes second may
        // find the copy the first one just downloaded into the (empty) tier, so only the sum is fixed.
        if (Restored.COUNTED_APART) {
            assertThat(upFromS3.fromS3).as("bytes restored from S3").isPositive();
            assertThat(upFromS3.fromS3 + upFromS3.fromLocalTier).as("the same checkpoint restores the same bytes")
                    .isEqualTo(up.fromLocalTier);
        }

        // A checkpoint written at parallelism 3 (itself resumed from the one at 2), then 3 -> 1.
        String atThree = runThenCancel(cluster, dir, atTwo, 3, 2);
        Restored down = resume(cluster, dir, atThree, 3, 1, "3-to-1-local-tier");
        down.fromLocalTierOnly();

        wipeLocalTier();
        Restored downFromS3 = resume(cluster, dir, atThree, 3, 1, "3-to-1-s3");
        // one subtask after the wipe: nothing it restores can be in the tier before it downloads it
        if (Restored.COUNTED_APART) {
            assertThat(downFromS3.fromS3).as("bytes restored from S3").isPositive();
            assertThat(downFromS3.fromLocalTier).as("bytes restored from the local tier").isZero();
            assertThat(downFromS3.fromS3).as("the same checkpoint restores the same bytes from either tier")
                    .isEqualTo(down.fromLocalTier);
        }
    }

    /** What one resumed run restored, through the bridge's figures. */
    /** The restored bytes by source. */
    private record Restored(long fromLocalTier, long fromS3) {
        /**
         * Whether the figures count the restore's bytes apart from other reads: 2.x's batch copy
         * does. On 1.20 RocksDB streams each file through {@code open()}, counted together with the
         * JobManager's and the guard's reads of {@code _metadata}; there the local-tier restore
         * shows as no S3 GET but the guard's (see TieredCheckpointStorageITCase) and exact state.
         */
        static final boolean COUNTED_APART = !RecoveryTestSupport.RESTORES_STREAM;

        /** A restore from the local tier alone. */
        void fromLocalTierOnly() {
            assertThat(fromLocalTier).as("bytes restored from the local tier").isPositive();
            if (COUNTED_APART) {
                assertThat(fromS3).as("bytes restored from S3").isZero();
            }
        }
    }

    /**
     * Resumes {@code checkpoint} (written at {@code from}) at parallelism {@code to}, runs the job to
     * the end and checks that every keyed subtask restored through RocksDB's rescaling path, from the
     * checkpoint asked for, with the exact state of a failure-free run.
     */
    private Restored resume(MiniCluster cluster, String dir, String checkpoint, int from, int to, String name) throws Exception {
        java.nio.file.Path output = Files.createDirectories(outputs.resolve(name));
        RecoveryJob.Settings s = settings(output);
        int logged = rocksRestoreLog.getMessages().size();
        Map<String, Long> before = transfer(S3.server().bucket());
        long start = System.currentTimeMillis();

        StreamExecutionEnvironment env = environment(dir, checkpoint, at(to));
        env.setParallelism(to);
        env.setMaxParallelism(MAX_PARALLELISM);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobResult result = JobRunner.await(cluster, job, TIMEOUT, c -> {});
        Map<String, Long> after = transfer(S3.server().bucket());

        assertThat(result.isSuccess()).as(name + ": " + failureText(result)).isTrue();
        RestoredCheckpointStats restoredFrom = cluster.getArchivedExecutionGraph(job).get()
                .getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
        assertThat(restoredFrom).as(name + ": the job restored a checkpoint").isNotNull();
        assertThat(strip(restoredFrom.getExternalPath())).as(name + ": the checkpoint restored").isEqualTo(strip(checkpoint));

        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(name + ": " + v).isTrue();
        assertThat(v.keysExpected()).isEqualTo(s.keys());
        // The check can tell: one record fewer in the expectation changes one key's state.
        assertThat(ExpectedResults.verify(output, s.records() - 1, s.keys()).exact()).as(name + ": a wrong expectation").isFalse();

        // Every keyed subtask of the new parallelism restored state, once.
        List<RestoreTimings.Restore> restores = RestoreTimings.since(start);
        assertThat(restores).as(name + ": keyed subtasks that restored state").hasSize(to)
                .allSatisfy(r -> assertThat(r.attempt()).isZero());
        assertThat(restores.stream().map(RestoreTimings.Restore::subtask).collect(Collectors.toSet()))
                .containsExactlyInAnyOrderElementsOf(IntStream.range(0, to).boxed().toList());

        // RocksDB restored into the key-group ranges of the new parallelism, none of which is a range of
        // the old one: every subtask clipped or merged (the rescaling path), and at least one merged
        // the handles of several old subtasks (2 -> 3: the middle range spans both; 3 -> 1: all three).
        List<String> messages = rocksRestoreLog.getMessages().subList(logged, rocksRestoreLog.getMessages().size());
        Set<KeyGroupRange> targets = new java.util.LinkedHashSet<>();
        for (String m : messages) {
            Matcher matcher = TARGET_RANGE.matcher(m);
            if (matcher.find()) {
                targets.add(KeyGroupRange.of(Integer.parseInt(matcher.group(1)), Integer.parseInt(matcher.group(2))));
            }
        }
        assertThat(targets).as(name + ": key-group ranges RocksDB restored into; log:\n" + String.join("\n", messages))
                .containsExactlyInAnyOrderElementsOf(ranges(to));
        assertThat(targets).as(name + ": no range of the old parallelism").doesNotContainAnyElementsOf(ranges(from));
        assertThat(messages).as(name + ": a restore merging several state handles")
                .anyMatch(m -> m.contains("from multiple state handles"));

        Restored r = new Restored(delta(before, after, RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER), delta(before, after, RecoveryTestSupport.RESTORED_FROM_S3));
        System.out.printf("%s: %d restores into %s; restored %d bytes from the local tier, %d from S3; %s%n",
                name, restores.size(), targets, r.fromLocalTier, r.fromS3, v);
        return r;
    }

    /** Runs at {@code parallelism} (resuming {@code from} if not null) and cancels after some checkpoints; returns the newest. */
    private String runThenCancel(MiniCluster cluster, String dir, String from, int parallelism, int checkpoints) throws Exception {
        StreamExecutionEnvironment env = environment(dir, from, at(parallelism));
        env.setParallelism(parallelism);
        env.setMaxParallelism(MAX_PARALLELISM);
        RecoveryJob.Settings s = settings(Files.createDirectories(outputs.resolve("cancelled-" + parallelism)));
        // A quarter of the rate, and at least three more checkpoints than awaited before the input
        // ends: the retained checkpoint comes before the input ends however long the first
        // checkpoints of a fresh JVM take (seconds on 1.20); a resumed run goes at full rate.
        RecoveryJob.build(env, new RecoveryJob.Settings(s.records(), s.keys(), s.recordsPerSecond() / 4, 0, s.outputDir())
                .gatedEvery((int) (s.records() / parallelism / (checkpoints + 4))));
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, checkpoints, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<org.apache.flink.runtime.checkpoint.CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        return done.get(done.size() - 1).getExternalPath();
    }

    private RecoveryJob.Settings settings(java.nio.file.Path output) {
        return new RecoveryJob.Settings(base.records(), base.keys(), base.recordsPerSecond(), 0, output.toString());
    }

    /** The job's configuration at a parallelism (besides the environment's). */
    private static Map<String, String> at(int parallelism) {
        return Map.of("parallelism.default", Integer.toString(parallelism));
    }

    private static List<KeyGroupRange> ranges(int parallelism) {
        return IntStream.range(0, parallelism)
                .mapToObj(i -> KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(MAX_PARALLELISM, parallelism, i))
                .toList();
    }

    private static String strip(String pointer) {
        return pointer.endsWith("/_metadata") ? pointer.substring(0, pointer.length() - "/_metadata".length()) : pointer;
    }

    private static void wipeLocalTier() throws Exception {
        EmbeddedCluster.deleteRecursively(localTier);
        Files.createDirectories(localTier);
    }
}
