package io.github.s3tiered.inspector;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Savepoints written by Flink 1.20 with RocksDB, canonical and native (test resources {@code
 * flink-1.20-checkpoints/}, written by {@link CheckpointFixtures} on the 1.20 line), read by this
 * line's inspector and restored by this line's Flink: what an upgrade from 1.20 does. The verdict
 * must be the truth: RESTORABLE only for what this Flink restores, and single-byte damage either
 * caught or harmless to the restore.
 */
class Flink120CheckpointsITCase {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = RealCheckpoints.miniCluster();

    private static final int FLIPS = 12;

    @TempDir
    Path work;

    private final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    @ParameterizedTest
    @ValueSource(strings = {"rocksdb-canonical-savepoint", "rocksdb-native-savepoint"})
    void judgedRestorableAndRestoredByThisLine(String fixture, @InjectMiniCluster MiniCluster cluster) throws Exception {
        Path checkpoint = copy(fixture, work.resolve(fixture));
        Validation v = inspector.validate(new org.apache.flink.core.fs.Path(checkpoint.toUri()), true);
        assertThat(v.restorable()).as("%s: %s", fixture, v.reason()).isTrue();
        assertThat(v.files()).as("state files of the savepoint").isNotEmpty()
                .allSatisfy(f -> assertThat(java.nio.file.Path.of(f.path().toUri())).startsWith(checkpoint));
        assertThat(resume(cluster, checkpoint)).as("%s resumed by this Flink", fixture).isTrue();
    }

    @Test
    void singleByteDamageIsCaughtOrRestores(@InjectMiniCluster MiniCluster cluster) throws Exception {
        Path checkpoint = copy("rocksdb-native-savepoint", work.resolve("damaged"));
        java.util.List<Path> files;
        try (java.util.stream.Stream<Path> list = Files.list(checkpoint)) {
            files = list.sorted().toList();
        }
        Random random = new Random(120);
        Map<String, Integer> verdicts = new TreeMap<>();
        for (int i = 0; i < FLIPS; i++) {
            Path file = files.get(random.nextInt(files.size()));
            long offset = (long) (random.nextDouble() * Files.size(file));
            int mask = 1 + random.nextInt(255);
            int original = flip(file, offset, mask, -1);
            try {
                Validation v = inspector.validate(new org.apache.flink.core.fs.Path(checkpoint.toUri()), true);
                verdicts.merge(String.valueOf(v.verdict()), 1, Integer::sum);
                if (v.restorable()) {
                    assertThat(resume(cluster, checkpoint))
                            .as("judged RESTORABLE after byte %d ^%d of %s, so this Flink must restore it", offset, mask, file.getFileName())
                            .isTrue();
                }
            } finally {
                flip(file, offset, 0, original);
            }
        }
        System.out.println("Flink 1.20 native savepoint, single-byte changes read by this line: " + verdicts);
        assertThat(verdicts.keySet()).as("damage in 1.20's format is found").anyMatch(k -> !k.equals("RESTORABLE"));
    }

    /** Resumes the job from {@code checkpoint}; true when it restored that checkpoint and took one of its own. */
    private boolean resume(MiniCluster cluster, Path checkpoint) throws Exception {
        Configuration conf = CheckpointingJob.config(work.resolve("resumed"),
                Map.of("execution.state-recovery.path", checkpoint.toUri().toString()));
        CheckpointingJob.Result r;
        try {
            r = CheckpointingJob.run(cluster, conf, false, 1, Duration.ofMillis(200), false);
        } catch (Exception failed) {
            return false;
        }
        RestoredCheckpointStats restored = cluster.getArchivedExecutionGraph(r.jobId()).get()
                .getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
        return restored != null && r.checkpoints().size() == 1;
    }

    /** A copy of the fixture's directory (the test damages it). */
    private static Path copy(String fixture, Path to) throws Exception {
        java.net.URL url = Flink120CheckpointsITCase.class.getResource("/flink-1.20-checkpoints/" + fixture + "/_metadata");
        assertThat(url).as("fixture %s", fixture).isNotNull();
        Files.createDirectories(to);
        try (java.util.stream.Stream<Path> list = Files.list(Path.of(url.toURI()).getParent())) {
            for (Path f : list.toList()) {
                Files.copy(f, to.resolve(f.getFileName().toString()));
            }
        }
        return to;
    }

    /** Changes one byte (xor mask), or puts {@code restore} back; returns the byte that was there. */
    private static int flip(Path file, long offset, int mask, int restore) throws Exception {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int b = raf.read();
            raf.seek(offset);
            raf.write(restore >= 0 ? restore : b ^ mask);
            return b;
        }
    }
}
