package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A task's stream factory for one checkpoint that refuses to reuse a previously uploaded file whose
 * object the JobManager found missing from S3. RocksDB's incremental snapshot asks {@link
 * #couldReuseStateHandle} before it references an SST file it uploaded for an earlier checkpoint;
 * a refusal makes it upload the file again, so the new checkpoint no longer depends on the lost
 * object.
 */
final class ReuseVetoingStreamFactory extends ForwardingCheckpointStreamFactory {

    private static final Logger LOG = LoggerFactory.getLogger(ReuseVetoingStreamFactory.class);

    private final long checkpointId;
    private final VerificationStatus.Received status;

    ReuseVetoingStreamFactory(CheckpointStreamFactory delegate, long checkpointId, VerificationStatus.Received status) {
        super(delegate);
        this.checkpointId = checkpointId;
        this.status = status;
    }

    /**
     * RocksDB asks with a placeholder, not the handle it uploaded; the placeholder keeps the
     * physical id, which for a whole file is its path.
     */
    @Override
    public boolean couldReuseStateHandle(StreamStateHandle stateHandle) {
        org.apache.flink.core.fs.Path file = stateHandle instanceof SegmentFileStateHandle seg ? seg.getFilePath()
                : stateHandle instanceof FileStateHandle fsh ? fsh.getFilePath() : physicalPath(stateHandle);
        if (file != null && status.mayBeMissing(file)) {
            LOG.warn("Checkpoint {}: not reusing {}, which the JobManager found missing from S3; uploading the file again",
                    checkpointId, file);
            TaskManagerVerificationStatus.vetoedReuse();
            return false;
        }
        return super.couldReuseStateHandle(stateHandle);
    }

    private static org.apache.flink.core.fs.Path physicalPath(StreamStateHandle h) {
        try {
            String id = h.getStreamStateHandleID().getKeyString();
            return id.contains(":/") || id.startsWith("/") ? new org.apache.flink.core.fs.Path(id) : null;
        } catch (RuntimeException e) {
            return null; // not a path: state inside _metadata, or a merged file's logical id
        }
    }
}
