package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.CheckpointStorageFactory;

/**
 * Chosen with {@code execution.checkpointing.storage:
 * io.github.s3tiered.checkpoint.TieredCheckpointStorageFactory} and {@code
 * execution.checkpointing.dir: s3tiered://<bucket>/<path>}.
 */
public class TieredCheckpointStorageFactory implements CheckpointStorageFactory<TieredCheckpointStorage> {

    @Override
    public TieredCheckpointStorage createFromConfig(ReadableConfig config, ClassLoader classLoader)
            throws IllegalConfigurationException {
        FlinkLineCheck.verify();
        String dir = config.get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        return new TieredCheckpointStorage(dir).configure(config, classLoader);
    }
}
