package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.metadata.OperatorIds;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes, with Flink's metadata serializer, checkpoint 1 of one operator (128 key groups, one
 * subtask) whose keyed state is the changelog backend's changes alone: no materialization, the
 * change sets at the files and offsets given.
 */
final class ChangelogCheckpoints {

    private ChangelogCheckpoints() {}

    static void write(Path checkpointDir, List<Tuple2<StreamStateHandle, Long>> changeSets) throws Exception {
        KeyGroupRange all = KeyGroupRange.of(0, 127);
        long size = changeSets.stream().mapToLong(t -> t.f0.getStateSize()).sum();
        ChangelogStateHandleStreamImpl changes = new ChangelogStateHandleStreamImpl(changeSets, all, size, size, "filesystem");
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder()
                .setManagedKeyedState(new ChangelogStateBackendHandleImpl(List.of(), List.of(changes), all, 1, 0, size))
                .build());
        Files.createDirectories(checkpointDir);
        try (OutputStream out = Files.newOutputStream(checkpointDir.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(1, List.of(op), List.of()), new DataOutputStream(out));
        }
    }
}
