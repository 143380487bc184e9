package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.FaultRule;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The changelog state backend with its files of changes on {@code s3tiered://}, while S3 refuses
 * two of their uploads. Flink's changelog writer does not report such a failure (its stream's
 * close deletes the path and returns, and the handle goes to the JobManager), so without the
 * storage's check a checkpoint completed that names a file S3 never held. Every checkpoint is
 * retained here: each one that completed must be restorable by sizes, and a checkpoint that
 * named a lost file must have failed at its finalization.
 */
class ChangelogUploadFailureITCase {

    @RegisterExtension
    static final S3ServerExtension S3 = new S3ServerExtension();

    @TempDir java.nio.file.Path localTier;
    @TempDir java.nio.file.Path output;

    @Test
    void aCheckpointNamingAFileOfChangesThatWasNotUploadedNeverCompletes() throws Exception {
        URI target = URI.create(S3.server().endpoint());
        try (FaultInjectingProxy proxy = new FaultInjectingProxy(target.getHost(), target.getPort())) {
            S3TestServer viaProxy = S3.server().via(proxy.endpoint());
            initializeFileSystems(RecoveryTestSupport.fileSystemConfig(viaProxy, localTier));
            String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/changelog-upload-failure";
            Configuration cluster = RecoveryTestSupport.clusterConfig();
            cluster.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 1000); // every checkpoint stays to be judged
            cluster.setString("web.checkpoints.history", "1000");
            cluster.setString("state.changelog.storage", "filesystem");
            cluster.setString("state.changelog.dstl.dfs.base-path", dir + "-changes");
            // no materialization: every checkpoint after a lost file names it. A failed checkpoint is
            // not tolerated (Flink's default): the job restores from its newest completed checkpoint,
            // whose files are all there, and writes new files of changes from then on.
            Map<String, String> options = Map.of("state.changelog.enabled", "true",
                    "state.changelog.periodic-materialize.enabled", "false");

            try (MiniCluster miniCluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                    .setConfiguration(cluster).setNumTaskManagers(1).setNumSlotsPerTaskManager(PARALLELISM).build())) {
                miniCluster.start();
                RecoveryJob.Settings s = new RecoveryJob.Settings(200_000, 2_000, 10_000, 0, output.toString())
                        .gatedEvery(4_000);
                StreamExecutionEnvironment env = environment(dir, null, options);
                RecoveryJob.build(env, s);
                JobID job = JobRunner.submit(miniCluster, env);
                long before = JobRunner.awaitCheckpoints(miniCluster, job, 3, TIMEOUT).getCheckpointId();

                FaultRule refused = FaultRule.on(S3Operation.PUT_OBJECT).keyMatching(".*-changes/.*")
                        .respond(403, "AccessDenied").times(2);
                proxy.inject(refused);
                long deadline = System.nanoTime() + TIMEOUT.toNanos();
                while (refused.timesFired() < 2 && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertThat(refused.timesFired()).as("uploads of changes refused").isEqualTo(2);
                proxy.heal();
                long after = JobRunner.awaitCheckpointId(miniCluster, job, before + 6, TIMEOUT).getCheckpointId();
                List<String> failures = new ArrayList<>();
                for (AbstractCheckpointStats c : miniCluster.getExecutionGraph(job).get().getCheckpointStatsSnapshot()
                        .getHistory().getCheckpoints()) {
                    if (c instanceof FailedCheckpointStats failed && failed.getFailureMessage() != null) {
                        failures.add(c.getCheckpointId() + ": " + failed.getFailureMessage());
                    }
                }
                JobRunner.cancelAndAwaitEnd(miniCluster, job, TIMEOUT);

                CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
                Path jobDir = new Path(dir, job.toString());
                List<String> judged = new ArrayList<>();
                List<String> notRestorable = new ArrayList<>();
                for (FileStatus st : jobDir.getFileSystem().listStatus(jobDir)) {
                    String name = st.getPath().getName();
                    if (!name.startsWith("chk-") || !st.getPath().getFileSystem().exists(new Path(st.getPath(), "_metadata"))) {
                        continue;
                    }
                    Validation v = inspector.validate(st.getPath(), false);
                    judged.add(name);
                    if (v.verdict() != Verdict.RESTORABLE) {
                        notRestorable.add(name + ": " + v.verdict() + ": " + v.reason());
                    }
                }
                assertThat(judged).as("completed checkpoints up to %s", after).hasSizeGreaterThan(6);
                assertThat(notRestorable).as("completed checkpoints that are not restorable").isEmpty();
                // Flink's statistics keep only the reason ("Failure to finalize checkpoint."); the
                // JobManager's log names the file
                assertThat(failures).as("checkpoints that failed at their finalization").anyMatch(f -> f.contains("finalize"));
            }
        }
    }
}
