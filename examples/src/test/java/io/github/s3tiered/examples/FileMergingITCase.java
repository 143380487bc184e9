package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.util.List;
import java.util.Map;

/**
 * The tiered checkpoint storage with Flink's file merging (several subtasks' checkpoint files
 * written as segments of shared files): the tasks start, checkpoints complete and are verified,
 * and the newest restores with exact state, through a failure and on a fresh host.
 */
class FileMergingITCase {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = RecoveryTestSupport.miniCluster();

    @TempDir java.nio.file.Path localTier;
    @TempDir java.nio.file.Path freshHostTier;
    @TempDir java.nio.file.Path output;

    @Test
    void checkpointsWithFileMergingCompleteAndRestoreExactly(@InjectMiniCluster MiniCluster cluster) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/file-merging";
        Map<String, String> options = Map.of("execution.checkpointing.file-merging.enabled", "true");
        // a failure after some records: the restore goes through file merging's segments once in the job
        RecoveryJob.Settings s = new RecoveryJob.Settings(300_000, 5_000, 25_000, 20_000, output.toString());
        StreamExecutionEnvironment env = environment(dir, null, options);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);

        JobRunner.awaitCheckpoints(cluster, job, 8, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        String retained = done.get(done.size() - 1).getExternalPath();
        Validation validation = new CheckpointInspector(getClass().getClassLoader()).validate(new Path(retained), false);
        assertThat(validation.verdict()).as(validation.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(validation.files()).as("segments of merged files").anyMatch(f -> !f.exactSize());

        // a fresh host: no local copies
        initializeFileSystems(fileSystemConfig(S3.server(), freshHostTier));
        RecoveryJob.Settings resume = new RecoveryJob.Settings(s.records(), s.keys(), 0, 0, output.toString());
        StreamExecutionEnvironment resumed = environment(dir, retained, options);
        RecoveryJob.build(resumed, resume);
        JobResult result = JobRunner.await(cluster, JobRunner.submit(cluster, resumed), TIMEOUT, c -> {});
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, resume.records(), resume.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }
}
