package io.github.s3tiered.checkpoint;

import io.github.s3tiered.backend.TieredRocksDBStateBackendFactory;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;

/**
 * The configuration that selects this project's checkpoint storage and state backend, for jobs
 * that configure checkpointing in code: {@code StreamExecutionEnvironment.getExecutionEnvironment(TieredCheckpointing.options(dir))}.
 * It sets the same keys as the README's {@code config.yaml} snippet.
 */
public final class TieredCheckpointing {

    private TieredCheckpointing() {}

    public static Configuration options(String checkpointDir) {
        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, TieredCheckpointStorageFactory.class.getName());
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpointDir);
        conf.set(StateBackendOptions.STATE_BACKEND, TieredRocksDBStateBackendFactory.class.getName());
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        return conf;
    }
}
