package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Order;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.util.List;
import java.util.Map;

/**
 * The tiered checkpoint storage with Flink's optional checkpointing features: file merging
 * (refused by the storage: the tasks checkpoint without it), unaligned checkpoints
 * (in-flight data in the checkpoint) and the changelog state backend (its materializations on
 * {@code s3tiered://}). For each, the tasks start, checkpoints complete
 * and are judged restorable, and the newest restores with exact state, through a failure and on a
 * fresh host.
 */
class CheckpointFeaturesITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = RecoveryTestSupport.miniCluster();

    @TempDir java.nio.file.Path localTier;
    @TempDir java.nio.file.Path freshHostTier;
    @TempDir java.nio.file.Path output;

    enum Feature {
        FILE_MERGING(Map.of("execution.checkpointing.file-merging.enabled", "true")),
        UNALIGNED(Map.of("execution.checkpointing.unaligned.enabled", "true",
                "execution.checkpointing.aligned-checkpoint-timeout", "0s")),
        /**
         * Materializations on {@code s3tiered://}; the changes since, in the changelog storage of
         * this class's TaskManager: the default in-memory one, inside {@code _metadata} (a job
         * cannot choose it, see {@link ChangelogStorageITCase}).
         */
        CHANGELOG(Map.of("state.changelog.enabled", "true", "state.changelog.periodic-materialize.interval", "2s"));

        final Map<String, String> options;

        Feature(Map<String, String> options) {
            this.options = options;
        }
    }

    @ParameterizedTest
    @EnumSource(Feature.class)
    void checkpointsCompleteAndRestoreExactly(Feature feature, @InjectMiniCluster MiniCluster cluster) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/" + feature;
        Map<String, String> options = new java.util.HashMap<>(feature.options);
        // a failure after a few checkpoints (500 ms apart), then more checkpoints after the restore
        // at least fifteen checkpoints before the input ends: the cancel after ten finds it running, however slow the host
        RecoveryJob.Settings s = new RecoveryJob.Settings(400_000, 5_000, 25_000, 60_000, output.toString()).gatedEvery(12_000);
        StreamExecutionEnvironment env = environment(dir, null, options);
        RecoveryJob.build(env, s);
        S3TieredBridge bridge = S3TieredBridge.of(new Path(dir)).orElseThrow();
        long preUploadsBefore = bridge.transferMetrics().figure(BridgeContract.PRE_UPLOADS);
        JobID job = JobRunner.submit(cluster, env);

        JobRunner.awaitCheckpoints(cluster, job, 10, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        String retained = done.get(done.size() - 1).getExternalPath();
        Validation validation = new CheckpointInspector(getClass().getClassLoader()).validate(new Path(retained), false);
        assertThat(validation.verdict()).as(validation.reason()).isEqualTo(Verdict.RESTORABLE);
        if (feature == Feature.CHANGELOG) {
            // its materializations write streams of their own, which would never refer to uploads ahead of checkpoints
            assertThat(bridge.transferMetrics().figure(BridgeContract.PRE_UPLOADS) - preUploadsBefore)
                    .as("SST files uploaded ahead of checkpoints").isZero();
        } else {
            assertThat(bridge.transferMetrics().figure(BridgeContract.PRE_UPLOADS) - preUploadsBefore)
                    .as("SST files uploaded ahead of checkpoints").isPositive();
        }
        if (feature == Feature.FILE_MERGING) {
            // refused by the storage (each sync would upload the whole physical file again): whole files, as without it
            assertThat(validation.files()).as("files written without file merging").isNotEmpty().allMatch(f -> f.exactSize());
        }

        resumesExactlyOnAFreshHost(cluster, dir, retained, options, s);

        if (feature == Feature.CHANGELOG) {
            // the changelog backend's handles name the materialization's files, each checked: one
            // deleted is MISSING_FILES, never RESTORABLE
            assertThat(validation.files()).as("files of the materialization").anyMatch(f -> f.kinds().stream()
                    .anyMatch(k -> k.contains("materialized")));
            Path victim = validation.files().stream().filter(f -> f.kinds().stream().anyMatch(k -> k.contains("materialized")))
                    .findFirst().orElseThrow().path();
            try (software.amazon.awssdk.services.s3.S3Client raw = RecoveryTestSupport.rawClient(S3.server())) {
                raw.deleteObject(b -> b.bucket(S3.server().bucket()).key(victim.toUri().getPath().substring(1)));
            }
            Validation damaged = new CheckpointInspector(getClass().getClassLoader()).validate(new Path(retained), false);
            assertThat(damaged.verdict()).as(damaged.reason()).isEqualTo(Verdict.MISSING_FILES);
        }
    }

    /**
     * Flink's own checkpoint storage on {@code s3tiered://}, where nothing refuses file merging:
     * Flink syncs a physical file after each segment, keeps writing it across checkpoints, and
     * completes a checkpoint with the segments synced so far. Each checkpoint completed while the
     * job still writes those files must already be whole in S3; then the newest restores exactly
     * on a fresh host.
     */
    @org.junit.jupiter.api.Test
    void flinksOwnStorageWithFileMergingCompletesOnlyDurableCheckpoints(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/flink-storage-file-merging";
        Map<String, String> options = Map.of(
                "execution.checkpointing.storage", "filesystem",
                "state.backend.type", "rocksdb",
                "execution.checkpointing.incremental", "true",
                "execution.checkpointing.file-merging.enabled", "true",
                "execution.checkpointing.file-merging.across-checkpoint-boundary", "true",
                "execution.checkpointing.num-retained", "100"); // none deleted while the running job's are judged
        // at least fifteen checkpoints before the input ends: the cancel after ten finds it running, however slow the host
        RecoveryJob.Settings s = new RecoveryJob.Settings(400_000, 5_000, 25_000, 60_000, output.toString()).gatedEvery(12_000);
        StreamExecutionEnvironment env = environment(dir, null, options);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);

        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        JobRunner.awaitCheckpoints(cluster, job, 4, TIMEOUT);
        List<CompletedCheckpointStats> whileRunning = JobRunner.completedCheckpoints(cluster, job);
        String judged = whileRunning.get(whileRunning.size() - 1).getExternalPath();
        Validation running = inspector.validate(new Path(judged), false);
        assertThat(running.verdict()).as("judged while the job still writes its files: " + running.reason())
                .isEqualTo(Verdict.RESTORABLE);
        assertThat(running.files()).as("segments of merged files").anyMatch(f -> !f.exactSize());

        JobRunner.awaitCheckpoints(cluster, job, 10, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        String retained = done.get(done.size() - 1).getExternalPath();
        Validation validation = inspector.validate(new Path(retained), false);
        assertThat(validation.verdict()).as(validation.reason()).isEqualTo(Verdict.RESTORABLE);

        resumesExactlyOnAFreshHost(cluster, dir, retained, options, s);
    }

    /** A rescale of a changelog job: the state backend, and the parallelism before and after. */
    enum ChangelogRescale {
        /** RocksDB's materialized handles are kept whole, with the old subtasks' key-group ranges. */
        ROCKSDB_SCALED_IN(Map.of(), 2, 1),
        /** The heap's are narrowed to each new subtask's share of the one old subtask's file. */
        HASHMAP_SCALED_OUT(Map.of("state.backend.type", "hashmap"), 1, 2);

        final Map<String, String> options;
        final int before;
        final int after;

        ChangelogRescale(Map<String, String> options, int before, int after) {
            this.options = options;
            this.before = before;
            this.after = after;
        }
    }

    /**
     * The changelog backend writes the materialization it restored into every checkpoint until it
     * materializes again: after a rescale, the old subtasks' handles, which do not match the new
     * subtasks' key-group ranges (Flink's {@code getIntersection} keeps RocksDB's whole and narrows
     * the heap's). Such checkpoints are restorable, by sizes and by deep validation, and resume exactly.
     */
    @ParameterizedTest
    @EnumSource(ChangelogRescale.class)
    void changelogCheckpointsAfterARescaleAreRestorable(ChangelogRescale rescale, @InjectMiniCluster MiniCluster cluster)
            throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/rescaled-" + rescale;
        Map<String, String> materializing = new java.util.HashMap<>(rescale.options);
        materializing.put("state.changelog.enabled", "true");
        materializing.put("state.changelog.periodic-materialize.interval", "1s");
        RecoveryJob.Settings s = new RecoveryJob.Settings(400_000, 5_000, 25_000, 0, output.toString()).gatedEvery(12_000);
        StreamExecutionEnvironment env = environment(dir, null, materializing);
        env.setParallelism(rescale.before);
        String first = runAndCancel(cluster, env, s, 6);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        assertThat(inspector.validate(new Path(first), false).files()).as("files of a materialization")
                .anyMatch(f -> f.kinds().stream().anyMatch(k -> k.contains("materialized")));

        // rescaled, in claim mode (no claim would materialize anew at once), with no materialization to come
        Map<String, String> rescaled = new java.util.HashMap<>(materializing);
        rescaled.put("state.changelog.periodic-materialize.interval", "1h");
        rescaled.put("execution.state-recovery.claim-mode", "CLAIM");
        env = environment(dir, first, rescaled);
        env.setParallelism(rescale.after);
        String retained = runAndCancel(cluster, env, s, 3);

        Validation bySize = inspector.validate(new Path(retained), false);
        assertThat(bySize.verdict()).as(bySize.reason()).isEqualTo(Verdict.RESTORABLE);
        List<org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle> handles = bySize.metadata()
                .getOperatorStates().stream().flatMap(op -> op.getStates().stream())
                .flatMap(st -> st.getManagedKeyedState().stream())
                .filter(h -> h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle)
                .map(h -> (org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle) h).toList();
        assertThat(handles).hasSize(rescale.after);
        if (rescale == ChangelogRescale.ROCKSDB_SCALED_IN) {
            assertThat(handles.get(0).getMaterializedStateHandles()).as("the old subtasks' snapshots, whole")
                    .hasSize(rescale.before)
                    .noneMatch(m -> m.getKeyGroupRange().equals(handles.get(0).getKeyGroupRange()));
        } else {
            // both new subtasks hold a share of the one old subtask's snapshot file
            assertThat(handles).isNotEmpty().allMatch(h -> h.getMaterializedStateHandles().size() == 1);
            assertThat(handles.stream().map(h -> ((org.apache.flink.runtime.state.KeyGroupsStateHandle)
                    h.getMaterializedStateHandles().get(0)).getDelegateStateHandle().getStreamStateHandleID()).distinct())
                    .as("one file, narrowed for each").hasSize(1);
        }
        Validation deep = inspector.validate(new Path(retained), true);
        assertThat(deep.verdict()).as(deep.reason()).isEqualTo(Verdict.RESTORABLE);

        initializeFileSystems(fileSystemConfig(S3.server(), freshHostTier));
        Map<String, String> resumed = new java.util.HashMap<>(rescaled);
        RecoveryJob.Settings resume = new RecoveryJob.Settings(s.records(), s.keys(), 0, 0, output.toString());
        env = environment(dir, retained, resumed);
        env.setParallelism(rescale.after);
        RecoveryJob.build(env, resume);
        org.apache.flink.runtime.jobmaster.JobResult result =
                JobRunner.await(cluster, JobRunner.submit(cluster, env), TIMEOUT, c -> {});
        assertThat(result.isSuccess()).as(RecoveryTestSupport.failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, resume.records(), resume.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }

    /** Runs the job until {@code checkpoints} completed, cancels it and returns its newest retained checkpoint. */
    private static String runAndCancel(MiniCluster cluster, StreamExecutionEnvironment env, RecoveryJob.Settings s,
            int checkpoints) throws Exception {
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, checkpoints, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        return done.get(done.size() - 1).getExternalPath();
    }

    /** Resumes from {@code retained} on a host without local copies; the job finishes with exact state. */
    private void resumesExactlyOnAFreshHost(MiniCluster cluster, String dir, String retained, Map<String, String> options,
            RecoveryJob.Settings s) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), freshHostTier));
        RecoveryTestSupport.resumesExactly(cluster, dir, retained, options, s, output);
    }
}
