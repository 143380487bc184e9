package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Set;

/**
 * The objects the JobManager found missing from S3, as a task's checkpoint sees them: a file
 * uploaded for an earlier checkpoint that is one of them must not be reused, so that the new
 * checkpoint uploads it again and no longer depends on the lost object.
 */
final class MissingObjects {

    private static final Logger LOG = LoggerFactory.getLogger(MissingObjects.class);

    private final long checkpointId;
    private final Set<String> missing = new HashSet<>();

    MissingObjects(long checkpointId, Set<String> missingPaths) {
        this.checkpointId = checkpointId;
        missingPaths.forEach(p -> missing.add(PathKey.of(new Path(p))));
    }

    /**
     * Whether reusing {@code stateHandle} is refused. RocksDB asks with a placeholder, not the
     * handle it uploaded; the placeholder keeps the physical id, which for a whole file is its path.
     */
    boolean vetoes(StreamStateHandle stateHandle) {
        Path file = stateHandle instanceof SegmentFileStateHandle seg ? seg.getFilePath()
                : stateHandle instanceof FileStateHandle fsh ? fsh.getFilePath() : physicalPath(stateHandle);
        if (file != null && missing.contains(PathKey.of(file))) {
            LOG.warn("Checkpoint {}: not reusing {}, which the JobManager found missing from S3; uploading the file again",
                    checkpointId, file);
            TaskManagerVerificationStatus.vetoedReuse();
            return true;
        }
        return false;
    }

    private static Path physicalPath(StreamStateHandle h) {
        try {
            String id = h.getStreamStateHandleID().getKeyString();
            return id.contains(":/") || id.startsWith("/") ? new Path(id) : null;
        } catch (RuntimeException e) {
            return null; // not a path: state inside _metadata, or a merged file's logical id
        }
    }
}
