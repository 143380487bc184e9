package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.delta;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.run;
import static io.github.s3tiered.examples.RecoveryTestSupport.transfer;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.util.Map;

/**
 * Recovery through a second S3 implementation, Python moto ({@code moto_server} in its own process):
 * a failure mid-stream restores from the local tier; the retained checkpoint, judged by the guard,
 * resumes after the tier is wiped from moto alone; both with exact state. Skipped, saying so, where
 * {@code moto_server} is not installed.
 */
class MotoRecoveryITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = S3ServerExtension.moto();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setConfiguration(RecoveryTestSupport.clusterConfig())
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(PARALLELISM)
                    .build());

    @TempDir static java.nio.file.Path localTier;
    @TempDir java.nio.file.Path output;

    @BeforeAll
    static void fileSystems() {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
    }

    @AfterEach
    void restoreFileSystems() {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
    }

    @Test
    void aFailureRestoresFromTheTierAndAResumeAfterTheTierIsLostFromMoto(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/moto";
        RecoveryJob.Settings failing = new RecoveryJob.Settings(120_000, 12_000, 40_000, 60_000, output.resolve("a").toString())
                .gatedEvery(10_000); // a checkpoint completes before the failure point, however slow the host
        Map<String, Long> before = transfer(S3.server().bucket());
        JobResult result = run(cluster, environment(dir, null), failing);
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output.resolve("a"), failing.records(), failing.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
        Map<String, Long> after = transfer(S3.server().bucket());
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER)).as("restored from the local tier").isPositive();
        // one GET: the start check reads its probe back from S3 (past the tier); none for the restore
        assertThat(delta(before, after, "GetObject")).as("S3 GETs during the failure and restore").isEqualTo(1);

        // A retained checkpoint, then a host without the tier: everything comes from moto.
        RecoveryJob.Settings s = new RecoveryJob.Settings(120_000, 12_000, 40_000, 0, output.resolve("b").toString())
                .gatedEvery(10_000); // at least five checkpoints before the input ends: the cancel after two finds it running
        StreamExecutionEnvironment env = environment(dir, null);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, 2, TIMEOUT);
        String checkpoint = JobRunner.cancelKeepingNewest(cluster, job, TIMEOUT).getExternalPath();
        awaitBackgroundUploads();
        Validation judged = new CheckpointInspector(getClass().getClassLoader()).validate(new Path(checkpoint), true);
        assertThat(judged.restorable()).as(judged.reason()).isTrue();

        EmbeddedCluster.deleteRecursively(localTier);
        java.nio.file.Files.createDirectories(localTier);
        before = transfer(S3.server().bucket());
        result = run(cluster, environment(dir, checkpoint), s);
        after = transfer(S3.server().bucket());
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        assertThat(delta(before, after, "GetObject")).as("S3 GETs of the resume").isPositive();
        v = ExpectedResults.verify(output.resolve("b"), s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }
}
