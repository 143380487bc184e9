package io.github.s3tiered.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.fs.S3TieredFileSystem;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.ExceptionUtils;
import org.apache.flink.util.WrappingProxy;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** Configuration and helpers shared by the MiniCluster recovery tests. */
final class RecoveryTestSupport {

    static final int PARALLELISM = 2;
    static final Duration TIMEOUT = Duration.ofMinutes(3);

    private RecoveryTestSupport() {}

    /**
     * Flink 1.20 has no batch copy ({@code PathsCopyingFileSystem}): its RocksDB restore streams every
     * file through the file system's {@code open()}, counted with all reads the tier serves or S3
     * answers. On 2.x the batch copy counts restored bytes on their own.
     */
    static final boolean RESTORES_STREAM = !classExists("org.apache.flink.core.fs.PathsCopyingFileSystem");

    /** The transfer figure of bytes a restore took from the local tier, on this Flink line. */
    static final String RESTORED_FROM_LOCAL_TIER = RESTORES_STREAM ? "bytesServedFromLocalTier" : "restoreBytesFromLocalTier";

    /** The transfer figure of bytes a restore downloaded from S3, on this Flink line. */
    static final String RESTORED_FROM_S3 = RESTORES_STREAM ? "bytesDownloaded" : "restoreBytesFromS3";

    /** A directory of the test's own, outside JUnit's temp dirs (see {@link #deleteQuietly}). */
    static java.nio.file.Path scratchDirectory(String name) {
        try {
            return java.nio.file.Files.createTempDirectory("s3tiered-" + name + "-");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static java.nio.file.Path newDirectory(java.nio.file.Path parent, String prefix) {
        try {
            return java.nio.file.Files.createTempDirectory(parent, prefix + "-");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Deletes a directory tree, retried a few times while background work of the file system (the
     * JobManager's discards and verification after a job ended) may still add to it; what remains
     * then stays in the temp directory.
     */
    static void deleteQuietly(java.nio.file.Path dir) {
        for (int attempt = 0; attempt < 10 && java.nio.file.Files.exists(dir); attempt++) {
            try {
                EmbeddedCluster.deleteRecursively(dir);
            } catch (java.io.IOException | RuntimeException e) {
                // written to meanwhile: next attempt
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static boolean classExists(String name) {
        try {
            Class.forName(name, false, RecoveryTestSupport.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /**
     * The name of a class of Flink's RocksDB backend, {@code relative} to its package, which is
     * {@code org.apache.flink.state.rocksdb} in 2.x and {@code org.apache.flink.contrib.streaming.state}
     * in 1.20: the tests run on both lines.
     */
    static String rocksDbClass(String relative) {
        for (String pkg : List.of("org.apache.flink.state.rocksdb.", "org.apache.flink.contrib.streaming.state.")) {
            try {
                return Class.forName(pkg + relative, false, RecoveryTestSupport.class.getClassLoader()).getName();
            } catch (ClassNotFoundException e) {
                // the other line
            }
        }
        throw new IllegalStateException("No RocksDB class " + relative + " in either Flink line's package");
    }

    /** The MiniCluster's own configuration: memory and the restart strategy; no S3 settings. */
    static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("128m"));
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        // Read by the JobManager from its own configuration, not from the job's.
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 3);
        return conf;
    }

    /** One TaskManager with a slot per subtask, on {@link #clusterConfig()}: the MiniCluster of each test class. */
    static org.apache.flink.test.junit5.MiniClusterExtension miniCluster() {
        return new org.apache.flink.test.junit5.MiniClusterExtension(
                new org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration.Builder()
                        .setConfiguration(clusterConfig())
                        .setNumberTaskManagers(1)
                        .setNumberSlotsPerTaskManager(PARALLELISM)
                        .build());
    }

    /** File-system configuration, as a TaskManager's config.yaml would carry it. */
    static Configuration fileSystemConfig(S3TestServer s3, Path localTier) {
        Configuration conf = new Configuration();
        s3.flinkS3Config().forEach(conf::setString);
        conf.setString("s3tiered.local.dir", localTier.toString());
        return conf;
    }

    static void initializeFileSystems(Configuration fsConfig) {
        FileSystem.initialize(fsConfig, null);
    }

    /** The job's configuration: the tiered storage and backend, 1 s checkpoints, retained on cancel. */
    static StreamExecutionEnvironment environment(String checkpointDir, String restoreFrom) {
        return environment(checkpointDir, restoreFrom, Map.of());
    }

    static StreamExecutionEnvironment environment(String checkpointDir, String restoreFrom, Map<String, String> extra) {
        Configuration conf = StateRecoveryExample.checkpointing(checkpointDir, Duration.ofMillis(500));
        extra.forEach(conf::setString);
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        if (restoreFrom != null) {
            conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        return env;
    }

    static JobResult run(MiniCluster cluster, StreamExecutionEnvironment env, RecoveryJob.Settings s) throws Exception {
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        return JobRunner.await(cluster, job, TIMEOUT, c -> {});
    }

    /**
     * Resumes the job of {@code s} from {@code retained} with {@code options}, on the file systems
     * as the caller set them up, to the end of its input: the job succeeds and its output in
     * {@code output} is exact (every record counted once).
     */
    static void resumesExactly(MiniCluster cluster, String dir, String retained, Map<String, String> options,
            RecoveryJob.Settings s, Path output) throws Exception {
        RecoveryJob.Settings resume = new RecoveryJob.Settings(s.records(), s.keys(), 0, 0, output.toString());
        JobResult result = run(cluster, environment(dir, retained, options), resume);
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, resume.records(), resume.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }

    static String failureText(JobResult result) {
        return result.getSerializedThrowable()
                .map(t -> ExceptionUtils.stringifyException(t.deserializeError(RecoveryTestSupport.class.getClassLoader())))
                .orElse("(no failure)");
    }

    static S3TieredFileSystem tieredFileSystem(String bucket) throws Exception {
        Object fs = FileSystem.get(URI.create("s3tiered://" + bucket + "/"));
        while (fs instanceof WrappingProxy<?> p) {
            fs = p.getWrappedDelegate();
        }
        if (fs instanceof org.apache.flink.core.fs.LimitedConnectionsFileSystem limited) { // fs.s3tiered.limit.*
            java.lang.reflect.Field original = limited.getClass().getDeclaredField("originalFs");
            original.setAccessible(true);
            fs = original.get(limited);
            while (fs instanceof WrappingProxy<?> p) {
                fs = p.getWrappedDelegate();
            }
        }
        return (S3TieredFileSystem) fs;
    }

    /** The transfer figures, and the requests sent per S3 operation, through the bridge as Flink's lib/ reads them. */
    static Map<String, Long> transfer(String bucket) throws Exception {
        S3TieredBridge.TransferFigures f = S3TieredBridge.forReads(FileSystem.get(URI.create(BridgeContract.SCHEME + "://" + bucket + "/")))
                .orElseThrow().transferMetrics();
        Map<String, Long> m = new java.util.HashMap<>(f.figures());
        m.put("GetObject", f.requests("GetObject"));
        return m;
    }

    static long delta(Map<String, Long> before, Map<String, Long> after, String name) {
        return after.getOrDefault(name, 0L) - before.getOrDefault(name, 0L);
    }

    static S3Client rawClient(S3TestServer s3) {
        return S3Client.builder()
                .endpointOverride(URI.create(s3.endpoint()))
                .region(Region.of(s3.region()))
                .forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(s3.accessKey(), s3.secretKey())))
                .build();
    }
}
