package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.rawClient;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.preupload.PreUploadSettings;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

import java.util.List;
import java.util.Map;

/**
 * RocksDB's files uploaded as soon as RocksDB writes them: the checkpoints refer to those
 * objects ({@code <sha256>-<id>.sst}) instead of uploading the same bytes again, every object a retained
 * checkpoint references is in S3, and the newest one restores on a fresh host with exact state.
 */
class PreUploadITCase implements AwaitsBackgroundUploads {

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
    void checkpointsReferToPreUploadedFilesAndRestoreExactlyOnAFreshHost(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        run(cluster, Map.of(), "preupload", "preupload");
    }

    /**
     * With entropy injection, Flink's data files get random characters where the marker is; the
     * storage's own objects (uploads ahead of checkpoints, the verification status, the grace
     * record) belong to the job directory as Flink's {@code _metadata} and the inspector name it,
     * without the marker: none under a key that still holds the marker itself.
     */
    @Test
    void withEntropyInjectionTheStoragesOwnObjectsAreInTheJobDirectoryFlinkNames(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        run(cluster, Map.of("s3tiered.entropy.key", "_entropy_", "s3tiered.entropy.length", "2"), "_entropy_/preupload-e",
                "preupload-e");
        try (S3Client raw = rawClient(S3.server())) {
            List<String> keys = raw.listObjectsV2Paginator(b -> b.bucket(S3.server().bucket())
                    .prefix(S3.server().runPrefix() + "/")).contents().stream().map(o -> o.key()).toList();
            assertThat(keys).as("keys under the run's prefix").noneMatch(k -> k.contains("_entropy_"));
        }
    }

    /**
     * Runs the job to its eighth checkpoint, cancels it and resumes its newest on a fresh host.
     *
     * @param checkpointPath the checkpoint directory below the run's prefix, as configured
     * @param jobPath the same without an entropy marker: where {@code _metadata} and the storage's own objects go
     */
    private void run(MiniCluster cluster, Map<String, String> fsOptions, String checkpointPath, String jobPath)
            throws Exception {
        org.apache.flink.configuration.Configuration fsConf = fileSystemConfig(S3.server(), localTier);
        fsOptions.forEach(fsConf::setString);
        initializeFileSystems(fsConf);
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/" + checkpointPath;
        S3TieredBridge bridge = S3TieredBridge.of(new Path(dir)).orElseThrow();
        long dedupedBefore = bridge.transferMetrics().figure(BridgeContract.DEDUPLICATED_UPLOADS);
        long preUploadsBefore = bridge.transferMetrics().figure(BridgeContract.PRE_UPLOADS);
        // a short reuse window, so that the orphan removal's grace (twice the window) passes within the test
        Map<String, String> options = Map.of("s3tiered.preupload.reuse-window", "3 s",
                "state.backend.rocksdb.writebuffer.size", "1mb");
        // at least fifteen checkpoints before the input ends: the cancel after eight finds it running
        RecoveryJob.Settings s = new RecoveryJob.Settings(400_000, 20_000, 25_000, 0, output.toString()).gatedEvery(12_000);
        StreamExecutionEnvironment env = environment(dir, null, options);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);

        JobRunner.awaitCheckpoints(cluster, job, 8, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);
        List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
        String retained = done.get(done.size() - 1).getExternalPath();

        S3TieredBridge.TransferFigures figures = bridge.transferMetrics();
        long preUploads = figures.figure(BridgeContract.PRE_UPLOADS) - preUploadsBefore;
        long deduplicated = figures.figure(BridgeContract.DEDUPLICATED_UPLOADS) - dedupedBefore;
        System.out.println("Pre-uploads " + preUploads + ", checkpoint uploads deduplicated " + deduplicated
                + ", SHA-256 time " + figures.figure(BridgeContract.CONTENT_HASH_MILLIS) + " ms");
        assertThat(preUploads).as("SST files uploaded ahead of the checkpoints").isPositive();
        assertThat(deduplicated).as("checkpoint uploads that referred to a pre-uploaded object").isPositive();

        // Some of the retained checkpoint's files are pre-uploaded objects, and every file it references is in S3.
        List<ReferencedFile> files = CheckpointReferences.of(CheckpointMetadataReader.load(new Path(retained),
                getClass().getClassLoader())).files();
        assertThat(files).anySatisfy(f -> assertThat(PreUploadSettings.isPreUploadedName(f.path().getName())).isTrue());
        String jobShared = S3.server().runPrefix() + "/" + jobPath + "/" + job + "/shared/";
        assertThat(files).filteredOn(f -> PreUploadSettings.isPreUploadedName(f.path().getName()))
                .allSatisfy(f -> assertThat(f.path().toUri().getPath().substring(1)).startsWith(jobShared));
        try (S3Client raw = rawClient(S3.server())) {
            for (ReferencedFile f : files) {
                String key = f.path().toUri().getPath().substring(1);
                long size = raw.headObject(b -> b.bucket(S3.server().bucket()).key(key)).contentLength();
                assertThat(size).as(key).isGreaterThanOrEqualTo(f.minSize());
            }
            // what the inspector's orphan search reads: twice the 3 s window plus the 10 min timeout
            String record = S3.server().runPrefix() + "/" + jobPath + "/" + job + "/s3tiered-preupload.json";
            assertThat(raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(record)).asUtf8String())
                    .contains("\"reuseWindowMillis\": 3000,").contains("\"orphanSearchGraceMillis\": 606000,");
            String status = S3.server().runPrefix() + "/" + jobPath + "/" + job + "/s3tiered-verification.json";
            assertThat(raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(status)).asUtf8String())
                    .as(status).contains("newestVerified");
        }

        // A fresh host: no local copies, everything from S3.
        org.apache.flink.configuration.Configuration freshConf = fileSystemConfig(S3.server(), freshHostTier);
        fsOptions.forEach(freshConf::setString);
        initializeFileSystems(freshConf);
        RecoveryTestSupport.resumesExactly(cluster, dir, retained, options, s, output);
    }
}
