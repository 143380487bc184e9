package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.rawClient;
import static io.github.s3tiered.examples.RecoveryTestSupport.tieredFileSystem;
import static io.github.s3tiered.examples.RecoveryTestSupport.transfer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.metadata.MetadataStructure;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import java.util.stream.Stream;

/**
 * Real checkpoints of every kind, written by plain Flink (its own file-system storage) on
 * {@code s3tiered://}, damaged in S3 in every way, and judged from a host whose local tier holds
 * intact copies of everything (warm: the host that wrote them) and from a host with none (cold). The
 * verdict must be the same: what S3 holds decides, never a local copy. A local copy that differs
 * from the damaged object is dropped and counted.
 */
class S3DamageITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = RecoveryTestSupport.miniCluster();

    @TempDir static java.nio.file.Path warmTier;
    @TempDir static java.nio.file.Path base;

    static final Map<Kind, Path> CHECKPOINTS = new EnumMap<>(Kind.class);

    /** Checkpoints and savepoints of each kind Flink writes. */
    enum Kind { ROCKSDB_INCREMENTAL, ROCKSDB_NATIVE_SAVEPOINT, ROCKSDB_CANONICAL_SAVEPOINT, ROCKSDB_FULL, HASHMAP, FILE_MERGING, UNALIGNED }

    /**
     * Where the judge runs: the host that wrote the checkpoint (intact copies), the same with Flink's
     * connection limiter on the scheme (which hides the file system behind a wrapper of its own), or
     * another host.
     */
    enum Tier {
        WARM, WARM_BEHIND_LIMITER, COLD;

        boolean warm() {
            return this != COLD;
        }
    }

    /** Damage done to the objects in S3, with what validation must say (deep: after a restore rehearsal). */
    enum Damage {
        FILE_DELETED(Verdict.MISSING_FILES, Verdict.MISSING_FILES),
        FILE_TRUNCATED(Verdict.SIZE_MISMATCH, Verdict.SIZE_MISMATCH),
        FILE_EXTENDED(Verdict.SIZE_MISMATCH, Verdict.SIZE_MISMATCH),
        FILE_EMPTIED(Verdict.SIZE_MISMATCH, Verdict.SIZE_MISMATCH),
        FILE_BYTE_FLIPPED(Verdict.RESTORABLE, Verdict.CHECKSUM_MISMATCH),
        METADATA_DELETED(Verdict.NO_METADATA, Verdict.NO_METADATA),
        METADATA_EMPTIED(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA),
        METADATA_TRUNCATED(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA),
        METADATA_RANDOM(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA),
        METADATA_HOSTILE_LENGTH(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA),
        METADATA_BYTE_FLIPPED(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA),
        /** Other bytes uploaded in its place, with their own checksum recorded: not the file Flink wrote. */
        METADATA_REPLACED(Verdict.CORRUPT_METADATA, Verdict.CORRUPT_METADATA);

        final Verdict shallow;
        final Verdict deep;

        Damage(Verdict shallow, Verdict deep) {
            this.shallow = shallow;
            this.deep = deep;
        }

        boolean ofMetadata() {
            return name().startsWith("METADATA");
        }

        /** Whether S3 now says the object is another one (size or recorded checksum) or none: a local copy is stale. */
        boolean replacesTheObject() {
            return this == FILE_TRUNCATED || this == FILE_EXTENDED || this == FILE_EMPTIED || this == METADATA_TRUNCATED
                    || this == METADATA_EMPTIED || this == METADATA_REPLACED || this == FILE_DELETED || this == METADATA_DELETED;
        }

        /**
         * The verdicts for this kind: a file-merging file may be longer than its segments need, so an
         * extension is seen only by its recorded checksum.
         */
        Verdict shallowFor(Kind kind) {
            return kind == Kind.FILE_MERGING && this == FILE_EXTENDED ? Verdict.RESTORABLE : shallow;
        }

        Verdict deepFor(Kind kind) {
            return kind == Kind.FILE_MERGING && this == FILE_EXTENDED ? Verdict.CHECKSUM_MISMATCH : deep;
        }
    }

    @BeforeAll
    static void checkpointsOfEveryKind(@InjectMiniCluster MiniCluster cluster) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), warmTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/damage";
        List<String> rocks = run(cluster, dir, Map.of("state.backend.type", "rocksdb", "execution.checkpointing.incremental", "true"),
                List.of(SavepointFormatType.NATIVE, SavepointFormatType.CANONICAL));
        CHECKPOINTS.put(Kind.ROCKSDB_INCREMENTAL, new Path(rocks.get(0)));
        CHECKPOINTS.put(Kind.ROCKSDB_NATIVE_SAVEPOINT, new Path(rocks.get(1)));
        CHECKPOINTS.put(Kind.ROCKSDB_CANONICAL_SAVEPOINT, new Path(rocks.get(2)));
        CHECKPOINTS.put(Kind.ROCKSDB_FULL, new Path(run(cluster, dir, Map.of("state.backend.type", "rocksdb",
                "execution.checkpointing.incremental", "false"), List.of()).get(0)));
        CHECKPOINTS.put(Kind.HASHMAP, new Path(run(cluster, dir, Map.of("state.backend.type", "hashmap"), List.of()).get(0)));
        CHECKPOINTS.put(Kind.FILE_MERGING, new Path(run(cluster, dir, Map.of("state.backend.type", "rocksdb",
                "execution.checkpointing.incremental", "true", "execution.checkpointing.file-merging.enabled", "true"),
                List.of()).get(0)));
        CHECKPOINTS.put(Kind.UNALIGNED, new Path(run(cluster, dir, Map.of("state.backend.type", "rocksdb",
                "execution.checkpointing.unaligned.enabled", "true", "execution.checkpointing.aligned-checkpoint-timeout", "0s"),
                List.of()).get(0)));
    }

    /** A plain Flink job (Flink's own storage) on s3tiered://; returns its newest checkpoint, then savepoints. */
    private static List<String> run(MiniCluster cluster, String dir, Map<String, String> backend,
            List<SavepointFormatType> savepoints) throws Exception {
        Configuration conf = new Configuration();
        backend.forEach(conf::setString);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(300));
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        // at least nine checkpoints before the input ends: the cancel after four finds it running
        RecoveryJob.build(env, new RecoveryJob.Settings(200_000, 300, 8_000, 0, base.resolve("out-" + System.nanoTime()).toString())
                .gatedEvery(10_000));
        JobID job = JobRunner.submit(cluster, env);
        List<String> out = new ArrayList<>();
        // Not the newest checkpoint: Flink's file merging deletes a task's managed directory when the
        // task ends before it heard that the last checkpoint completed, so a checkpoint completed just
        // before the cancellation can be left referencing deleted files (the inspector then rightly
        // says MISSING_FILES). The one before it was confirmed to every task.
        JobRunner.awaitCheckpoints(cluster, job, 4, TIMEOUT);
        List<String> taken = new ArrayList<>();
        for (SavepointFormatType format : savepoints) {
            taken.add(cluster.triggerSavepoint(job, dir + "/savepoints", false, format).get(60, TimeUnit.SECONDS));
        }
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<org.apache.flink.runtime.checkpoint.CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        out.add(strip(done.get(done.size() - 2).getExternalPath()));
        out.addAll(taken);
        return out;
    }

    private static String strip(String pointer) {
        return pointer.endsWith("/_metadata") ? pointer.substring(0, pointer.length() - "/_metadata".length()) : pointer;
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Kind kind : Kind.values()) {
            for (Damage damage : Damage.values()) {
                for (Tier tier : Tier.values()) {
                    // behind the limiter: two kinds suffice (the reads are the same for every kind)
                    if (tier != Tier.WARM_BEHIND_LIMITER || kind == Kind.ROCKSDB_INCREMENTAL || kind == Kind.HASHMAP) {
                        out.add(Arguments.of(kind, damage, tier));
                    }
                }
            }
        }
        return out.stream();
    }

    @AfterEach
    void warmAgain() {
        initializeFileSystems(fileSystemConfig(S3.server(), warmTier));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void theVerdictIsWhatS3HoldsWhateverTheLocalTierHolds(Kind kind, Damage damage, Tier tier) throws Exception {
        Path checkpoint = CHECKPOINTS.get(kind);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        Validation intact = inspector.validate(checkpoint, true);
        assertThat(intact.restorable()).as(intact.reason()).isTrue();
        Path victim = damage.ofMetadata()
                ? new Path(checkpoint, "_metadata")
                : intact.files().stream().max(Comparator.comparingLong(ReferencedFile::minSize)).map(ReferencedFile::path).orElse(null);
        assumeTrue(victim != null, kind + ": all state is inside _metadata, no file to damage");

        String bucket = S3.server().bucket();
        String key = victim.toUri().getPath().substring(1);
        try (S3Client raw = rawClient(S3.server())) {
            HeadObjectResponse head = raw.headObject(b -> b.bucket(bucket).key(key));
            byte[] original = raw.getObjectAsBytes(b -> b.bucket(bucket).key(key)).asByteArray();
            if (tier == Tier.WARM) {
                readThroughTheTier(victim, original.length);
            } else if (tier == Tier.WARM_BEHIND_LIMITER) {
                Configuration limited = fileSystemConfig(S3.server(), warmTier);
                limited.setString("fs.s3tiered.limit.total", "64");
                initializeFileSystems(limited);
                assertThat(FileSystem.get(victim.toUri())).isInstanceOf(org.apache.flink.core.fs.LimitedConnectionsFileSystem.class);
                readThroughTheTier(victim, original.length);
            } else {
                initializeFileSystems(fileSystemConfig(S3.server(), Files.createTempDirectory(base, "cold-tier")));
            }
            long staleBefore = staleCopiesDropped();
            damage(raw, bucket, key, head, original, damage);
            try {
                Validation shallow = inspector.validate(checkpoint, false);
                assertThat(shallow.verdict()).as(shallow.reason()).isEqualTo(damage.shallowFor(kind));
                Validation deep = inspector.validate(checkpoint, true);
                assertThat(deep.verdict()).as(deep.reason()).isEqualTo(damage.deepFor(kind));
                if (damage.deep != Verdict.NO_METADATA) {
                    assertThat(deep.filesConcerned()).as(deep.reason()).contains(victim.toString());
                }
                if (tier.warm() && damage.replacesTheObject()) {
                    assertThat(staleCopiesDropped()).as("the intact local copy that differs from S3 is dropped and counted")
                            .isGreaterThan(staleBefore);
                }
            } finally {
                raw.putObject(b -> b.bucket(bucket).key(key).metadata(head.metadata()), RequestBody.fromBytes(original));
            }
        }
    }

    /** Makes sure this host holds an intact local copy of the file, as the host that wrote it does. */
    private static void readThroughTheTier(Path file, int length) throws Exception {
        FileSystem fs = file.getFileSystem();
        byte[] buf = new byte[64 * 1024];
        long read = 0;
        try (FSDataInputStream in = fs.open(file)) {
            int n;
            while ((n = in.read(buf)) != -1) {
                read += n;
            }
        }
        assertThat(read).isEqualTo(length);
        assertThat(tieredFileSystem(S3.server().bucket()).localTier()
                .getVerified(S3.server().bucket(), file.toUri().getPath().substring(1))).as("a local copy of " + file).isPresent();
    }

    private static long staleCopiesDropped() throws Exception {
        return transfer(S3.server().bucket()).get(BridgeContract.LOCAL_TIER_STALE_COPIES_DROPPED);
    }

    private static void damage(S3Client raw, String bucket, String key, HeadObjectResponse head, byte[] original, Damage damage)
            throws Exception {
        byte[] bytes = switch (damage) {
            case FILE_DELETED, METADATA_DELETED -> null;
            case FILE_TRUNCATED, METADATA_TRUNCATED -> Arrays.copyOf(original, original.length / 2);
            case FILE_EXTENDED -> Arrays.copyOf(original, original.length + 100);
            case FILE_EMPTIED, METADATA_EMPTIED -> new byte[0];
            case FILE_BYTE_FLIPPED, METADATA_BYTE_FLIPPED -> {
                byte[] b = original.clone();
                b[b.length / 2] ^= 0x5a;
                yield b;
            }
            case METADATA_RANDOM -> {
                byte[] b = new byte[original.length];
                new Random(7).nextBytes(b);
                yield b;
            }
            case METADATA_REPLACED -> {
                byte[] b = new byte[original.length];
                new Random(11).nextBytes(b);
                CRC32C crc = new CRC32C();
                crc.update(b);
                raw.putObject(r -> r.bucket(bucket).key(key).metadata(Map.of("s3tiered-crc32c", String.format("%08x", crc.getValue()))),
                        RequestBody.fromBytes(b));
                yield null;
            }
            case METADATA_HOSTILE_LENGTH -> {
                byte[] b = original.clone();
                MetadataStructure.Field count = MetadataStructure.walk(original).fields().stream()
                        .filter(f -> f.kind() == MetadataStructure.Kind.COUNT && f.width() == 4).findFirst().orElseThrow();
                ByteBuffer.wrap(b).putInt(count.offset(), Integer.MAX_VALUE);
                yield b;
            }
        };
        if (bytes == null) {
            if (damage != Damage.METADATA_REPLACED) {
                raw.deleteObject(b -> b.bucket(bucket).key(key));
            }
        } else {
            // the object's metadata (with the CRC32C recorded at upload) is kept: only the bytes change
            raw.putObject(b -> b.bucket(bucket).key(key).metadata(head.metadata()), RequestBody.fromBytes(bytes));
        }
    }
}
