package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.List;

/**
 * One job's checkpoint directory ({@code <execution.checkpointing.dir>/<job-id>}).
 *
 * @param path the directory
 * @param checkpoints its {@code chk-N} directories, newest (highest N) first, then its savepoints
 */
public record JobDirectory(Path path, List<CheckpointLocation> checkpoints) {

    public JobDirectory {
        checkpoints = List.copyOf(checkpoints);
    }

    public List<CheckpointLocation> ofKind(CheckpointKind kind) {
        return checkpoints.stream().filter(c -> c.kind() == kind).toList();
    }
}
