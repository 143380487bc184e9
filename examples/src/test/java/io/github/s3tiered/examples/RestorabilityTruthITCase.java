package io.github.s3tiered.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Proof;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;

/**
 * The measure of deep validation: a checkpoint it judges RESTORABLE must resume in Flink. Real
 * checkpoints written by plain Flink (its own file-system storage on {@code file://}, which records
 * no checksums) get one random byte changed at a time, in {@code _metadata} or in a state file;
 * every case {@code validate --deep} judges RESTORABLE is then resumed in this MiniCluster and must
 * restore and finish. When the restored state differs from the undamaged run's, the validation must
 * have said that the changed file's content could not be proven (no checksum covers it), never
 * that it was.
 */
class RestorabilityTruthITCase {

    static final int PARALLELISM = 2;
    static final int FLIPS = Integer.getInteger("truth.flips", 40);
    static final Duration TIMEOUT = Duration.ofMinutes(2);

    @RegisterExtension
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(clusterConfig())
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(PARALLELISM)
            .build());

    @TempDir static java.nio.file.Path base;

    /** What one backend's flips gave; printed as a table at the end. */
    static final Map<String, Map<String, Integer>> REPORT = new TreeMap<>();

    enum Backend {
        ROCKSDB_INCREMENTAL("rocksdb", true),
        ROCKSDB_FULL("rocksdb", false),
        HASHMAP("hashmap", false);

        final String type;
        final boolean incremental;

        Backend(String type, boolean incremental) {
            this.type = type;
            this.incremental = incremental;
        }
    }

    static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("128m"));
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        return conf;
    }

    @BeforeAll
    static void plainFlinkFileSystems() {
        FileSystem.initialize(new Configuration(), null);
    }

    @AfterAll
    static void printReport() {
        System.out.println("Restorability truth test: single-byte changes per backend");
        REPORT.forEach((backend, counts) -> System.out.println("  " + backend + ": " + counts));
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void everyCheckpointJudgedRestorableResumes(Backend backend, @InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings writing = new RecoveryJob.Settings(20_000, 300, 5_000, 0, base.resolve("unused").toString())
                .gatedEvery(1_000); // at least nine checkpoints before the input ends: the cancel after three finds it running
        String dir = base.resolve(backend.name()).toUri().toString();
        Path checkpoint = retainedCheckpoint(cluster, backend, dir, writing);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        Validation intact = inspector.validate(checkpoint, true);
        assertThat(intact.restorable()).as(intact.reason()).isTrue();
        ExpectedResults.Verification intactRun = resume(cluster, backend, checkpoint, "intact");
        assertThat(intactRun).as("the undamaged checkpoint resumes and finishes").isNotNull();
        assertThat(intactRun.exact()).as("the undamaged checkpoint resumes exactly").isTrue();

        List<java.nio.file.Path> stateFiles = new ArrayList<>();
        intact.files().forEach(f -> stateFiles.add(local(f.path())));
        java.nio.file.Path metadata = local(new Path(checkpoint, "_metadata"));
        Map<String, Integer> counts = new TreeMap<>();
        Random random = new Random(42 + backend.ordinal());
        for (int i = 0; i < FLIPS; i++) {
            java.nio.file.Path file = i % 2 == 0 ? metadata : stateFiles.get(random.nextInt(stateFiles.size()));
            long offset = (long) (random.nextDouble() * Files.size(file));
            int mask = 1 + random.nextInt(255);
            String what = file.equals(metadata) ? "_metadata" : "state";
            int original = flip(file, offset, mask, -1);
            try {
                // what the guard checks by default (no file read), for the report only
                Validation shallow = inspector.validate(checkpoint, false);
                counts.merge(what + " judged " + (shallow.restorable() ? "RESTORABLE" : "NOT_RESTORABLE") + " without --deep", 1,
                        Integer::sum);
                Validation v = inspector.validate(checkpoint, true);
                if (!v.restorable()) {
                    counts.merge(what + " judged " + v.verdict(), 1, Integer::sum);
                    continue;
                }
                Proof proof = proofOf(v, file, !file.equals(metadata));
                String flipped = file.getFileName() + " byte " + offset + " ^" + mask + " (proof " + proof + ")";
                ExpectedResults.Verification resumed = resume(cluster, backend, checkpoint, flipped);
                if (resumed == null) {
                    counts.merge(what + " judged RESTORABLE, resumed, then failed or ran on with other state, proof " + proof,
                            1, Integer::sum);
                    assertThat(proof.provesContent()).as("validation claimed the content of " + flipped
                            + " proven, but the resumed job ran on other state").isFalse();
                } else if (resumed.exact()) {
                    counts.merge(what + " judged RESTORABLE, resumed exactly, proof " + proof, 1, Integer::sum);
                } else {
                    counts.merge(what + " judged RESTORABLE, resumed with other state, proof " + proof, 1, Integer::sum);
                    assertThat(proof.provesContent()).as("validation claimed the content of " + flipped
                            + " proven, but the restored state differs: " + resumed).isFalse();
                }
            } finally {
                flip(file, offset, 0, original);
            }
        }
        REPORT.put(backend.name(), counts);
        // a check that refused every flip would pass the loop above without one resume: some flips are harmless
        // (seeded: the same flips every run), and at least one judged restorable must have been resumed
        assertThat(counts.keySet()).as("flips judged restorable and resumed: " + counts)
                .anyMatch(k -> k.contains("judged RESTORABLE, resumed"));
    }

    /** Changes one byte (xor mask), or puts {@code restore} back; returns the byte that was there. */
    private static int flip(java.nio.file.Path file, long offset, int mask, int restore) throws Exception {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int b = raf.read();
            raf.seek(offset);
            raf.write(restore >= 0 ? restore : b ^ mask);
            return b;
        }
    }

    /**
     * What the deep check proved of the file. A state file it says nothing of is a failure, not "no
     * proof": that is exactly the file whose divergent restore the check must answer for.
     */
    private static Proof proofOf(Validation v, java.nio.file.Path file, boolean stateFile) {
        assertThat(v.deepCheck()).as("a deep validation's check").isNotNull();
        Optional<Proof> proof = v.deepCheck().files().stream()
                .filter(f -> local(new Path(f.path())).equals(file))
                .map(FileProof::proof).findFirst();
        if (stateFile) {
            return proof.orElseThrow(() -> new AssertionError("the deep check says nothing of the state file " + file
                    + ": " + v.deepCheck().files()));
        }
        return proof.orElse(Proof.NONE);
    }

    /** Runs the job until it retained a checkpoint taken mid-input, cancels it, returns that checkpoint. */
    private Path retainedCheckpoint(MiniCluster cluster, Backend backend, String dir, RecoveryJob.Settings s) throws Exception {
        StreamExecutionEnvironment env = environment(backend, dir, null);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, 3, TIMEOUT);
        return new Path(JobRunner.cancelKeepingNewest(cluster, job, TIMEOUT).getExternalPath());
    }

    /** Resumes the full input from the checkpoint, without restarts, and checks the final state. */
    private ExpectedResults.Verification resume(MiniCluster cluster, Backend backend, Path checkpoint, String what) throws Exception {
        java.nio.file.Path output = Files.createTempDirectory(base, "out");
        RecoveryJob.Settings s = new RecoveryJob.Settings(20_000, 300, 0, 0, output.toString());
        StreamExecutionEnvironment env = environment(backend, base.resolve("resumed").toUri().toString(), checkpoint.toString());
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobResult result;
        try {
            result = JobRunner.await(cluster, job, RESUMED_RUN_LIMIT, c -> {});
        } catch (IllegalStateException stillRunning) {
            // A changed value (a source's split bounds, say) can make the resumed job run on and on:
            // its state was restored, it differs.
            result = JobRunner.cancelAndAwaitEnd(cluster, job, TIMEOUT);
            if (cluster.getJobStatus(job).get() == JobStatus.CANCELED) {
                return null;
            }
            // it failed or finished on its own while the cancellation was on its way: judged as any end
        }
        if (!result.isSuccess() && (failedAfterRestore(result) || everyTaskRestored(cluster, job))) {
            return null; // restored, then the job failed on what it restored (e.g. out of memory on a grown list)
        }
        assertThat(result.isSuccess()).as("resuming from %s after changing %s: %s", checkpoint, what,
                RecoveryTestSupport.failureText(result)).isTrue();
        return ExpectedResults.verify(output, s.records(), s.keys());
    }

    /** A resumed job this test input finishes in seconds; beyond this it runs on other state. */
    private static final Duration RESUMED_RUN_LIMIT = Duration.ofSeconds(45);

    /**
     * Whether every task of the job got past restoring its state: Flink restores a task's state
     * while it is INITIALIZING, and only then switches it to RUNNING. Needed beside the failure's
     * frames ({@link #failedAfterRestore}): an out-of-memory error thrown once the heap is exhausted
     * (a changed source split made the job read far more input, say) may carry no frame at all.
     */
    private static boolean everyTaskRestored(MiniCluster cluster, JobID job) throws Exception {
        AccessExecutionGraph graph = cluster.getArchivedExecutionGraph(job).get();
        for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
            if (v.getStateTimestamp(ExecutionState.RUNNING) <= 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether the job failed while processing records (its tasks' {@code invoke}) rather than while
     * restoring: a failure with no frame of the restore, on the JobManager or in a task.
     */
    private static boolean failedAfterRestore(JobResult result) {
        Throwable t = result.getSerializedThrowable()
                .map(e -> e.deserializeError(RestorabilityTruthITCase.class.getClassLoader())).orElse(null);
        boolean processing = false;
        for (Throwable c = t; c != null; c = c.getCause()) {
            for (StackTraceElement f : c.getStackTrace()) {
                String frame = f.getClassName() + "." + f.getMethodName();
                if (frame.contains("restoreInternal") || frame.contains("restoreStateAndGates")
                        || frame.contains("StreamTaskStateInitializer") || frame.contains("CheckpointCoordinator.restore")
                        || frame.startsWith("org.apache.flink.runtime.checkpoint.Checkpoints.")) {
                    return false;
                }
                processing |= frame.equals("org.apache.flink.streaming.runtime.tasks.StreamTask.processInput");
            }
        }
        return processing;
    }

    private static StreamExecutionEnvironment environment(Backend backend, String dir, String restoreFrom) {
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, backend.type);
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, backend.incremental);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(300));
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        // state files of a few KiB stay files instead of moving into _metadata (the default keeps
        // up to 20 KiB inline): the changed bytes then land in SST, MANIFEST and heap files too
        conf.setString("execution.checkpointing.data-inline-threshold", "1kb");
        if (restoreFrom != null) {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        return env;
    }

    private static java.nio.file.Path local(Path p) {
        return java.nio.file.Path.of(p.toUri().getPath());
    }
}
