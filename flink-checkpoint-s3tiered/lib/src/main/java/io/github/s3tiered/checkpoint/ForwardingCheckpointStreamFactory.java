package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;

import java.io.IOException;
import java.util.Collection;
import java.util.List;

/** A stream factory that forwards everything to Flink's; subclasses change what they must. */
abstract class ForwardingCheckpointStreamFactory implements CheckpointStreamFactory {

    private final CheckpointStreamFactory delegate;

    ForwardingCheckpointStreamFactory(CheckpointStreamFactory delegate) {
        this.delegate = delegate;
    }

    @Override
    public CheckpointStateOutputStream createCheckpointStateOutputStream(CheckpointedStateScope scope) throws IOException {
        return delegate.createCheckpointStateOutputStream(scope);
    }

    @Override
    public boolean canFastDuplicate(StreamStateHandle stateHandle, CheckpointedStateScope scope) throws IOException {
        return delegate.canFastDuplicate(stateHandle, scope);
    }

    @Override
    public List<StreamStateHandle> duplicate(List<StreamStateHandle> stateHandles, CheckpointedStateScope scope) throws IOException {
        return delegate.duplicate(stateHandles, scope);
    }

    @Override
    public void reusePreviousStateHandle(Collection<? extends StreamStateHandle> previousHandle) {
        delegate.reusePreviousStateHandle(previousHandle);
    }

    @Override
    public boolean couldReuseStateHandle(StreamStateHandle stateHandle) {
        return delegate.couldReuseStateHandle(stateHandle);
    }
}
