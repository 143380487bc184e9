package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import java.util.Optional;

/**
 * Copies of state handles that read the fetched local files instead of the storage, so that Flink's
 * own restore code ({@code openInputStream}, segment windows of merged files) reads exactly the
 * bytes that were checked, and reads them only once from the storage.
 */
final class LocalizedHandles {

    private LocalizedHandles() {}

    /** The remote file a handle reads, or empty for state inside the metadata. */
    static Optional<Path> fileOf(StreamStateHandle h) {
        if (h instanceof SegmentFileStateHandle seg) {
            return Optional.of(seg.getFilePath());
        }
        if (h instanceof FileStateHandle file) {
            return Optional.of(file.getFilePath());
        }
        return Optional.empty();
    }

    static StreamStateHandle localize(StreamStateHandle h, LocalFiles local) {
        if (h instanceof SegmentFileStateHandle seg) {
            return new SegmentFileStateHandle(localPath(seg.getFilePath(), local), seg.getStartPos(), seg.getStateSize(),
                    seg.getScope(), seg.getLogicalFileId());
        }
        if (h instanceof FileStateHandle file) {
            return new FileStateHandle(localPath(file.getFilePath(), local), file.getStateSize());
        }
        if (h instanceof ByteStreamStateHandle || h == null) {
            return h;
        }
        throw new IllegalArgumentException("Cannot read state handle " + h.getClass().getName());
    }

    static KeyGroupsStateHandle localize(KeyGroupsStateHandle h, LocalFiles local) {
        StreamStateHandle delegate = localize(h.getDelegateStateHandle(), local);
        return h instanceof KeyGroupsSavepointStateHandle
                ? new KeyGroupsSavepointStateHandle(h.getGroupRangeOffsets(), delegate)
                : KeyGroupsStateHandle.restore(h.getGroupRangeOffsets(), delegate, h.getStateHandleId());
    }

    static OperatorStateHandle localize(OperatorStateHandle h, LocalFiles local) {
        return new OperatorStreamStateHandle(h.getStateNameToPartitionOffsets(), localize(h.getDelegateStateHandle(), local));
    }

    private static Path localPath(Path remote, LocalFiles local) {
        return new Path(local.local(remote).toAbsolutePath().toUri());
    }

    /** How a human names the bytes a handle reads. */
    static String describe(StreamStateHandle h) {
        if (h instanceof SegmentFileStateHandle seg) {
            return seg.getFilePath() + " (bytes " + seg.getStartPos() + "-" + (seg.getStartPos() + seg.getStateSize()) + ")";
        }
        if (h instanceof FileStateHandle file) {
            return file.getFilePath().toString();
        }
        return "state inside _metadata";
    }
}
