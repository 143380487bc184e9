package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.StreamStateHandle;

import java.util.Set;

/**
 * A task's stream factory for one checkpoint that refuses to reuse a previously uploaded file whose
 * object the JobManager found missing from S3. RocksDB's incremental snapshot asks {@link
 * #couldReuseStateHandle} before it references an SST file it uploaded for an earlier checkpoint;
 * a refusal makes it upload the file again, so the new checkpoint no longer depends on the lost
 * object.
 */
final class ReuseVetoingStreamFactory extends ForwardingCheckpointStreamFactory {

    private final MissingObjects missing;

    ReuseVetoingStreamFactory(CheckpointStreamFactory delegate, long checkpointId, Set<String> missingPaths) {
        super(delegate);
        this.missing = new MissingObjects(checkpointId, missingPaths);
    }

    @Override
    public boolean couldReuseStateHandle(StreamStateHandle stateHandle) {
        return !missing.vetoes(stateHandle) && super.couldReuseStateHandle(stateHandle);
    }
}
