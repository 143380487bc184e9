package io.github.s3tiered.backend;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.runtime.query.TaskKvStateRegistry;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StateBackend.CustomInitializationMetrics;
import org.apache.flink.runtime.state.StateBackend.KeyedStateBackendParameters;
import org.apache.flink.runtime.state.ttl.TtlTimeProvider;

import java.util.Collection;

/** The parameters Flink passes to the backend, with the restore metrics captured on the way. */
final class TimedRestoreParameters<K> implements KeyedStateBackendParameters<K> {

    private final KeyedStateBackendParameters<K> delegate;
    private final RestoreTimings.Capture capture;

    TimedRestoreParameters(KeyedStateBackendParameters<K> delegate) {
        this.delegate = delegate;
        this.capture = RestoreTimings.capture(delegate.getCustomInitializationMetrics());
    }

    RestoreTimings.Capture capture() {
        return capture;
    }

    @Override
    public Environment getEnv() {
        return delegate.getEnv();
    }

    @Override
    public JobID getJobID() {
        return delegate.getJobID();
    }

    @Override
    public String getOperatorIdentifier() {
        return delegate.getOperatorIdentifier();
    }

    @Override
    public TypeSerializer<K> getKeySerializer() {
        return delegate.getKeySerializer();
    }

    @Override
    public int getNumberOfKeyGroups() {
        return delegate.getNumberOfKeyGroups();
    }

    @Override
    public KeyGroupRange getKeyGroupRange() {
        return delegate.getKeyGroupRange();
    }

    @Override
    public TaskKvStateRegistry getKvStateRegistry() {
        return delegate.getKvStateRegistry();
    }

    @Override
    public TtlTimeProvider getTtlTimeProvider() {
        return delegate.getTtlTimeProvider();
    }

    @Override
    public MetricGroup getMetricGroup() {
        return delegate.getMetricGroup();
    }

    @Override
    public Collection<KeyedStateHandle> getStateHandles() {
        return delegate.getStateHandles();
    }

    @Override
    public CloseableRegistry getCancelStreamRegistry() {
        return delegate.getCancelStreamRegistry();
    }

    @Override
    public double getManagedMemoryFraction() {
        return delegate.getManagedMemoryFraction();
    }

    @Override
    public CustomInitializationMetrics getCustomInitializationMetrics() {
        return capture;
    }
}
