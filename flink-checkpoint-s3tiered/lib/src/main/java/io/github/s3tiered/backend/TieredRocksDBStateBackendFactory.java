package io.github.s3tiered.backend;

import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.StateBackendFactory;

/** Chosen with {@code state.backend.type: io.github.s3tiered.backend.TieredRocksDBStateBackendFactory}. */
public class TieredRocksDBStateBackendFactory implements StateBackendFactory<TieredRocksDBStateBackend> {

    @Override
    public TieredRocksDBStateBackend createFromConfig(ReadableConfig config, ClassLoader classLoader) {
        io.github.s3tiered.checkpoint.FlinkLineCheck.verify();
        return new TieredRocksDBStateBackend().configure(config, classLoader);
    }
}
