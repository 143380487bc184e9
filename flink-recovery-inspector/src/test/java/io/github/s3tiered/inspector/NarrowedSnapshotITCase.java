package io.github.s3tiered.inspector;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.xerial.snappy.SnappyFramedInputStream;

import java.io.ByteArrayInputStream;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Keyed snapshots written by plain Flink (heap snapshots, and RocksDB's full format from canonical
 * savepoints; compressed or not), narrowed as the changelog state backend narrows its restored materialization after a
 * rescale ({@code KeyGroupsStateHandle#getIntersection}): each old subtask's file split between two
 * new subtasks, held in changelog handles of the new ranges. Deep validation judges the shares
 * restorable, and still refuses damage in a share's last key group, which key groups of the file
 * that the share does not name follow: a compressed one against its checksums (which Flink's
 * restore of a full snapshot does not check), a first offset moved away from the file's first key
 * group, and a range beyond the subtask's.
 */
class NarrowedSnapshotITCase {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = RealCheckpoints.miniCluster();

    @TempDir
    static java.nio.file.Path base;

    @TempDir
    java.nio.file.Path jobDir;

    private static final CheckpointInspector INSPECTOR = new CheckpointInspector(NarrowedSnapshotITCase.class.getClassLoader());

    enum Kind {
        HASHMAP(Map.of("state.backend.type", "hashmap")),
        HASHMAP_COMPRESSED(Map.of("state.backend.type", "hashmap", "execution.checkpointing.snapshot-compression", "true")),
        /**
         * The full format, which RocksDB writes on Flink 1.20 for checkpoints without incremental
         * (2.x writes its native files there): from a canonical savepoint, whose key-group files are
         * in it, under a plain key-groups handle.
         */
        ROCKSDB_FULL(Map.of()),
        ROCKSDB_FULL_COMPRESSED(Map.of("execution.checkpointing.snapshot-compression", "true"));

        final Map<String, String> options;

        Kind(Map<String, String> options) {
            this.options = options;
        }

        boolean compressed() {
            return options.containsKey("execution.checkpointing.snapshot-compression");
        }
    }

    private static final Map<Kind, CheckpointMetadata> WRITTEN = new EnumMap<>(Kind.class);

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        for (Kind kind : Kind.values()) {
            Map<String, String> options = new java.util.HashMap<>(kind.options);
            options.put("execution.checkpointing.incremental", "false");
            boolean fullFormat = kind.name().startsWith("ROCKSDB");
            CheckpointingJob.Result r = CheckpointingJob.run(cluster, CheckpointingJob.config(base, options), false, 2,
                    Duration.ofMillis(250), fullFormat ? List.of(SavepointFormatType.CANONICAL) : List.of());
            Validation v = INSPECTOR.validate(fullFormat ? new Path(r.savepoints().get(0)) : RealCheckpoints.newest(r), false);
            assertThat(v.verdict()).as(kind + ": " + v.reason()).isEqualTo(Verdict.RESTORABLE);
            WRITTEN.put(kind, v.metadata());
        }
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void sharesOfASnapshotAreRestorableAndDamageToThemIsNot(Kind kind) throws Exception {
        OperatorState keyed = keyedOperator(WRITTEN.get(kind));
        int newParallelism = keyed.getParallelism() * 2;
        List<KeyGroupsStateHandle> shares = shares(keyed, newParallelism);

        Validation intact = validate(1, keyed, shares);
        assertThat(intact.verdict()).as(kind + ": " + intact.reason()).isEqualTo(Verdict.RESTORABLE);

        // the first share of the first file: key groups of the file's follow its last one
        KeyGroupsStateHandle first = shares.get(0);
        List<KeyGroupsStateHandle> movedFirst = new ArrayList<>(shares);
        movedFirst.set(0, withFirstOffset(first, nextOffset(first)));
        Validation moved = validate(2, keyed, movedFirst);
        assertThat(moved.verdict()).as(kind + ", first offset moved: " + moved.reason()).isEqualTo(Verdict.CORRUPT_STATE);

        // the second share of the first file names key groups of the other half of the operator's too
        List<KeyGroupsStateHandle> beyond = new ArrayList<>(shares);
        KeyGroupRange second = shares.get(1).getKeyGroupRange();
        beyond.set(1, absolute((KeyGroupsStateHandle) ((KeyGroupsStateHandle) keyed.getState(0).getManagedKeyedState()
                .iterator().next()).getIntersection(KeyGroupRange.of(second.getStartKeyGroup() - 1, second.getEndKeyGroup()))));
        Validation wider = validate(3, keyed, beyond);
        assertThat(wider.verdict()).as(kind + ", share beyond its subtask: " + wider.reason())
                .isEqualTo(Verdict.CORRUPT_METADATA);

        if (kind.compressed()) {
            // a byte of the first share's last key group that Flink's unchecked decompression reads
            // into other bytes: the key groups of the file after it must not hide it
            java.nio.file.Path file = CheckpointDamageITCase.local(first.getDelegateStateHandle() instanceof
                    org.apache.flink.runtime.state.filesystem.FileStateHandle f ? f.getFilePath() : null);
            long start = lastOffset(first);
            long end = nextOffsetAfterShare(shares.get(1), first);
            long silent = silentlyDecompressedByte(file, start + (kind.name().startsWith("HASHMAP") ? Integer.BYTES : 0), end);
            try (Damage d = new Damage()) {
                d.flipByte(file, silent);
                Validation damaged = validate(4, keyed, shares);
                assertThat(damaged.verdict()).as(kind + ", byte " + silent + " of the last key group: " + damaged.reason())
                        .isEqualTo(Verdict.CORRUPT_STATE);
                // by the checksums, which Flink's restore does not check, not by chance in what decodes
                assertThat(damaged.reason()).contains("key group " + withData(first).get(withData(first).size() - 1).f0
                        + ": the compressed bytes");
            }
        }
    }

    private static OperatorState keyedOperator(CheckpointMetadata metadata) {
        return metadata.getOperatorStates().stream()
                .filter(op -> op.getStates().stream().anyMatch(s -> s.getManagedKeyedState().iterator().hasNext()
                        && s.getManagedKeyedState().iterator().next() instanceof KeyGroupsStateHandle))
                .findFirst().orElseThrow(() -> new AssertionError("no operator with a keyed snapshot among "
                        + metadata.getOperatorStates().stream().flatMap(op -> op.getStates().stream())
                                .flatMap(st -> st.getManagedKeyedState().stream()).map(h -> h.getClass().getSimpleName())
                                .toList()));
    }

    /** Each old subtask's snapshot narrowed to the new subtasks' ranges, as Flink narrows it: new subtask order. */
    private static List<KeyGroupsStateHandle> shares(OperatorState keyed, int newParallelism) {
        List<KeyGroupsStateHandle> out = new ArrayList<>();
        for (int subtask = 0; subtask < newParallelism; subtask++) {
            KeyGroupRange range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(keyed.getMaxParallelism(),
                    newParallelism, subtask);
            for (OperatorSubtaskState old : keyed.getStates()) {
                for (KeyedStateHandle h : old.getManagedKeyedState()) {
                    KeyedStateHandle share = h.getIntersection(range);
                    if (share != null) {
                        out.add(absolute((KeyGroupsStateHandle) share));
                    }
                }
            }
        }
        assertThat(out).as("one share per new subtask").hasSize(newParallelism);
        return out;
    }

    /**
     * The handle with its file named by its absolute path: written into another directory's
     * {@code _metadata}, a path relative to the checkpoint's directory would name another file.
     */
    private static KeyGroupsStateHandle absolute(KeyGroupsStateHandle h) {
        org.apache.flink.runtime.state.filesystem.FileStateHandle f =
                (org.apache.flink.runtime.state.filesystem.FileStateHandle) h.getDelegateStateHandle();
        return new KeyGroupsStateHandle(h.getGroupRangeOffsets(),
                new org.apache.flink.runtime.state.filesystem.FileStateHandle(f.getFilePath(), f.getStateSize()));
    }

    /** Checkpoint {@code id} of the operator at the shares' parallelism, each share a changelog handle's materialization. */
    private Validation validate(long id, OperatorState keyed, List<KeyGroupsStateHandle> shares) throws Exception {
        int p = shares.size();
        OperatorState op = OperatorStates.create(OperatorStates.name(keyed).orElse(null), OperatorStates.uid(keyed).orElse(null),
                keyed.getOperatorID(), p, keyed.getMaxParallelism());
        for (int subtask = 0; subtask < p; subtask++) {
            KeyGroupRange range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(keyed.getMaxParallelism(), p,
                    subtask);
            KeyGroupsStateHandle share = shares.get(subtask);
            op.putState(subtask, OperatorSubtaskState.builder()
                    .setManagedKeyedState(new ChangelogStateBackendHandleImpl(List.of(share), List.of(), range, id, 1,
                            share.getStateSize()))
                    .build());
        }
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-" + id));
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
        return INSPECTOR.validate(new Path(chk.toUri()), true);
    }

    /** Its key groups with data (a full snapshot records 0 for an empty one), in order. */
    private static List<Tuple2<Integer, Long>> withData(KeyGroupsStateHandle h) {
        List<Tuple2<Integer, Long>> out = new ArrayList<>();
        h.getGroupRangeOffsets().forEach(g -> {
            if (g.f1 != 0) {
                out.add(g);
            }
        });
        return out;
    }

    private static long nextOffset(KeyGroupsStateHandle h) {
        return withData(h).get(1).f1;
    }

    private static long lastOffset(KeyGroupsStateHandle h) {
        List<Tuple2<Integer, Long>> groups = withData(h);
        return groups.get(groups.size() - 1).f1;
    }

    /** Where the data of the key groups after {@code share} start: the next share's first key group with data. */
    private static long nextOffsetAfterShare(KeyGroupsStateHandle next, KeyGroupsStateHandle share) {
        assertThat(next.getDelegateStateHandle()).as("the two shares of one file").isEqualTo(share.getDelegateStateHandle());
        return withData(next).get(0).f1;
    }

    /** The first share with its first key group with data recorded at {@code offset}. */
    private static KeyGroupsStateHandle withFirstOffset(KeyGroupsStateHandle h, long offset) {
        KeyGroupRange range = h.getKeyGroupRange();
        long[] offsets = new long[range.getNumberOfKeyGroups()];
        int firstWithData = withData(h).get(0).f0;
        for (int g : range) {
            offsets[g - range.getStartKeyGroup()] = g == firstWithData ? offset : h.getOffsetForKeyGroup(g);
        }
        return new KeyGroupsStateHandle(new KeyGroupRangeOffsets(range, offsets), h.getDelegateStateHandle());
    }

    /** A byte of {@code [start, end)} whose flip Flink's unchecked Snappy reading turns into other bytes without an error. */
    private static long silentlyDecompressedByte(java.nio.file.Path file, long start, long end) throws Exception {
        byte[] region = Arrays.copyOfRange(Files.readAllBytes(file), (int) start, (int) end);
        byte[] intact = decompressUnchecked(region);
        assertThat(intact).as("the region decompresses").isNotNull();
        for (int i = region.length - 1; i >= 0; i--) {
            byte[] damaged = region.clone();
            damaged[i] ^= (byte) 0xFF;
            byte[] out = decompressUnchecked(damaged);
            if (out != null && out.length == intact.length && !Arrays.equals(out, intact)) {
                return start + i;
            }
        }
        throw new AssertionError("no byte of [" + start + ", " + end + ") decompresses silently into others");
    }

    private static byte[] decompressUnchecked(byte[] frames) {
        try (InputStream in = new SnappyFramedInputStream(new ByteArrayInputStream(frames), false)) {
            return in.readAllBytes();
        } catch (Exception | Error e) {
            return null;
        }
    }
}
