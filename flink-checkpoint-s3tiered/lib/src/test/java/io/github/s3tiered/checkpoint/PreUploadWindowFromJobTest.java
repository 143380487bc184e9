package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageLoader;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.junit.jupiter.api.Test;

import java.time.Duration;

/**
 * The checkpoint interval a job sets in its code reaches the storage that {@code config.yaml}
 * names, through Flink's own loading (job configuration merged over the cluster's, as on the
 * JobManager and in every task), so the pre-upload reuse window follows it.
 */
class PreUploadWindowFromJobTest {

    @Test
    void anIntervalSetInTheJobsCodeSetsTheReuseWindow() throws Exception {
        assertThat(windowForJobInterval(Duration.ofMinutes(30))).isEqualTo(Duration.ofMinutes(60).toMillis());
        assertThat(windowForJobInterval(Duration.ofSeconds(1))).isEqualTo(Duration.ofMinutes(10).toMillis());
    }

    private static long windowForJobInterval(Duration interval) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(interval.toMillis());
        env.fromSequence(1, 2).print();
        Configuration jobConfig = env.getStreamGraph().getJobConfiguration();

        Configuration cluster = new Configuration();
        cluster.set(CheckpointingOptions.CHECKPOINT_STORAGE, TieredCheckpointStorageFactory.class.getName());
        cluster.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "s3tiered://bucket/checkpoints");
        CheckpointStorage storage = CheckpointStorageLoader.load(null, new HashMapStateBackend(), jobConfig, cluster,
                PreUploadWindowFromJobTest.class.getClassLoader(), null);
        assertThat(storage).isInstanceOf(TieredCheckpointStorage.class);
        return ((TieredCheckpointStorage) storage).preUploadSettings().reuseWindowMillis();
    }
}
