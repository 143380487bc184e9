package io.github.s3tiered.inspector;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.metadata.OperatorIds;

import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.DefaultOperatorStateBackend;
import org.apache.flink.runtime.state.DefaultOperatorStateBackendBuilder;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStreamFactory;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RunnableFuture;

/**
 * Operator state written by Flink's own operator state backend, with and without snapshot
 * compression, and offsets in {@code _metadata} moved onto another element's start (as a source's
 * splits would be): Flink restores the other element in its place without an error, so deep
 * validation must reject it in both forms. Compressed, each element's chunks are decompressed on
 * their own and must hold exactly that element.
 */
class CompressedOperatorStateOffsetsTest {

    @TempDir
    java.nio.file.Path jobDir;

    private final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    @ParameterizedTest(name = "compressed: {0}")
    @ValueSource(booleans = {true, false})
    void anElementsOffsetMovedOntoAnothersIsCorruptState(boolean compressed) throws Exception {
        OperatorStateHandle intact = writeSplits(compressed, List.of(1001L, 1002L, 1003L, 1004L));
        long[] at = intact.getStateNameToPartitionOffsets().get("splits").getOffsets();
        assertThat(at).hasSize(4);

        Validation whole = validate(1, intact);
        assertThat(whole.verdict()).as(whole.reason()).isEqualTo(Verdict.RESTORABLE);

        // the second split's offset onto the third's: the third restored twice, the second lost
        Validation middle = validate(2, withOffsets(intact, new long[] {at[0], at[2], at[2], at[3]}));
        assertThat(middle.verdict()).as(middle.reason()).isEqualTo(Verdict.CORRUPT_STATE);

        // the first split's offset onto the second's
        Validation first = validate(3, withOffsets(intact, new long[] {at[1], at[1], at[2], at[3]}));
        assertThat(first.verdict()).as(first.reason()).isEqualTo(Verdict.CORRUPT_STATE);

        // the last split's offset onto the third's
        Validation last = validate(4, withOffsets(intact, new long[] {at[0], at[1], at[2], at[2]}));
        assertThat(last.verdict()).as(last.reason()).isEqualTo(Verdict.CORRUPT_STATE);
    }

    /**
     * Two list states of one type with their offsets swapped, or a list's elements reordered:
     * every element still decodes where it is read, and Flink restores each state's values into
     * the other, or in another order (a source's splits to other subtasks at a rescale).
     */
    @ParameterizedTest(name = "compressed: {0}")
    @ValueSource(booleans = {true, false})
    void offsetsSwappedBetweenStatesOrWithinOneAreCorruptState(boolean compressed) throws Exception {
        OperatorStateHandle intact = write(compressed, backend -> {
            backend.getListState(new ListStateDescriptor<>("a", Long.class)).add(1L);
            backend.getListState(new ListStateDescriptor<>("b", Long.class)).add(2L);
            ListState<Long> c = backend.getListState(new ListStateDescriptor<>("c", Long.class));
            c.add(3L);
            c.add(4L);
        });
        Map<String, OperatorStateHandle.StateMetaInfo> offsets = intact.getStateNameToPartitionOffsets();
        assertThat(validate(1, intact).verdict()).isEqualTo(Verdict.RESTORABLE);

        Map<String, OperatorStateHandle.StateMetaInfo> swapped = new java.util.HashMap<>(offsets);
        swapped.put("a", offsets.get("b"));
        swapped.put("b", offsets.get("a"));
        Validation between = validate(2, new OperatorStreamStateHandle(swapped, intact.getDelegateStateHandle()));
        assertThat(between.verdict()).as(between.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(between.reason()).contains("in the order of their meta data");

        long[] c = offsets.get("c").getOffsets();
        Map<String, OperatorStateHandle.StateMetaInfo> reordered = new java.util.HashMap<>(offsets);
        reordered.put("c", new OperatorStateHandle.StateMetaInfo(new long[] {c[1], c[0]}, offsets.get("c").getDistributionMode()));
        Validation within = validate(3, new OperatorStreamStateHandle(reordered, intact.getDelegateStateHandle()));
        assertThat(within.verdict()).as(within.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(within.reason()).contains("before one of its own");
    }

    /**
     * A state's distribution mode changed in {@code _metadata} alone, in an operator of one subtask
     * (nothing to compare across subtasks): Flink redistributes by {@code _metadata}'s at a
     * rescale, so split state read as union hands every subtask every split, and the reverse.
     */
    @ParameterizedTest(name = "compressed: {0}")
    @ValueSource(booleans = {true, false})
    void aDistributionModeChangedInMetadataAloneIsCorruptState(boolean compressed) throws Exception {
        OperatorStateHandle intact = writeSplits(compressed, List.of(1001L, 1002L));
        OperatorStateHandle.StateMetaInfo info = intact.getStateNameToPartitionOffsets().get("splits");
        assertThat(info.getDistributionMode()).isEqualTo(OperatorStateHandle.Mode.SPLIT_DISTRIBUTE);
        OperatorStateHandle union = new OperatorStreamStateHandle(Map.of("splits", new OperatorStateHandle.StateMetaInfo(
                info.getOffsets(), OperatorStateHandle.Mode.UNION)), intact.getDelegateStateHandle());

        Validation v = validate(5, union);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(v.reason()).contains("state 'splits' is SPLIT_DISTRIBUTE in the file, _metadata records it as UNION");
    }

    /**
     * What deep validation must not call broken: several list states (one empty), a union list
     * state, an element of several Snappy chunks, broadcast states with entries and without.
     */
    @ParameterizedTest(name = "compressed: {0}")
    @ValueSource(booleans = {true, false})
    void intactStateOfEveryShapeIsRestorable(boolean compressed) throws Exception {
        OperatorStateHandle handle = write(compressed, backend -> {
            ListState<Long> splits = backend.getListState(new ListStateDescriptor<>("splits", Long.class));
            splits.add(1L);
            splits.add(2L);
            backend.getListState(new ListStateDescriptor<>("empty", Long.class));
            ListState<String> union = backend.getUnionListState(new ListStateDescriptor<>("union", String.class));
            union.add("x");
            union.add(randomText(300_000)); // several 64 KiB chunks
            union.add("y");
            var broadcast = backend.getBroadcastState(new org.apache.flink.api.common.state.MapStateDescriptor<>("rules",
                    String.class, Long.class));
            for (int i = 0; i < 1000; i++) {
                broadcast.put("rule-" + i, (long) i);
            }
            backend.getBroadcastState(new org.apache.flink.api.common.state.MapStateDescriptor<>("none", String.class,
                    Long.class));
        });
        Validation v = validate(1, handle);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
    }

    /**
     * A chunk's type changed to one Snappy's readers skip (0x80 and up, as one bit makes it):
     * Flink's restore and an unchecked read both drop the chunk's bytes without an error.
     */
    @ParameterizedTest(name = "element {0}")
    @ValueSource(ints = {1, 3})
    void aChunkTurnedIntoOneReadersSkipIsCorruptState(int element) throws Exception {
        OperatorStateHandle handle = writeSplits(true, List.of(1001L, 1002L, 1003L, 1004L));
        long at = handle.getStateNameToPartitionOffsets().get("splits").getOffsets()[element];
        java.nio.file.Path file = java.nio.file.Path.of(((FileStateHandle) handle.getDelegateStateHandle()).getFilePath()
                .toUri());
        byte[] bytes = Files.readAllBytes(file);
        assertThat(bytes[(int) at] & 0xff).as("a data chunk starts at each element's offset").isIn(0x00, 0x01);
        bytes[(int) at] |= (byte) 0x80;
        Files.write(file, bytes);
        Validation v = validate(1, handle);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(v.reason()).contains("type 0x8");
    }

    private static String randomText(int length) {
        java.util.Random r = new java.util.Random(length);
        StringBuilder b = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            b.append((char) ('a' + r.nextInt(26)));
        }
        return b.toString();
    }

    private OperatorStateHandle writeSplits(boolean compressed, List<Long> splits) throws Exception {
        return write(compressed, backend -> {
            ListState<Long> state = backend.getListState(new ListStateDescriptor<>("splits", Long.class));
            for (Long s : splits) {
                state.add(s);
            }
        });
    }

    private interface StateWriter {
        void write(DefaultOperatorStateBackend backend) throws Exception;
    }

    private OperatorStateHandle write(boolean compressed, StateWriter states) throws Exception {
        ExecutionConfig config = new ExecutionConfig();
        config.setUseSnapshotCompression(compressed);
        DefaultOperatorStateBackend backend = new DefaultOperatorStateBackendBuilder(getClass().getClassLoader(), config,
                false, List.of(), new CloseableRegistry()).build();
        states.write(backend);
        java.nio.file.Path dir = Files.createDirectories(jobDir.resolve("taskowned"));
        FsCheckpointStreamFactory streams = new FsCheckpointStreamFactory(LocalFileSystem.getSharedInstance(),
                new Path(dir.toUri()), new Path(dir.toUri()), 0, 4096);
        RunnableFuture<SnapshotResult<OperatorStateHandle>> snapshot = backend.snapshot(1, 1, streams,
                CheckpointOptions.forCheckpointWithDefaultLocation());
        snapshot.run();
        OperatorStateHandle handle = snapshot.get().getJobManagerOwnedSnapshot();
        backend.dispose();
        // absolute (Flink made it relative to the directory it wrote into, not a chk-N's)
        FileStateHandle file = (FileStateHandle) handle.getDelegateStateHandle();
        return new OperatorStreamStateHandle(handle.getStateNameToPartitionOffsets(),
                new FileStateHandle(file.getFilePath(), file.getStateSize()));
    }

    private static OperatorStateHandle withOffsets(OperatorStateHandle h, long[] offsets) {
        OperatorStateHandle.StateMetaInfo info = h.getStateNameToPartitionOffsets().get("splits");
        return new OperatorStreamStateHandle(Map.of("splits", new OperatorStateHandle.StateMetaInfo(offsets,
                info.getDistributionMode())), h.getDelegateStateHandle());
    }

    private Validation validate(long id, OperatorStateHandle handle) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-" + id));
        OperatorState op = new OperatorState("source", "source", OperatorIds.fromUid("source"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedOperatorState(handle).build());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
        return inspector.validate(new Path(chk.toUri()), true);
    }
}
