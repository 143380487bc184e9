package io.github.s3tiered.inspector;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.rehearsal.FileProof;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.xerial.snappy.SnappyFramedInputStream;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Real checkpoints with {@code execution.checkpointing.snapshot-compression: true}: Flink reads
 * the Snappy frames without checking their checksums, so a changed byte inside compressed data
 * mostly decompresses into other bytes that Flink restores as state. Deep validation checks the
 * checksums: each damage here is one Flink's own decompression reads through without an error
 * (chosen so), and it must be CORRUPT_STATE naming the file.
 */
class CompressedStateDamageITCase {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = RealCheckpoints.miniCluster();

    @TempDir
    static java.nio.file.Path base;

    static final CheckpointInspector INSPECTOR = new CheckpointInspector(CompressedStateDamageITCase.class.getClassLoader());

    /** The kinds whose keyed state is in Flink's key-group format (RocksDB's own checkpoints are SST files). */
    enum Kind { HASHMAP, HASHMAP_CANONICAL_SAVEPOINT, ROCKSDB_CANONICAL_SAVEPOINT }

    static final Map<Kind, Path> CHECKPOINTS = new EnumMap<>(Kind.class);

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        Duration warmUp = Duration.ofMillis(250);
        CheckpointingJob.Result heap = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of(
                "state.backend.type", "hashmap", "execution.checkpointing.incremental", "false",
                "execution.checkpointing.snapshot-compression", "true")), false, 2, warmUp, List.of(SavepointFormatType.CANONICAL));
        CheckpointingJob.Result rocks = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of(
                "execution.checkpointing.snapshot-compression", "true")), false, 2, warmUp, List.of(SavepointFormatType.CANONICAL));
        CHECKPOINTS.put(Kind.HASHMAP, RealCheckpoints.newest(heap));
        CHECKPOINTS.put(Kind.HASHMAP_CANONICAL_SAVEPOINT, new Path(heap.savepoints().get(0)));
        CHECKPOINTS.put(Kind.ROCKSDB_CANONICAL_SAVEPOINT, new Path(rocks.savepoints().get(0)));
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void aByteFlinkWouldDecompressIntoOtherStateIsCaught(Kind kind) throws Exception {
        Path cp = CHECKPOINTS.get(kind);
        Validation intact = INSPECTOR.validate(cp, true);
        assertThat(intact.verdict()).as(kind + " intact: " + intact.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(intact.deepCheck().files()).extracting(FileProof::how).as("the keyed state was compressed and checked")
                .anyMatch(how -> how.contains("compressed (Snappy checksums checked)"));

        StateFiles files = StateFiles.of(intact.metadata());
        // the largest key-grouped file, and within it the largest key group's compressed bytes
        StateFiles.Piece keyed = files.pieces(StateFiles.Role.KEY_GROUPS).stream()
                .max((a, b) -> Long.compare(a.length(), b.length())).orElseThrow();
        long[] region = largestKeyGroupRegion(keyed.keyGroups());
        assertDamageCaught(cp, keyed.file(), region[0], region[1], kind + " key groups");

        // the source's operator state (its splits), compressed as one framed stream after its meta data
        java.util.Optional<StateFiles.Piece> inFile = files.pieces(StateFiles.Role.OPERATOR).stream()
                .max((a, b) -> Long.compare(a.length(), b.length()));
        if (inFile.isEmpty() && org.apache.flink.runtime.util.EnvironmentInformation.getVersion().startsWith("1.")) {
            // on Flink 1.20 this job's source writes no operator state file (only the keyed state is damaged there)
            System.out.println(kind + ": no operator state file on this Flink line; not damaged here");
            return;
        }
        StateFiles.Piece operator = inFile.orElseThrow();
        long firstElement = firstOperatorStateElement(intact, operator.file());
        // the framed stream's 10-byte header (stream identifier chunk) comes just before the first element
        assertDamageCaught(cp, operator.file(), firstElement - 10, operator.end(), kind + " operator state");
    }

    /**
     * A full snapshot (a canonical savepoint) writes one framed stream a key group, and Flink's
     * restore skips a key group recorded at offset 0 (an empty one). A non-empty key group's offset
     * zeroed in {@code _metadata} leaves the key group before it with two streams back to back,
     * each passing its checksums: the zeroed key group would be restored as empty.
     */
    @ParameterizedTest
    @EnumSource(value = Kind.class, names = {"HASHMAP_CANONICAL_SAVEPOINT", "ROCKSDB_CANONICAL_SAVEPOINT"})
    void aKeyGroupOffsetZeroedInACompressedFullSnapshotIsCaught(Kind kind) throws Exception {
        Path cp = CHECKPOINTS.get(kind);
        java.nio.file.Path metadata = CheckpointDamageITCase.local(new Path(cp, "_metadata"));
        byte[] intact = Files.readAllBytes(metadata);
        // the second key group with data, of the first key-grouped handle
        List<io.github.s3tiered.inspector.metadata.MetadataStructure.Field> offsets =
                io.github.s3tiered.inspector.metadata.MetadataStructure.walk(intact).fields().stream()
                        .filter(f -> f.name().equals("key-group offset"))
                        .filter(f -> java.nio.ByteBuffer.wrap(intact, f.offset(), 8).getLong() != 0).toList();
        assertThat(offsets).as(kind + ": key groups with data").hasSizeGreaterThan(1);
        byte[] damaged = intact.clone();
        java.nio.ByteBuffer.wrap(damaged, offsets.get(1).offset(), 8).putLong(0);
        try (Damage d = new Damage()) {
            d.replace(metadata, damaged);
            Validation deep = INSPECTOR.validate(cp, true);
            assertThat(deep.verdict()).as(kind + ": " + deep.reason()).isEqualTo(Verdict.CORRUPT_STATE);
            assertThat(deep.reason()).contains("a second Snappy stream starts at byte");
        }
    }

    /** Damaged bytes tried per region, spread over it. */
    private static final int TRIES = 12;

    /**
     * Flips, one at a time, bytes of {@code [start, end)} that Flink's unchecked decompression
     * turns into other bytes of the same length without an error (most changed bytes of
     * compressed data do), and expects CORRUPT_STATE naming the file for each. Most such changes
     * land in keys or values, where the decoded state is merely different: only the checksums
     * tell (without them, deep validation judged most of these RESTORABLE).
     */
    private static void assertDamageCaught(Path cp, Path file, long start, long end, String what) throws Exception {
        java.nio.file.Path local = CheckpointDamageITCase.local(file);
        byte[] bytes = Files.readAllBytes(local);
        byte[] regionBytes = Arrays.copyOfRange(bytes, (int) start, (int) end);
        byte[] intact = decompressUnchecked(regionBytes);
        assertThat(intact).as(what + ": the region decompresses").isNotNull();
        List<Long> silent = new ArrayList<>();
        for (int i = 0; i < regionBytes.length; i++) {
            byte[] damaged = regionBytes.clone();
            damaged[i] ^= (byte) 0xFF;
            byte[] out = decompressUnchecked(damaged);
            if (out != null && out.length == intact.length && !Arrays.equals(out, intact)) {
                silent.add(start + i);
            }
        }
        assertThat(silent).as(what + ": bytes Flink's decompression reads into other state without an error").isNotEmpty();
        List<String> verdicts = new ArrayList<>();
        for (int t = 0; t < Math.min(TRIES, silent.size()); t++) {
            long chosen = silent.get((int) ((long) t * silent.size() / Math.min(TRIES, silent.size())));
            try (Damage d = new Damage()) {
                d.flipByte(local, chosen);
                Validation deep = INSPECTOR.validate(cp, true);
                verdicts.add(chosen + "=" + deep.verdict());
                assertThat(deep.verdict()).as(what + ", byte " + chosen + " flipped: " + deep.reason())
                        .isEqualTo(Verdict.CORRUPT_STATE);
                assertThat(deep.problems()).as(deep.reason()).anySatisfy(p -> {
                    assertThat(p.verdict()).isEqualTo(Verdict.CORRUPT_STATE);
                    assertThat(PathKey.of(new Path(p.file()))).isEqualTo(PathKey.of(file));
                    assertThat(p.reason()).contains("Snappy");
                });
            }
        }
        System.out.println(what + ": " + silent.size() + " of " + regionBytes.length + " bytes decompress silently into"
                + " other bytes; tried " + verdicts);
        assertThat(INSPECTOR.validate(cp, true).verdict()).as(what + " repaired").isEqualTo(Verdict.RESTORABLE);
    }

    /** As Flink's restore reads it (checksums not checked); null when even that fails. */
    private static byte[] decompressUnchecked(byte[] frames) {
        try (InputStream in = new SnappyFramedInputStream(new ByteArrayInputStream(frames), false)) {
            return in.readAllBytes();
        } catch (Exception | Error e) {
            return null;
        }
    }

    /** Bytes [start, end) of the key group with the most data: its compressed frames only. */
    private static long[] largestKeyGroupRegion(KeyGroupsStateHandle handle) {
        boolean heap = !(handle instanceof KeyGroupsSavepointStateHandle) && allKeyGroupsHaveOffsets(handle);
        List<Tuple2<Integer, Long>> groups = new ArrayList<>();
        handle.getGroupRangeOffsets().forEach(g -> {
            if (heap || g.f1 != 0) {
                groups.add(g);
            }
        });
        long streamEnd = handle.getDelegateStateHandle().getStateSize();
        long[] best = null;
        for (int i = 0; i < groups.size(); i++) {
            long start = groups.get(i).f1 + (heap ? Integer.BYTES : 0);
            long end = i + 1 < groups.size() ? groups.get(i + 1).f1 : streamEnd;
            if (best == null || end - start > best[1] - best[0]) {
                best = new long[] {start, end};
            }
        }
        return best;
    }

    private static boolean allKeyGroupsHaveOffsets(KeyGroupsStateHandle handle) {
        for (Tuple2<Integer, Long> g : handle.getGroupRangeOffsets()) {
            if (g.f1 == 0) {
                return false;
            }
        }
        return true;
    }

    /** Where the operator state file's first element starts, as its handle records. */
    private static long firstOperatorStateElement(Validation v, Path file) {
        long first = Long.MAX_VALUE;
        for (var op : v.metadata().getOperatorStates()) {
            for (var s : op.getStates()) {
                for (OperatorStateHandle h : s.getManagedOperatorState()) {
                    if (h.getDelegateStateHandle() instanceof org.apache.flink.runtime.state.filesystem.FileStateHandle f
                            && PathKey.of(f.getFilePath()).equals(PathKey.of(file))) {
                        for (OperatorStateHandle.StateMetaInfo info : h.getStateNameToPartitionOffsets().values()) {
                            for (long o : info.getOffsets()) {
                                first = Math.min(first, o);
                            }
                        }
                    }
                }
            }
        }
        assertThat(first).as("an element recorded in " + file).isNotEqualTo(Long.MAX_VALUE);
        return first;
    }
}
