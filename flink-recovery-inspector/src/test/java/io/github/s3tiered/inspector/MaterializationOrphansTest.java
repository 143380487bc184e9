package io.github.s3tiered.inspector;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.metadata.OperatorIds;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * The changelog state backend's materialization writes its files into the job's {@code
 * taskowned/} while it runs, and no checkpoint names them until it has completed (Flink sets it no
 * timeout): an orphan search on the running job must not take them, however old they are. A
 * subtask's materializations run one after the other, so a file newer than the last
 * materialization of any subtask is kept; older unreferenced files are orphans.
 */
class MaterializationOrphansTest {

    @TempDir java.nio.file.Path jobDir;

    private final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
    private final Instant now = Instant.now();

    @Test
    void filesNewerThanTheLastMaterializationOfAnySubtaskAreKept() throws Exception {
        // subtask 0 last materialized 3 h ago, subtask 1 2 h ago
        java.nio.file.Path a = taskOwned("materialized-0", hoursAgo(3));
        java.nio.file.Path b = taskOwned("materialized-1", hoursAgo(2));
        writeChangelogCheckpoint(7, file(a), file(b));
        taskOwned("failed-materialization", hoursAgo(4));
        taskOwned("subtask-0-materializing", hoursAgo(2.5)); // newer than subtask 0's last one
        taskOwned("subtask-1-materializing", hoursAgo(1.5));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("failed-materialization");
        assertThat(o.deleted()).extracting(Path::getName).containsExactly("failed-materialization");
        assertThat(o.tooYoung()).isEqualTo(2);
        assertThat(jobDir.resolve("taskowned/subtask-0-materializing")).exists();
    }

    @Test
    void aMaterializationWithNoFileToDateItKeepsEveryUnreferencedTaskOwnedFile() throws Exception {
        java.nio.file.Path a = taskOwned("materialized-0", hoursAgo(3));
        // subtask 1's last materialization is inline in _metadata: when it ended is not known
        writeChangelogCheckpoint(7, file(a), new ByteStreamStateHandle("inline", new byte[] {1, 2, 3}));
        taskOwned("old", hoursAgo(30));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.orphans()).isEmpty();
        assertThat(o.tooYoung()).isEqualTo(1);
        assertThat(jobDir.resolve("taskowned/old")).exists();
    }

    @Test
    void withoutChangelogStateTheMinimumAgeAloneDecides() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-7"));
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(7, List.of(), List.of()), new DataOutputStream(out));
        }
        taskOwned("unreferenced", hoursAgo(1.5));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), false, true));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("unreferenced");
    }

    private Instant hoursAgo(double hours) {
        return now.minusMillis((long) (hours * 3_600_000));
    }

    private java.nio.file.Path taskOwned(String name, Instant modified) throws Exception {
        java.nio.file.Path f = Files.createDirectories(jobDir.resolve("taskowned")).resolve(name);
        Files.write(f, new byte[100]);
        Files.setLastModifiedTime(f, FileTime.from(modified));
        return f;
    }

    private static StreamStateHandle file(java.nio.file.Path f) throws Exception {
        return new FileStateHandle(path(f), Files.size(f));
    }

    /** Checkpoint {@code id} of one operator with two subtasks, each holding only its last materialization. */
    private void writeChangelogCheckpoint(long id, StreamStateHandle first, StreamStateHandle second) throws Exception {
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 2, 128);
        KeyGroupRange[] ranges = {KeyGroupRange.of(0, 63), KeyGroupRange.of(64, 127)};
        StreamStateHandle[] materialized = {first, second};
        for (int subtask = 0; subtask < 2; subtask++) {
            KeyGroupsStateHandle heap = new KeyGroupsStateHandle(new KeyGroupRangeOffsets(ranges[subtask]), materialized[subtask]);
            op.putState(subtask, OperatorSubtaskState.builder()
                    .setManagedKeyedState(new ChangelogStateBackendHandleImpl(List.of(heap), List.of(), ranges[subtask], id, 1,
                            heap.getStateSize()))
                    .build());
        }
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-" + id));
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
    }

    private static Path path(java.nio.file.Path p) {
        return new Path(p.toUri());
    }
}
