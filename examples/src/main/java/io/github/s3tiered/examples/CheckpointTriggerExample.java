package io.github.s3tiered.examples;

import io.github.s3tiered.checkpoint.TieredCheckpointing;

import org.apache.flink.api.common.JobID;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.streaming.api.environment.CheckpointConfig;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.time.Duration;

/**
 * Checkpointing configured with Flink 2.x's API (interval, mode, timeout, minimum pause, tolerable
 * failures, retention) on this project's storage and backend; a stateful pipeline; each
 * checkpoint's id, duration and size printed as it completes. Runs self-contained: it starts an S3
 * server and a MiniCluster.
 */
public final class CheckpointTriggerExample {

    private CheckpointTriggerExample() {}

    public static void main(String[] args) throws Exception {
        try (EmbeddedCluster embedded = EmbeddedCluster.start(2)) {
            String dir = embedded.checkpointDir("checkpoint-trigger-example");
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(TieredCheckpointing.options(dir));
            env.setParallelism(embedded.parallelism());
            env.enableCheckpointing(1000, CheckpointingMode.EXACTLY_ONCE);
            CheckpointConfig checkpoints = env.getCheckpointConfig();
            checkpoints.setCheckpointTimeout(Duration.ofMinutes(2).toMillis());
            checkpoints.setMinPauseBetweenCheckpoints(500);
            checkpoints.setTolerableCheckpointFailureNumber(2);
            checkpoints.setExternalizedCheckpointRetention(ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);

            RecoveryJob.build(env, new RecoveryJob.Settings(200_000, 20_000, 25_000, 0,
                    embedded.workDir().resolve("trigger-output").toString()));
            JobID job = JobRunner.submit(embedded.cluster(), env);
            System.out.println("Job " + job + " checkpoints to " + dir);
            JobRunner.await(embedded.cluster(), job, Duration.ofMinutes(5), c -> System.out.println(JobRunner.describe(c)));
            System.out.println("Job finished: " + embedded.cluster().getJobStatus(job).get());
        }
    }
}
