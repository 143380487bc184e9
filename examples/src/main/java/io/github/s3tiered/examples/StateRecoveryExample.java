package io.github.s3tiered.examples;

import io.github.s3tiered.checkpoint.TieredCheckpointing;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Keyed ListState in a KeyedProcessFunction, a failure injected mid-stream, recovery from the last
 * checkpoint, and a final check that the state matches the input exactly.
 *
 * <p>On a cluster: {@code flink run -c io.github.s3tiered.examples.StateRecoveryExample examples.jar
 * --checkpoint-dir s3tiered://bucket/path --output /shared/dir}. Storage and backend come from the
 * arguments here; with them in config.yaml instead, pass {@code --use-cluster-config}.
 */
public final class StateRecoveryExample {

    private StateRecoveryExample() {}

    /** The job's settings from arguments, with the defaults of the demo. */
    public static RecoveryJob.Settings settings(JobArguments p, String outputDir) {
        return new RecoveryJob.Settings(
                p.getLong("records", 300_000),
                p.getInt("keys", 30_000),
                p.getDouble("rate", 30_000),
                p.getLong("fail-after", 150_000),
                outputDir,
                p.getInt("fail-every-checkpoints", 0),
                p.getInt("fail-until-attempt", 0),
                p.getInt("records-per-checkpoint", 0));
    }

    /** Checkpointing every {@code interval} on the tiered storage and backend. */
    public static Configuration checkpointing(String checkpointDir, Duration interval) {
        Configuration conf = TieredCheckpointing.options(checkpointDir);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, interval);
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        return conf;
    }

    public static void main(String[] args) throws Exception {
        JobArguments p = JobArguments.parse(args);
        String output = p.getRequired("output");
        RecoveryJob.Settings s = settings(p, output);
        Configuration conf = p.has("use-cluster-config")
                ? new Configuration()
                : checkpointing(p.getRequired("checkpoint-dir"), Duration.ofMillis(p.getLong("interval-ms", 1000)));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        RecoveryJob.build(env, s);
        var result = env.execute("s3tiered state recovery example");
        if (result.isJobExecutionResult()) {
            System.out.println(ExpectedResults.verify(Path.of(output), s.records(), s.keys()));
        } else {
            // Detached (e.g. submitted through the REST API): the job runs on after main returns.
            System.out.println("Submitted " + result.getJobID() + " detached; check the results in " + output
                    + " when it has finished");
        }
    }
}
