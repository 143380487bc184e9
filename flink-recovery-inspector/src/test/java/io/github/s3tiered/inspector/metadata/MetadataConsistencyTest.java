package io.github.s3tiered.inspector.metadata;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.StateObjectCollection;
import org.apache.flink.runtime.checkpoint.channel.InputChannelInfo;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.InputChannelStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Checks of {@link MetadataConsistency} whose legitimate side the real checkpoints of the ITs do not
 * reach: states Flink writes only under settings those jobs do not use.
 */
class MetadataConsistencyTest {

    private static final long CHECKPOINT_ID = 5;
    private static final KeyGroupRange ALL = KeyGroupRange.of(0, 127);

    @Test
    void anIncrementalSnapshotNewerThanItsCheckpointIsAContradiction() {
        assertThat(MetadataConsistency.check(metadata(incremental(CHECKPOINT_ID)), "chk-5")).isEmpty();
        assertThat(MetadataConsistency.check(metadata(incremental(CHECKPOINT_ID - 3)), "chk-5")).isEmpty();
        assertThat(MetadataConsistency.check(metadata(incremental(CHECKPOINT_ID + 1)), "chk-5"))
                .singleElement().asString().contains("incremental snapshot of checkpoint 6, newer than checkpoint 5");
    }

    /**
     * The changelog backend materializes with ids of its own count: with materializations more
     * frequent than checkpoints, a checkpoint holds a materialized snapshot of a higher id.
     */
    @Test
    void aChangelogsMaterializedSnapshotMayCarryAHigherMaterializationId() {
        KeyedStateHandle changelog = new ChangelogStateBackendHandleImpl(List.of(incremental(40)), List.of(), ALL,
                CHECKPOINT_ID, 40, 1000);
        assertThat(MetadataConsistency.check(metadata(changelog), "chk-5")).isEmpty();
    }

    @Test
    void anOperatorRecordedTwiceIsAContradiction() {
        OperatorState op = new OperatorState(null, null, new OperatorID(1, 2), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedKeyedState(incremental(CHECKPOINT_ID)).build());
        OperatorState again = new OperatorState(null, null, new OperatorID(1, 2), 1, 128);
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(op), List.of()), "chk-5")).isEmpty();
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(op, again), List.of()), "chk-5"))
                .singleElement().asString().contains("is recorded twice");
    }

    @Test
    void aChangeSetStartingPastTheEndOfItsChangelogFileIsAContradiction() {
        assertThat(MetadataConsistency.check(metadata(changelogWithChangesAt(0, 999)), "chk-5")).isEmpty();
        assertThat(MetadataConsistency.check(metadata(changelogWithChangesAt(0, 70_000)), "chk-5"))
                .singleElement().asString().contains("changes start at byte 70000 of a 1000-byte changelog file");
        assertThat(MetadataConsistency.check(metadata(changelogWithChangesAt(1000)), "chk-5"))
                .singleElement().asString().contains("changes start at byte 1000 of a 1000-byte changelog file");
        assertThat(MetadataConsistency.check(metadata(changelogWithChangesAt(-1)), "chk-5"))
                .singleElement().asString().contains("changes start at byte -1");
    }

    /**
     * Flink's changelog storage records the bytes it wrote after the file's compression flag,
     * before compression: the file is one byte longer, or shorter when compressed. Only its
     * existence with the flag can be required.
     */
    @Test
    void aChangelogFileIsNotHeldToItsRecordedSize() {
        org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl changes =
                new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(List.of(
                        org.apache.flink.api.java.tuple.Tuple2.of(file("changelog-a"), 0L),
                        org.apache.flink.api.java.tuple.Tuple2.of(file("changelog-a"), 500L)), ALL, 1000, 1000, "filesystem");
        KeyedStateHandle changelog = new ChangelogStateBackendHandleImpl(List.of(incremental(CHECKPOINT_ID)), List.of(changes),
                ALL, CHECKPOINT_ID, CHECKPOINT_ID, 1000);
        io.github.s3tiered.inspector.ReferencedFile f = CheckpointReferences.of(metadata(changelog)).files().stream()
                .filter(r -> r.path().getName().equals("changelog-a")).findFirst().orElseThrow();
        assertThat(f.exactSize()).isFalse();
        assertThat(f.minSize()).isEqualTo(1);
        assertThat(f.kinds()).singleElement().asString().endsWith("-changelog");
    }

    /**
     * Flink's restore looks up the changelog storage a handle names exactly as written, among
     * lower-case names: one changed byte of {@code filesystem} fails it. A lower-case name far from
     * Flink's may be a plugin's storage, which the inspector cannot see: not judged.
     */
    @Test
    void changesKeptByAChangelogStorageFlinkCannotHaveAreAContradiction() {
        for (String known : List.of("filesystem", "memory", "my-plugin-storage")) {
            assertThat(MetadataConsistency.check(metadata(changelogOf(known)), "chk-5")).as(known).isEmpty();
        }
        for (String damaged : List.of("Filesystem", "")) {
            assertThat(MetadataConsistency.check(metadata(changelogOf(damaged)), "chk-5")).as(damaged)
                    .singleElement().asString().contains("changelog storage '" + damaged + "', a name no changelog storage"
                            + " factory can have");
        }
        for (String damaged : List.of("filesystam", "memorz")) {
            assertThat(MetadataConsistency.check(metadata(changelogOf(damaged)), "chk-5")).as(damaged)
                    .singleElement().asString().contains("changelog storage '" + damaged + "', one character from Flink's");
        }
    }

    private static KeyedStateHandle changelogOf(String storage) {
        org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl changes =
                new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(List.of(
                        org.apache.flink.api.java.tuple.Tuple2.of(file("changelog-a"), 0L)), ALL, 100, 100, storage);
        return new ChangelogStateBackendHandleImpl(List.of(incremental(CHECKPOINT_ID)), List.of(changes), ALL,
                CHECKPOINT_ID, CHECKPOINT_ID, 1000);
    }

    private static KeyedStateHandle changelogWithChangesAt(long... offsets) {
        List<org.apache.flink.api.java.tuple.Tuple2<StreamStateHandle, Long>> parts = new java.util.ArrayList<>();
        for (long offset : offsets) {
            parts.add(org.apache.flink.api.java.tuple.Tuple2.of(file("changelog-" + parts.size()), offset));
        }
        org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl changes =
                new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(parts, ALL, 100, 100, "filesystem");
        return new ChangelogStateBackendHandleImpl(List.of(incremental(CHECKPOINT_ID)), List.of(changes), ALL,
                CHECKPOINT_ID, CHECKPOINT_ID, 1000);
    }

    /**
     * The State Processor API writes its savepoints with checkpoint id 0 and carries an existing
     * snapshot's handles (of their own ids) into them; it may also drop operators, so neither the
     * ids nor the operators' parallelism bound anything there.
     */
    @Test
    void aStateProcessorApiSavepointIsNotHeldToTheCoordinatorsIds() {
        OperatorState op = new OperatorState(null, null, new OperatorID(1, 2), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedKeyedState(incremental(40))
                .setInputChannelState(new StateObjectCollection<>(List.of(new InputChannelStateHandle(0,
                        new InputChannelInfo(0, 200), file("in-0"), List.of(4L), 1000))))
                .build());
        assertThat(MetadataConsistency.check(new CheckpointMetadata(0, List.of(op), List.of()), "savepoint-1")).isEmpty();
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(op), List.of()), "chk-5"))
                .hasSize(2).anySatisfy(c -> assertThat(c).contains("newer than checkpoint 5"))
                .anySatisfy(c -> assertThat(c).contains("names channel 200, beyond this job's channels"));
    }

    /**
     * An operator writes raw keyed state itself, key group by key group: Flink records -1 for a key
     * group it did not write ({@code KeyedStateCheckpointOutputStream.NO_OFFSET_SET}), and its
     * restore skips those. A backend's managed keyed state holds every key group of its range.
     */
    @Test
    void aKeyGroupAnOperatorDidNotWriteIntoRawKeyedStateIsNotAContradiction() {
        long[] offsets = new long[128];
        java.util.Arrays.fill(offsets, -1L);
        offsets[5] = 0;
        offsets[9] = 40;
        offsets[10] = 1000; // started, nothing written: at the end of the 1000-byte file
        org.apache.flink.runtime.state.KeyGroupsStateHandle written = new org.apache.flink.runtime.state.KeyGroupsStateHandle(
                new org.apache.flink.runtime.state.KeyGroupRangeOffsets(ALL, offsets), file("raw"));
        OperatorState raw = new OperatorState(null, null, new OperatorID(1, 2), 1, 128);
        raw.putState(0, OperatorSubtaskState.builder().setRawKeyedState(written).build());
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(raw), List.of()), "chk-5")).isEmpty();

        assertThat(MetadataConsistency.check(metadata(written), "chk-5"))
                .singleElement().asString().contains("key group 0 starts at byte -1");
        offsets[7] = -2;
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(raw), List.of()), "chk-5"))
                .singleElement().asString().contains("key group 7 starts at byte -2");
    }

    /**
     * Flink appends each logical file's segment after the others in a physical file: a segment
     * moved onto another's hands one subtask's state to another, and a negative position cannot be
     * opened. A logical file referenced twice is the same segment each time.
     */
    @Test
    void fileMergingSegmentsMustBeReadableAndNeverShareBytes() {
        org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId a =
                org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId.generateRandomId();
        org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId b =
                org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId.generateRandomId();
        assertThat(MetadataConsistency.check(segments(segment(0, 100, a), segment(100, 50, b), segment(0, 100, a)), "chk-5"))
                .isEmpty();
        assertThat(MetadataConsistency.check(segments(segment(0, 100, a), segment(60, 50, b)), "chk-5"))
                .singleElement().asString().contains("overlaps").contains(a.toString()).contains(b.toString());
        assertThat(MetadataConsistency.check(segments(segment(0, 100, a), segment(0, 100, b)), "chk-5"))
                .singleElement().asString().contains("overlaps");
        assertThat(MetadataConsistency.check(segments(segment(Long.MIN_VALUE + 10, 100, a)), "chk-5"))
                .singleElement().asString().contains("which Flink never writes");
        assertThat(MetadataConsistency.check(segments(segment(0, -1, a)), "chk-5"))
                .singleElement().asString().contains("which Flink never writes");
    }

    private static StreamStateHandle segment(long start, long size,
            org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId id) {
        return new org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle(
                new Path("file:///checkpoints/job/taskowned/physical-1"), start, size,
                org.apache.flink.runtime.state.CheckpointedStateScope.EXCLUSIVE, id);
    }

    /** One subtask of each of several operators, each with raw operator state in a segment. */
    private static CheckpointMetadata segments(StreamStateHandle... segments) {
        List<OperatorState> ops = new java.util.ArrayList<>();
        for (int i = 0; i < segments.length; i++) {
            OperatorState op = new OperatorState(null, null, new OperatorID(1, 10 + i), 1, 128);
            op.putState(0, OperatorSubtaskState.builder().setRawOperatorState(
                    new org.apache.flink.runtime.state.OperatorStreamStateHandle(java.util.Map.of(), segments[i])).build());
            ops.add(op);
        }
        return new CheckpointMetadata(CHECKPOINT_ID, ops, List.of());
    }

    private static CheckpointMetadata metadata(KeyedStateHandle keyed) {
        OperatorState op = new OperatorState(null, null, new OperatorID(1, 2), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedKeyedState(keyed).build());
        return new CheckpointMetadata(CHECKPOINT_ID, List.of(op), List.of());
    }

    private static IncrementalRemoteKeyedStateHandle incremental(long checkpointId) {
        return new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(), ALL, checkpointId,
                List.of(HandleAndLocalPath.of(file("000010.sst"), "000010.sst")),
                List.of(HandleAndLocalPath.of(file("MANIFEST-000004"), "MANIFEST-000004"),
                        HandleAndLocalPath.of(new ByteStreamStateHandle("current", new byte[16]), "CURRENT")),
                new ByteStreamStateHandle("meta", new byte[3]), 1000);
    }

    /**
     * In-flight data as Flink writes it: a 4-byte header first in each file, each buffer its 4-byte
     * length and its bytes, every handle recording the subtask that wrote it. An offset at the
     * header (Flink's restore reads the version as an empty buffer and restores nothing of that
     * channel, without an error), one where no length fits, a size below the lengths, and a handle
     * recording another subtask (a rescaled restore routes its buffers as that subtask's) are
     * contradictions; a buffer right after the header is not.
     */
    @Test
    void inFlightBuffersWhereFlinkWritesNoneOrOfAnotherSubtaskAreContradictions() {
        assertThat(channelContradictions(1, 1, List.of(4L, 500L), 200)).isEmpty();
        assertThat(channelContradictions(1, 1, List.of(0L), 200)).singleElement().asString()
                .contains("subtask 1", "buffer at byte 0 of a 1000-byte file", "header");
        assertThat(channelContradictions(1, 1, List.of(4L, 997L), 200)).singleElement().asString()
                .contains("buffer at byte 997");
        assertThat(channelContradictions(1, 1, List.of(4L, 500L), 7)).singleElement().asString()
                .contains("7 bytes for 2 buffers");
        assertThat(channelContradictions(1, 0, List.of(4L), 200)).singleElement().asString()
                .contains("operator", "subtask 1", "records subtask 0");
    }

    /** The contradictions of a checkpoint whose operator (parallelism 2) has one input channel handle at {@code subtask}. */
    private static List<String> channelContradictions(int subtask, int recordedSubtask, List<Long> offsets, long size) {
        OperatorState op = new OperatorState(null, null, new OperatorID(1, 2), 2, 128);
        op.putState(subtask, OperatorSubtaskState.builder()
                .setInputChannelState(new StateObjectCollection<>(List.of(new InputChannelStateHandle(recordedSubtask,
                        new InputChannelInfo(0, 1), file("in-0"), offsets, size))))
                .build());
        return MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(op), List.of()), "chk-5");
    }

    private static StreamStateHandle file(String name) {
        return new FileStateHandle(new Path("file:///checkpoints/job/shared/" + name), 1000);
    }
}
