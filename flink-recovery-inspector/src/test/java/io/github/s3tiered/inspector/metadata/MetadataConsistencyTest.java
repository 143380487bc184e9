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
                        new InputChannelInfo(0, 200), file("in-0"), List.of(0L), 1000))))
                .build());
        assertThat(MetadataConsistency.check(new CheckpointMetadata(0, List.of(op), List.of()), "savepoint-1")).isEmpty();
        assertThat(MetadataConsistency.check(new CheckpointMetadata(CHECKPOINT_ID, List.of(op), List.of()), "chk-5"))
                .hasSize(2).anySatisfy(c -> assertThat(c).contains("newer than checkpoint 5"))
                .anySatisfy(c -> assertThat(c).contains("names channel 200, beyond this job's channels"));
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

    private static StreamStateHandle file(String name) {
        return new FileStateHandle(new Path("file:///checkpoints/job/shared/" + name), 1000);
    }
}
