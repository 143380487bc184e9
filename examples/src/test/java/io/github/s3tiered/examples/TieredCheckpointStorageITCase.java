package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.delta;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.tieredFileSystem;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static io.github.s3tiered.examples.RecoveryTestSupport.rawClient;
import static io.github.s3tiered.examples.RecoveryTestSupport.run;
import static io.github.s3tiered.examples.RecoveryTestSupport.transfer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.backend.RestoreTimings;
import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The tiered checkpoint storage and state backend in a MiniCluster with a real S3 server: failure
 * recovery, resume from retained checkpoints and savepoints, local tier versus S3 restores, no
 * leaked files, and wrong configuration.
 */
class TieredCheckpointStorageITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    @Order(1)
    static final S3ServerExtension S3 = new S3ServerExtension();

    /** Flink's metric system as a reporter sees it; metrics of ended jobs are kept. */
    static final InMemoryReporter METRICS = InMemoryReporter.createWithRetainedMetrics();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension MINI_CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setConfiguration(METRICS.addToConfiguration(RecoveryTestSupport.clusterConfig()))
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(PARALLELISM)
                    .build());

    @TempDir static java.nio.file.Path localTier;
    @TempDir java.nio.file.Path output;
    @TempDir java.nio.file.Path freshHostTier;

    private String dir;

    @BeforeAll
    static void fileSystems() {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
    }

    @AfterEach
    void restoreFileSystems() {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
    }

    @BeforeEach
    void checkpointDir(TestInfo info) {
        dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/" + info.getTestMethod().orElseThrow().getName();
    }

    private RecoveryJob.Settings settings(long failAfter) {
        // ~6 s of input, and at least nine checkpoints before it ends: a slow host completes a checkpoint before
        // the failure point, and the runs cancelled after two to four checkpoints find the job running
        return new RecoveryJob.Settings(160_000, 16_000, 25_000, failAfter, output.toString()).gatedEvery(8_000);
    }

    @Test
    void aFailureMidStreamRestoresTheLatestCheckpointFromTheLocalTierWithExactState(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        RecoveryJob.Settings s = settings(80_000);
        Map<String, Long> before = transfer(S3.server().bucket());
        long start = System.currentTimeMillis();

        JobResult result = run(cluster, environment(dir, null), s);

        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        assertThat(ExpectedResults.verify(output, s.records(), s.keys()).exact())
                .as(ExpectedResults.verify(output, s.records(), s.keys()).toString()).isTrue();
        assertThat(RestoreTimings.since(start)).as("the keyed subtasks restored after the failure").hasSize(PARALLELISM)
                .allSatisfy(r -> assertThat(r.attempt()).isPositive());
        Map<String, Long> after = transfer(S3.server().bucket());
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER)).isPositive();
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_S3)).isZero();
        // one GET: the start check reads its probe back from S3 (past the tier); none for the restore
        assertThat(delta(before, after, "GetObject")).as("S3 GETs during the whole run").isEqualTo(1);

        // The same figures reach Flink's metric system, in each keyed subtask's group "s3tiered".
        List<Map<String, org.apache.flink.metrics.Metric>> groups = METRICS.findGroups("s3tiered").stream()
                .filter(g -> result.getJobId().toString().equals(g.getAllVariables().get("<job_id>")))
                .map(METRICS::getMetricsByGroup).toList();
        assertThat(groups).as("s3tiered metric groups of the job (keyed subtasks, every attempt)")
                .hasSizeGreaterThanOrEqualTo(PARALLELISM)
                .allSatisfy(g -> assertThat(g).containsKeys("bytesUploaded", "uploads", "uploadLatencyAvgMs",
                        "throttledRetries", "restoreBytesFromLocalTier", "restoreBytesFromS3"));
        assertThat(gauge(groups.get(0), "bytesUploaded")).isPositive();
        assertThat(gauge(groups.get(0), RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER)).isPositive();
        assertThat(gauge(groups.get(0), RecoveryTestSupport.RESTORED_FROM_S3)).isEqualTo(after.get(RecoveryTestSupport.RESTORED_FROM_S3));
    }

    @Test
    void withVerificationOffAFailureMidStreamRestoresWithExactStateAndTheRetainedCheckpointResumes(
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        // The JobManager writes each _metadata through this project's location then, not the verifier's.
        Map<String, String> verificationOff = Map.of("s3tiered.verification.enabled", "false");
        RecoveryJob.Settings s = settings(80_000);
        JobResult result = run(cluster, environment(dir, null, verificationOff), s);
        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();

        java.nio.file.Path resumedOutput = java.nio.file.Files.createDirectories(output.resolve("resumed"));
        RecoveryJob.Settings r = new RecoveryJob.Settings(s.records(), s.keys(), 25_000, 0, resumedOutput.toString())
                .gatedEvery(8_000);
        String checkpoint = runThenCancel(cluster, environment(dir, null, verificationOff), r, 2);
        org.apache.flink.core.fs.Path retained = new org.apache.flink.core.fs.Path(checkpoint);
        org.apache.flink.core.fs.FileSystem fs = retained.getFileSystem();
        assertThat(fs.exists(new org.apache.flink.core.fs.Path(retained, "_metadata"))).as("the retained checkpoint's _metadata")
                .isTrue();
        assertThat(fs.exists(new org.apache.flink.core.fs.Path(retained.getParent(), "s3tiered-verification.json")))
                .as("no verification status: verification was off").isFalse();
        JobResult again = run(cluster, environment(dir, checkpoint, verificationOff), r);
        assertThat(again.isSuccess()).as(failureText(again)).isTrue();
        ExpectedResults.Verification w = ExpectedResults.verify(resumedOutput, r.records(), r.keys());
        assertThat(w.exact()).as(w.toString()).isTrue();
    }

    private static long gauge(Map<String, org.apache.flink.metrics.Metric> group, String name) {
        return (Long) ((org.apache.flink.metrics.Gauge<?>) group.get(name)).getValue();
    }

    @Test
    void aRetainedCheckpointResumesFromTheLocalTierAndAfterAWipeFromS3(@InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings s = settings(0);
        String checkpoint = runThenCancel(cluster, environment(dir, null), s, 3);

        Map<String, Long> before = transfer(S3.server().bucket());
        checkpoint = runThenCancel(cluster, environment(dir, checkpoint), s, 2);
        Map<String, Long> after = transfer(S3.server().bucket());
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER)).isPositive();
        // the guard's read of the _metadata is a check's, not counted as a restore's
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_S3)).as("bytes the restore took from S3")
                .isZero();

        EmbeddedCluster.deleteRecursively(localTier);
        java.nio.file.Files.createDirectories(localTier);
        before = transfer(S3.server().bucket());
        JobResult result = run(cluster, environment(dir, checkpoint), s);
        after = transfer(S3.server().bucket());

        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_S3)).isPositive();
        assertThat(delta(before, after, RecoveryTestSupport.RESTORED_FROM_LOCAL_TIER)).isZero();
        assertThat(delta(before, after, "GetObject")).isPositive();
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }

    @Test
    void stopWithSavepointAndResumeFromTheSavepoint(@InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings s = settings(0);
        StreamExecutionEnvironment env = environment(dir, null);
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, 2, TIMEOUT);
        String savepoint = cluster.stopWithSavepoint(job, dir + "/savepoints", false, SavepointFormatType.CANONICAL).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.FINISHED, TIMEOUT);
        assertThat(savepoint).startsWith(dir + "/savepoints/savepoint-");

        JobResult result = run(cluster, environment(dir, savepoint), s);

        assertThat(result.isSuccess()).as(failureText(result)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }

    @Test
    void onlyFilesOfRetainedCheckpointsStayAndEveryObjectCarriesItsChecksum(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        // ~16 s of input, cancelled after 8 checkpoints; no pause between them (each may take longer
        // than the interval, as on 1.20 here): the next one starting at once must not keep the removal off
        RecoveryJob.Settings s = new RecoveryJob.Settings(320_000, 16_000, 20_000, 0, output.toString())
                .gatedEvery(10_000); // at least fifteen checkpoints before the input ends
        // one S3 server, one clock: no margin, so that the orphan goes within the job's 16 s; one run
        // writes the job directory: no minimum age either
        StreamExecutionEnvironment env = environment(dir, null,
                java.util.Map.of(io.github.s3tiered.checkpoint.VerificationOptions.ORPHAN_CLOCK_MARGIN.key(), "0 s",
                        io.github.s3tiered.checkpoint.VerificationOptions.ORPHAN_MIN_AGE.key(), "0 s"));
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        String jobPrefix = dir.substring(("s3tiered://" + S3.server().bucket() + "/").length()) + "/" + job + "/";
        JobRunner.awaitCheckpoints(cluster, job, 2, TIMEOUT);
        // what a TaskManager lost during its upload leaves: a file no checkpoint will ever reference
        String orphan = jobPrefix + "shared/" + java.util.UUID.randomUUID();
        try (S3Client raw = rawClient(S3.server())) {
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(orphan),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(new byte[1000]));
        }
        JobRunner.awaitCheckpoints(cluster, job, 8, TIMEOUT);
        cluster.cancelJob(job).get();
        JobRunner.awaitStatus(cluster, job, JobStatus.CANCELED, TIMEOUT);

        Set<String> stored = Set.of();
        Set<String> referenced = Set.of();
        try (S3Client raw = rawClient(S3.server())) {
            // Subsumed checkpoints are deleted asynchronously: allow them a moment.
            long deadline = System.currentTimeMillis() + 20_000;
            do {
                stored = raw.listObjectsV2Paginator(b -> b.bucket(S3.server().bucket()).prefix(jobPrefix)).contents().stream()
                        .map(S3Object::key).collect(Collectors.toCollection(TreeSet::new));
                referenced = referencedKeys(stored, jobPrefix);
                if (stored.size() == referenced.size() + 2 && stored.containsAll(referenced)) { // and the two status files
                    break;
                }
                Thread.sleep(250);
            } while (System.currentTimeMillis() < deadline);

            assertThat(referenced).as("keys of the retained checkpoints").isNotEmpty()
                    .anyMatch(k -> k.contains("/shared/"));
            assertThat(stored).as("the orphan in shared/ is removed by a later checkpoint").doesNotContain(orphan);
            // besides them only the status of the verification of completed checkpoints, and the pre-upload grace
            String status = jobPrefix + "s3tiered-verification.json";
            String preUploadRecord = jobPrefix + "s3tiered-preupload.json";
            assertThat(stored).as("objects under the job's directory").contains(status, preUploadRecord);
            Set<String> checkpointObjects = new TreeSet<>(stored);
            checkpointObjects.remove(status);
            checkpointObjects.remove(preUploadRecord);
            assertThat(checkpointObjects).as("checkpoint objects under the job's directory").isEqualTo(referenced);
            assertThat(raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(status)).asUtf8String())
                    .contains("\"checkpointsFailed\": 0").contains("\"lastFailure\": null");
            for (String key : stored) {
                assertThat(raw.headObject(b -> b.bucket(S3.server().bucket()).key(key)).metadata())
                        .as("metadata of %s", key).containsKey("s3tiered-crc32c");
            }
        }
        // "referenced" above is the inspector's own reading of the metadata, which the removal uses too: the
        // proof that it removed nothing the checkpoint needs is Flink restoring it, from S3 alone (a fresh host)
        List<CompletedCheckpointStats> completed = JobRunner.completedCheckpoints(cluster, job);
        String retained = completed.get(completed.size() - 1).getExternalPath();
        initializeFileSystems(fileSystemConfig(S3.server(), freshHostTier));
        RecoveryTestSupport.resumesExactly(cluster, dir, retained, java.util.Map.of(), s, output);
    }

    /** Every _metadata under the job plus every file its checkpoint references. */
    private Set<String> referencedKeys(Set<String> stored, String jobPrefix) throws Exception {
        Set<String> keys = new TreeSet<>();
        String base = "s3tiered://" + S3.server().bucket() + "/";
        for (String key : stored) {
            if (key.endsWith("/" + CheckpointMetadataReader.METADATA_FILE)) {
                keys.add(key);
                Path checkpointDir = new Path(base + key.substring(0, key.lastIndexOf('/')));
                var metadata = CheckpointMetadataReader.load(checkpointDir, getClass().getClassLoader());
                for (ReferencedFile f : CheckpointReferences.of(metadata).files()) {
                    keys.add(f.path().toUri().getPath().substring(1));
                }
            }
        }
        return keys;
    }

    @Test
    void wrongConfigurationFailsTheJobAtStartNamingTheKey(@InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings s = settings(0);

        String missingBucket = "s3tiered://no-such-bucket-" + System.nanoTime() + "/checkpoints";
        String text = failureText(run(cluster, environment(missingBucket, null), s));
        assertThat(text)
                .contains("execution.checkpointing.dir").contains("no-such-bucket-");

        assertThat(failureText(run(cluster, environment("s3://" + S3.server().bucket() + "/not-tiered", null), s)))
                .contains("execution.checkpointing.dir").contains("s3tiered://<bucket>/<path>");

        // a savepoint directory in a bucket that does not exist: at the start, not at the first savepoint
        String missingSavepointBucket = "s3tiered://no-such-savepoint-bucket-" + System.nanoTime() + "/savepoints";
        assertThat(failureText(run(cluster, environment(dir + "/savepoint-dir", null,
                        java.util.Map.of("execution.checkpointing.savepoint-dir", missingSavepointBucket)), s)))
                .contains("execution.checkpointing.savepoint-dir").contains("no-such-savepoint-bucket-");

        // meant as seconds, read as 60 ms: a margin under which a file being written looks like an orphan
        assertThat(failureText(run(cluster, environment(dir + "/margin", null,
                        java.util.Map.of("s3tiered.verification.orphan-clock-margin", "60")), s)))
                .contains("s3tiered.verification.orphan-clock-margin").contains("60 ms");

        Configuration badCredentials = fileSystemConfig(S3.server(), localTier);
        badCredentials.setString("s3.secret-key", "wrong-secret");
        initializeFileSystems(badCredentials);
        assertThat(failureText(run(cluster, environment(dir + "/credentials", null), s)))
                .contains("execution.checkpointing.dir").contains(S3.server().bucket()).contains("403")
                .doesNotContain("wrong-secret");

        Configuration badOption = fileSystemConfig(S3.server(), localTier);
        badOption.setString("s3tiered.upload.part-size", "1mb");
        initializeFileSystems(badOption);
        assertThat(failureText(run(cluster, environment(dir + "/option", null), s)))
                .contains("s3tiered.upload.part-size");
    }

    @Test
    void theGuardRefusesABrokenCheckpointFallsBackByOptionAndResolvesAJobDirectory(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        RecoveryJob.Settings s = settings(0);
        String newest = runThenCancel(cluster, environment(dir, null), s, 4);
        Path newestDir = new Path(newest.endsWith("/_metadata") ? newest.substring(0, newest.length() - 10) : newest);
        Path jobDir = newestDir.getParent();
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        RestorePoint before = inspector.restorePoint(jobDir, false);
        assertThat(before.path()).as(before.explanation()).contains(newestDir);
        assertThat(inspector.discover(jobDir).get(0).checkpoints()).as("checkpoints retained").hasSizeGreaterThanOrEqualTo(2);

        // Break the newest checkpoint: delete, in S3 only, a file that it needs and the previous one does not.
        Set<String> older = new TreeSet<>();
        for (Validation v : inspector.validateAll(inspector.discover(jobDir).get(0), false)) {
            if (!v.path().equals(newestDir)) {
                v.files().forEach(f -> older.add(f.path().toString()));
            }
        }
        ReferencedFile victim = CheckpointReferences.of(CheckpointMetadataReader.load(newestDir, getClass().getClassLoader()))
                .files().stream().filter(f -> !older.contains(f.path().toString())).findFirst().orElseThrow();
        String victimKey = victim.path().toUri().getPath().substring(1);
        try (S3Client raw = rawClient(S3.server())) {
            raw.deleteObject(b -> b.bucket(S3.server().bucket()).key(victimKey));
        }
        RestorePoint after = inspector.restorePoint(jobDir, false);
        assertThat(after.path()).as(after.explanation()).isPresent().get().isNotEqualTo(newestDir);

        String refused = failureText(run(cluster, environment(dir, newest), s));
        assertThat(refused).contains("Refusing to resume from execution.state-recovery.path").contains(victimKey)
                .contains("s3tiered.recovery.fallback-to-restorable");
        assertThat(ExpectedResults.verify(output, s.records(), s.keys()).keysMatched()).as("no task ran").isZero();

        JobResult resumed = run(cluster, environment(dir, newest, Map.of("s3tiered.recovery.fallback-to-restorable", "true")), s);
        assertThat(resumed.isSuccess()).as(failureText(resumed)).isTrue();
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();

        // A chk-N with nothing stored under it, above every checkpoint of the job: in S3 the same as a
        // checkpoint that lost its only object, but no rollback target; falling back from it would
        // resume the newest checkpoint, not the older one a mistyped id stood for.
        long newestId = Long.parseLong(newestDir.getName().substring("chk-".length()));
        String typo = jobDir + "/chk-" + (newestId + 400);
        assertThat(inspector.validate(new Path(typo), false).verdict()).isEqualTo(Verdict.NO_METADATA);
        String notThere = failureText(run(cluster, environment(dir, typo, Map.of("s3tiered.recovery.fallback-to-restorable", "true")), s));
        assertThat(notThere).contains("no such checkpoint").contains(typo).doesNotContain("FALLING BACK");

        EmbeddedCluster.deleteRecursively(output);
        java.nio.file.Files.createDirectories(output);
        JobResult fromJobDir = run(cluster, environment(dir, jobDir.toString()), s);
        assertThat(fromJobDir.isSuccess()).as(failureText(fromJobDir)).isTrue();
        v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();

        // Flink disposes of a savepoint (flink savepoint -d) through the storage itself: the path as
        // given, never the guard's choice, which would discard the job directory's newest checkpoint
        org.apache.flink.configuration.Configuration storageConfig = new org.apache.flink.configuration.Configuration();
        storageConfig.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir);
        storageConfig.setString("s3tiered.recovery.fallback-to-restorable", "true");
        io.github.s3tiered.checkpoint.TieredCheckpointStorage storage = new io.github.s3tiered.checkpoint.TieredCheckpointStorageFactory()
                .createFromConfig(storageConfig, getClass().getClassLoader());
        assertThatThrownBy(() -> storage.resolveCheckpoint(jobDir.toString())).isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("_metadata");
    }

    /** Ways a retained checkpoint gets broken, each done to the newest one only. */
    enum Damage {
        TRUNCATED_FILE(Verdict.SIZE_MISMATCH),
        NO_METADATA(Verdict.NO_METADATA),
        CORRUPT_METADATA(Verdict.CORRUPT_METADATA);

        final Verdict expected;

        Damage(Verdict expected) {
            this.expected = expected;
        }
    }

    @ParameterizedTest
    @EnumSource(Damage.class)
    void eachDamageIsRefusedAndTheJobDirectoryResumesFromThePreviousCheckpoint(Damage damage,
            @InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings s = settings(0);
        String newest = runThenCancel(cluster, environment(dir, null), s, 3);
        Path newestDir = new Path(newest.endsWith("/_metadata") ? newest.substring(0, newest.length() - 10) : newest);
        Path jobDir = newestDir.getParent();
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        var retained = inspector.discover(jobDir).get(0).checkpoints();
        long newestId = Long.parseLong(newestDir.getName().substring("chk-".length()));
        Path previous = retained.stream().filter(c -> c.idFromName() < newestId)
                .max(java.util.Comparator.comparingLong(io.github.s3tiered.inspector.CheckpointLocation::idFromName))
                .orElseThrow(() -> new AssertionError("no older retained checkpoint in " + retained)).path();

        String bucket = S3.server().bucket();
        String metadataKey = newestDir.toUri().getPath().substring(1) + "/_metadata";
        // the tier is warm: this host holds a verified copy of what gets damaged (else this is the cold case)
        assertThat(tieredFileSystem(bucket).localTier().getVerified(bucket, metadataKey)).as("a local copy of " + metadataKey)
                .isPresent();
        try (S3Client raw = rawClient(S3.server())) {
            switch (damage) {
                case TRUNCATED_FILE -> {
                    Set<String> older = new TreeSet<>();
                    inspector.validate(previous, false).files().forEach(f -> older.add(f.path().toString()));
                    ReferencedFile victim = inspector.validate(newestDir, false).files().stream()
                            .filter(f -> f.exactSize() && !older.contains(f.path().toString())).findFirst().orElseThrow();
                    String key = victim.path().toUri().getPath().substring(1);
                    assertThat(tieredFileSystem(bucket).localTier().getVerified(bucket, key)).as("a local copy of " + key)
                            .isPresent();
                    var head = raw.headObject(b -> b.bucket(bucket).key(key));
                    byte[] bytes = raw.getObjectAsBytes(b -> b.bucket(bucket).key(key)).asByteArray();
                    raw.putObject(b -> b.bucket(bucket).key(key).metadata(head.metadata()),
                            software.amazon.awssdk.core.sync.RequestBody.fromBytes(java.util.Arrays.copyOf(bytes, bytes.length / 2)));
                }
                case NO_METADATA -> raw.deleteObject(b -> b.bucket(bucket).key(metadataKey));
                case CORRUPT_METADATA -> raw.putObject(b -> b.bucket(bucket).key(metadataKey),
                        software.amazon.awssdk.core.sync.RequestBody.fromBytes("not a checkpoint".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            }
        }
        // The tier stays warm: this host holds intact copies of everything damaged in S3, and the
        // inspector and the guard must judge what S3 holds all the same.
        Validation broken = inspector.validate(newestDir, false);
        assertThat(broken.verdict()).as(broken.reason()).isEqualTo(damage.expected);
        RestorePoint point = inspector.restorePoint(jobDir, false);
        assertThat(point.path()).as(point.explanation()).contains(previous);

        String refused = failureText(run(cluster, environment(dir, newest), s));
        assertThat(refused).contains("Refusing to resume from execution.state-recovery.path")
                .contains(damage.expected.toString());
        assertThat(ExpectedResults.verify(output, s.records(), s.keys()).keysMatched()).as("no task ran").isZero();

        JobResult resumed = run(cluster, environment(dir, jobDir.toString()), s);
        assertThat(resumed.isSuccess()).as(failureText(resumed)).isTrue();
        var restoredFrom = cluster.getArchivedExecutionGraph(resumed.getJobId()).get()
                .getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
        assertThat(restoredFrom).isNotNull();
        assertThat(new Path(restoredFrom.getExternalPath())).as("checkpoint the job resumed from").isEqualTo(previous);
        ExpectedResults.Verification v = ExpectedResults.verify(output, s.records(), s.keys());
        assertThat(v.exact()).as(v.toString()).isTrue();
    }

    @Test
    void deepValidationFindsAFlippedByteInS3AndTheDeepGuardRefusesIt(@InjectMiniCluster MiniCluster cluster) throws Exception {
        RecoveryJob.Settings s = settings(0);
        String retained = runThenCancel(cluster, environment(dir, null), s, 2);
        Path checkpoint = new Path(retained.endsWith("/_metadata") ? retained.substring(0, retained.length() - 10) : retained);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        Validation intact = inspector.validate(checkpoint, true);
        assertThat(intact.restorable()).as(intact.reason()).isTrue();
        assertThat(intact.deepCheck().fileSystemRecordsChecksums()).as("s3tiered records checksums").isTrue();
        // every referenced file and _metadata
        assertThat(intact.deepCheck().checksumsMatched()).as(intact.deepCheck().summary()).isEqualTo(intact.files().size() + 1);

        // Same size, one byte different, the recorded CRC32C kept: only reading the bytes can tell.
        ReferencedFile victim = intact.files().stream().filter(f -> f.kinds().contains("keyed-shared")).findFirst().orElseThrow();
        String key = victim.path().toUri().getPath().substring(1);
        assertThat(tieredFileSystem(S3.server().bucket()).localTier().getVerified(S3.server().bucket(), key))
                .as("a local copy of " + key + " (the tier is warm)").isPresent();
        try (S3Client raw = rawClient(S3.server())) {
            var head = raw.headObject(b -> b.bucket(S3.server().bucket()).key(key));
            byte[] bytes = raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(key)).asByteArray();
            bytes[bytes.length / 2] ^= 0x01;
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(key).metadata(head.metadata()),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(bytes));
        }
        // The tier stays warm with the intact copy: deep validation reads what S3 holds.
        assertThat(inspector.validate(checkpoint, false).restorable()).as("sizes alone cannot see it").isTrue();
        Validation deep = inspector.validate(checkpoint, true);
        assertThat(deep.verdict()).as(deep.reason()).isEqualTo(Verdict.CHECKSUM_MISMATCH);
        assertThat(deep.filesConcerned()).containsExactly(victim.path().toString());
        assertThat(deep.deepCheck().files()).filteredOn(f -> f.path().equals(victim.path().toString()))
                .extracting(io.github.s3tiered.inspector.rehearsal.FileProof::proof)
                .containsExactly(io.github.s3tiered.inspector.rehearsal.Proof.NONE);

        String refused = failureText(run(cluster, environment(dir, retained, Map.of("s3tiered.recovery.validate.deep", "true")), s));
        assertThat(refused).contains("Refusing to resume from execution.state-recovery.path").contains(key).contains("CRC32C");
    }

    /**
     * Two runs under one job id (a fixed job id, as application mode with HA has): the second,
     * rolled back to a savepoint taken early in the first, writes lower checkpoint ids than the
     * first left behind. Resuming the job directory by the highest id would take up the state the
     * operator rolled back from; the guard refuses, naming both, and a named checkpoint resumes.
     */
    @Test
    void aJobDirectoryHoldingTwoRunsWhoseIdsAndTimesDisagreeIsNotResumedByTheGuard(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        RecoveryJob.Settings s = settings(0);
        JobID jobId = JobID.generate();
        StreamExecutionEnvironment first = environment(dir, null);
        RecoveryJob.build(first, s);
        submitAs(cluster, first, jobId);
        JobRunner.awaitCheckpoints(cluster, jobId, 1, TIMEOUT);
        String savepoint = cluster.triggerSavepoint(jobId, dir + "/savepoints", false, SavepointFormatType.CANONICAL).get();
        JobRunner.awaitCheckpoints(cluster, jobId, 8, TIMEOUT);
        long firstRunNewest = JobRunner.cancelKeepingNewest(cluster, jobId, TIMEOUT).getCheckpointId();
        Thread.sleep(2_500); // a restart takes longer than the margin the search gives the storage's clocks

        long secondRunNewest;
        // another cluster, as after a restart: this one's dispatcher refuses a job id it has seen end
        try (MiniCluster restarted = new MiniCluster(new org.apache.flink.runtime.minicluster.MiniClusterConfiguration.Builder()
                .setConfiguration(RecoveryTestSupport.clusterConfig()).setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(PARALLELISM).build())) {
            restarted.start();
            StreamExecutionEnvironment second = environment(dir, savepoint);
            RecoveryJob.build(second, s);
            submitAs(restarted, second, jobId);
            secondRunNewest = JobRunner.awaitCheckpoints(restarted, jobId, 1, TIMEOUT).getCheckpointId();
            secondRunNewest = Math.max(secondRunNewest, JobRunner.cancelKeepingNewest(restarted, jobId, TIMEOUT).getCheckpointId());
        }
        assertThat(secondRunNewest).as("the second run's ids continue after the savepoint's, below the first run's retained")
                .isLessThan(firstRunNewest - 2);

        Path jobDir = new Path(dir + "/" + jobId);
        RestorePoint point = new CheckpointInspector(getClass().getClassLoader()).restorePoint(jobDir, false);
        assertThat(point.runsDisagree()).as(point.explanation()).isTrue();
        assertThat(point.chosen()).map(v -> v.path().getName()).contains("chk-" + firstRunNewest);
        assertThat(point.writtenLater()).extracting(w -> w.path().getName()).contains("chk-" + secondRunNewest);
        assertThat(point.path()).isEmpty();

        String refused = failureText(run(cluster, environment(dir, jobDir.toString()), s));
        assertThat(refused).contains("Not resuming from execution.state-recovery.path").contains("chk-" + firstRunNewest)
                .contains("chk-" + secondRunNewest).contains("Name the checkpoint to resume from");

        JobResult named = run(cluster, environment(dir, jobDir + "/chk-" + secondRunNewest), s);
        assertThat(named.isSuccess()).as(failureText(named)).isTrue();
    }

    private static void submitAs(MiniCluster cluster, StreamExecutionEnvironment env, JobID jobId) throws Exception {
        org.apache.flink.runtime.jobgraph.JobGraph graph = env.getStreamGraph().getJobGraph();
        graph.setJobID(jobId);
        cluster.submitJob(graph).get();
    }

    private String runThenCancel(MiniCluster cluster, StreamExecutionEnvironment env, RecoveryJob.Settings s, int checkpoints)
            throws Exception {
        RecoveryJob.build(env, s);
        JobID job = JobRunner.submit(cluster, env);
        JobRunner.awaitCheckpoints(cluster, job, checkpoints, TIMEOUT);
        return JobRunner.cancelKeepingNewest(cluster, job, TIMEOUT).getExternalPath();
    }
}
