package io.github.s3tiered.inspector;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.runtime.util.EnvironmentInformation;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes the savepoints another Flink line's tests read ({@link Flink120CheckpointsITCase}): a
 * canonical and a native savepoint of {@link CheckpointingJob} with RocksDB, each a self-contained
 * directory (savepoints refer to their files relative to {@code _metadata}; a retained checkpoint
 * names files in the job's {@code shared/} by absolute path, so it cannot be moved). Run on the
 * 1.20 line:
 *
 * <pre>
 * mvn -B -pl flink-1.20/inspector test-compile exec:java -Dexec.classpathScope=test \
 *   -Dexec.mainClass=io.github.s3tiered.inspector.CheckpointFixtures \
 *   -Dexec.args=$PWD/flink-recovery-inspector/src/test/resources/flink-1.20-checkpoints
 * </pre>
 */
public final class CheckpointFixtures {

    private CheckpointFixtures() {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Path work = Files.createTempDirectory("checkpoint-fixtures");
        Configuration cluster = RealCheckpoints.clusterConfig();
        cluster.set(RestOptions.BIND_PORT, "0");
        MiniClusterConfiguration config = new MiniClusterConfiguration.Builder()
                .setConfiguration(cluster).setNumTaskManagers(1).setNumSlotsPerTaskManager(CheckpointingJob.PARALLELISM).build();
        try (MiniCluster mini = new MiniCluster(config)) {
            mini.start();
            Configuration job = CheckpointingJob.config(work, Map.of());
            CheckpointingJob.Result r;
            try {
                r = CheckpointingJob.run(mini, job, false, 2, Duration.ofMillis(700),
                        List.of(SavepointFormatType.CANONICAL, SavepointFormatType.NATIVE));
            } catch (Exception e) {
                for (var status : mini.listJobs().get()) {
                    mini.requestJobResult(status.getJobId()).get().getSerializedThrowable().ifPresent(t ->
                            t.deserializeError(CheckpointFixtures.class.getClassLoader()).printStackTrace());
                }
                throw e;
            }
            String version = EnvironmentInformation.getVersion();
            CheckpointInspector inspector = new CheckpointInspector(CheckpointFixtures.class.getClassLoader());
            copySelfContained(inspector, r.savepoints().get(0), out.resolve("rocksdb-canonical-savepoint"));
            copySelfContained(inspector, r.savepoints().get(1), out.resolve("rocksdb-native-savepoint"));
            Files.writeString(out.resolve("WRITTEN-BY"), "Flink " + version + ", " + CheckpointFixtures.class.getName()
                    + " (job " + r.jobId() + ")\n");
        }
    }

    /** Copies a savepoint's directory; fails unless it is restorable and every file it references is inside. */
    private static void copySelfContained(CheckpointInspector inspector, String pointer, Path to) throws Exception {
        Path dir = Path.of(java.net.URI.create(pointer));
        Validation v = inspector.validate(new org.apache.flink.core.fs.Path(pointer), true);
        List<Path> outside = v.files().stream().map(f -> Path.of(f.path().toUri())).filter(p -> !p.startsWith(dir)).toList();
        if (!v.restorable() || !outside.isEmpty()) {
            throw new IllegalStateException(pointer + ": " + v.verdict() + "; files outside it: " + outside);
        }
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
