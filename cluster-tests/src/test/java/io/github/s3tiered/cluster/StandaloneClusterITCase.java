package io.github.s3tiered.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.examples.ExpectedResults;
import io.github.s3tiered.examples.StateRecoveryExample;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.testing.S3TestServer;

import com.fasterxml.jackson.databind.JsonNode;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Object;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The project installed into an unmodified standalone Flink cluster, the way users install it: the
 * plugin jar in {@code plugins/s3tiered/}, the lib jar in {@code lib/}, {@code conf/config.yaml}
 * (on the 1.20 line, module {@code flink-1.20/cluster-tests}: {@code conf/flink-conf.yaml}) from
 * {@code docker/flink-conf.yaml}; JobManager, TaskManagers and the S3 server (S3Proxy) each in
 * its own JVM; the recovery example submitted over REST.
 *
 * <ol>
 *   <li>A TaskManager killed with SIGKILL is replaced by a new JVM with the same local tier
 *       directory: the job recovers, the final state is exact, and the new TaskManager restored its
 *       state from the local tier without reading state from S3.
 *   <li>A job cancelled with a retained checkpoint, the whole cluster stopped, a new cluster (new
 *       JVMs, empty local tier) started: the job resumes from the retained {@code chk-N} given as
 *       {@code execution.state-recovery.path}, restores from S3, and its final state is exact.
 *   <li>The recovery guard on that new cluster, with the cancelled job's retained checkpoints: a
 *       {@code execution.state-recovery.path} naming the job's checkpoint directory is resolved to
 *       its newest checkpoint; once a file that the newest checkpoint needs (and the previous one
 *       does not) is deleted in S3, resuming from it is refused before any task runs, naming that
 *       file; with {@code s3tiered.recovery.fallback-to-restorable: true} the job resumes from the
 *       previous checkpoint instead. Every resumed job ends with the exact state.
 *   <li>After all that (kills, restores, refusals, shutdowns), the S3 secret key appears in no line
 *       of any JobManager or TaskManager log or stdout, nor in any REST answer the test received
 *       (job submissions, errors, the cluster's and jobs' configuration).
 * </ol>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
// each step waits at most TIMEOUT; the many-failures test takes 80-105 s here and more on a slower host
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class StandaloneClusterITCase {

    static final String ENTRY_CLASS = StateRecoveryExample.class.getName();
    static final int PARALLELISM = 2;
    static final int TASK_MANAGERS = 2;
    static final long RECORDS = 60_000;
    static final int KEYS = 6_000;
    static final double RATE = 4_000; // records per second: the job runs ~15 s, long enough to interrupt it
    static final Duration TIMEOUT = Duration.ofSeconds(120);

    /** RestoreTimings' line, one per restored keyed operator subtask. */
    static final Pattern RESTORE_LINE = Pattern.compile(
            "Restored keyed state of .*\\(subtask (\\d+), attempt (\\d+)\\).*this TaskManager so far restored "
                    + "(\\d+) bytes from the local tier and (\\d+) bytes from S3");

    /** Every REST request of the test and its answer, per cluster: what a job client shows its user. */
    static final String REST_TRANSCRIPT = "rest-client.log";

    static S3TestServer s3;
    static Path runDir;
    static Path flinkHome;
    static Path jobJar;
    static int clusterCount;

    static StandaloneCluster cluster;
    static FlinkRest rest;
    static String jarId;
    static Path localTier;
    /**
     * Job configuration of the job whose retained checkpoints the guard test damages: state chunks
     * under 1 KiB inlined in {@code _metadata} (default: 20 KiB). Then every checkpoint writes files
     * that only it references (RocksDB's private files, such as OPTIONS), whatever the load; the
     * new SST files of a 1 s increment of this job are only ~25 KiB, too close to the default.
     */
    static final Map<String, String> SMALL_INLINE_THRESHOLD = Map.of("execution.checkpointing.data-inline-threshold", "1kb");
    /** The newest retained checkpoint of the job cancelled in the second test, for the third. */
    static String cancelledJobCheckpoint;

    @BeforeAll
    static void startS3() throws IOException {
        flinkHome = Path.of(System.getProperty("flink.home", "target/flink"));
        jobJar = Path.of(System.getProperty("example.job.jar", "target/s3tiered-example-job.jar"));
        assertThat(flinkHome.resolve("lib")).as("Flink lib/ assembled by the build").isDirectory();
        assertThat(flinkHome.resolve("plugins/s3tiered")).as("plugins/s3tiered/ assembled by the build").isDirectory();
        assertThat(jobJar).as("example job jar built by the build").isRegularFile();
        for (String dir : List.of("lib", "plugins/s3tiered")) {
            try (var jars = Files.list(flinkHome.resolve(dir))) {
                assertThat(jars.map(j -> j.getFileName().toString()).filter(n -> n.startsWith("flink-checkpoint-s3tiered")))
                        .as("one jar of this project in %s/%s (another is left from an earlier build of other module"
                                + " names: delete %s)", flinkHome, dir, flinkHome).hasSize(1);
            }
        }
        Path runs = Path.of(System.getProperty("cluster.work.dir", "target/cluster-runs"));
        // Each run keeps its logs and data (~140 MB) for diagnosis until the next run starts.
        deleteEarlierRuns(runs);
        runDir = runs.resolve("run-" + UUID.randomUUID().toString().substring(0, 8)).toAbsolutePath();
        Files.createDirectories(runDir);
        // A distinctive secret key, searched for in every log and output after the run.
        s3 = System.getenv(S3TestServer.ENV_ENDPOINT) != null
                ? S3TestServer.start()
                : S3TestServer.startS3Proxy(null, "S3cretCanary" + UUID.randomUUID().toString().replace("-", ""));
    }

    private static void deleteEarlierRuns(Path runs) throws IOException {
        if (!Files.isDirectory(runs)) {
            return;
        }
        try (var earlier = Files.list(runs)) {
            for (Path run : earlier.filter(p -> p.getFileName().toString().startsWith("run-")).toList()) {
                try (var walk = Files.walk(run)) {
                    walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    @AfterAll
    static void stopEverything() {
        try {
            if (cluster != null) {
                cluster.close();
            }
        } finally {
            ChildProcesses.killAll();
            if (s3 != null) {
                s3.close();
            }
        }
        assertThat(ChildProcesses.alive()).as("processes left behind").isZero();
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    @Order(1)
    void killedTaskManagerIsReplacedAndTheNewOneRestoresFromTheLocalTier() throws Exception {
        startCluster(runDir.resolve("local-tier-host-a"));
        Path output = newOutputDir("kill-9");

        String job = submitJob(jobArgs(output), null);
        long seen = awaitCompletedCheckpoints(job, 3);

        assertThat(rest.freeSlots()).as("both TaskManagers run a subtask").isZero();
        StandaloneCluster.Node victim = taskManagers().get(0);
        long killedAt = System.currentTimeMillis();
        cluster.kill(victim); // kill -9
        StandaloneCluster.Node replacement = cluster.startTaskManager();

        awaitState(job, "FINISHED");
        long recoveryMs = System.currentTimeMillis() - killedAt;

        JsonNode restored = rest.checkpoints(job).path("latest").path("restored");
        assertThat(restored.isObject()).as("the job restored a checkpoint after the kill: %s", restored).isTrue();
        assertThat(restored.path("id").asLong()).isGreaterThanOrEqualTo(seen);
        assertThat(restored.path("is_savepoint").asBoolean()).isFalse();

        assertExact(output);

        List<Restore> restores = restoresIn(replacement);
        assertThat(restores).as("restore lines of the new TaskManager %s:%n%s", replacement.log(), cluster.diagnostics())
                .isNotEmpty();
        Restore last = restores.get(restores.size() - 1);
        assertThat(last.bytesFromLocalTier()).as("bytes the new TaskManager restored from the local tier").isPositive();
        assertThat(last.bytesFromS3()).as("bytes the new TaskManager restored from S3").isZero();
        System.out.printf("kill -9 of %s (pid %d): job %s finished %d ms later, restored checkpoint %d; "
                        + "new TaskManager: %d bytes from the local tier, %d from S3%n",
                victim.name(), victim.pid(), job, recoveryMs, restored.path("id").asLong(),
                last.bytesFromLocalTier(), last.bytesFromS3());
    }

    @Test
    @Order(2)
    void cancelledJobResumesFromItsRetainedCheckpointOnANewCluster() throws Exception {
        ensureCluster(runDir.resolve("local-tier-host-a"));
        String retained = runAndCancel("cancelled");
        String job = retained.substring(0, retained.lastIndexOf("/chk-"));
        job = job.substring(job.lastIndexOf('/') + 1);
        cancelledJobCheckpoint = retained;

        stopCluster();
        // A new cluster on "other hosts": new JVMs, new ports, an empty local tier.
        startCluster(runDir.resolve("local-tier-host-b"));
        Path output = newOutputDir("resumed");
        String resumed = submitJob(jobArgs(output), retained);
        awaitState(resumed, "FINISHED");

        assertThat(restoredPath(resumed)).as("what the resumed job restored").isEqualTo(retained);
        assertExact(output);

        long fromS3 = 0;
        for (StandaloneCluster.Node tm : taskManagers()) {
            List<Restore> restores = restoresIn(tm);
            if (!restores.isEmpty()) {
                fromS3 += restores.get(restores.size() - 1).bytesFromS3();
            }
        }
        assertThat(fromS3).as("bytes restored from S3 by the new cluster, whose local tier was empty").isPositive();
        System.out.printf("job %s cancelled at %s; job %s resumed from it on a new cluster, %d bytes from S3%n",
                job, retained, resumed, fromS3);
    }

    @Test
    @Order(3)
    void theRecoveryGuardResolvesAJobDirectoryRefusesADamagedCheckpointAndFallsBackByOption() throws Exception {
        // The cluster of the second test (new JVMs, started after the whole first cluster stopped), and
        // the retained checkpoints of the job cancelled there; both made here if that test could not.
        ensureCluster(runDir.resolve("local-tier-host-b"));
        String cancelled = cancelledJobCheckpoint != null ? cancelledJobCheckpoint : runAndCancel("guard-source");
        String jobDir = cancelled.substring(0, cancelled.lastIndexOf("/chk-"));
        // what S3 holds decides: a checkpoint may complete while the job is cancelled, after the
        // checkpoint statistics the REST API answers with were archived
        String newest;
        try (S3Client raw = rawS3Client()) {
            newest = newestWithMetadata(raw, jobDir);
        }
        assertThat(id(newest)).as("newest checkpoint in S3 (%s) against the cancelled job's last (%s)", newest, cancelled)
                .isGreaterThanOrEqualTo(id(cancelled));
        StandaloneCluster.Node jobManager = jobManager();

        // 1. The job's checkpoint directory: the guard resolves it to its newest restorable checkpoint.
        int mark = jobManager.logText().length();
        Path fromDirOutput = newOutputDir("guard-job-directory");
        String fromDir = submitJob(jobArgs(fromDirOutput), jobDir);
        awaitState(fromDir, "FINISHED");
        String log = jobManager.logText().substring(mark);
        Matcher resolvedLine = Pattern.compile("Recovery guard: execution\\.state-recovery\\.path = " + Pattern.quote(jobDir)
                + " resolved to (\\S+) in \\d+ ms").matcher(log);
        assertThat(resolvedLine.find()).as("the guard's line in the JobManager log %s:%n%s", jobManager.log(), log).isTrue();
        assertThat(resolvedLine.group(1)).as("the checkpoint the guard resolved %s to", jobDir).isEqualTo(newest);
        assertThat(restoredPath(fromDir)).as("what the job resumed from its directory restored").isEqualTo(newest);
        assertExact(fromDirOutput);

        // 2. Damage the newest checkpoint in S3 (raw client): delete a file it needs and no older one does.
        Damage damage;
        initializeFileSystemsAsTheCluster(); // Flink reads _metadata's relative handles through the file system
        try (S3Client raw = rawS3Client()) {
            damage = damageNewest(raw, jobDir, newest);
        }
        assertTheInspectorJarBesideFlinkFinds(damage, jobDir, newest);
        Path refusedOutput = newOutputDir("guard-refused");
        FlinkRest.Submission refused = submit(jobArgs(refusedOutput), newest, Map.of());
        // The JobMaster's restore fails the job before any task is deployed. The REST run request waits
        // for the job's initialization, so it answers with that error (or, should it not wait, a job id).
        String refusedJob;
        if (refused.accepted()) {
            refusedJob = refused.jobId();
            awaitState(refusedJob, "FAILED");
        } else {
            assertThat(refused.body()).as("REST answer to the refused submission (HTTP %d)", refused.status())
                    .contains("Refusing to resume from execution.state-recovery.path = " + newest)
                    .contains(damage.deletedKey());
            List<String> failed = new ArrayList<>();
            rest.get("/jobs/overview").path("jobs").forEach(j -> {
                if ("FAILED".equals(j.path("state").asText())) {
                    failed.add(j.path("jid").asText());
                }
            });
            assertThat(failed).as("failed jobs on the cluster: the refused one").hasSize(1);
            refusedJob = failed.get(0);
        }
        // The whole answer: its root-exception field is deprecated (empty for a job that failed initializing).
        assertThat(rest.exceptions(refusedJob).toString()).as("why job %s failed (/jobs/:id/exceptions)", refusedJob)
                .contains("Refusing to resume from execution.state-recovery.path = " + newest)
                .contains(damage.deletedKey())
                .contains("s3tiered.recovery.fallback-to-restorable");
        JsonNode tasks = jobOverview(refusedJob).path("tasks");
        for (String ran : List.of("deploying", "initializing", "running", "finished", "canceling", "canceled", "failed")) {
            assertThat(tasks.path(ran).asInt()).as("%s tasks of the refused job %s: %s", ran, refusedJob, tasks).isZero();
        }
        try (var files = Files.list(refusedOutput)) {
            assertThat(files.toList()).as("results of the refused submission: no task ran").isEmpty();
        }

        // 3. The same path with the fallback on: the job resumes from the previous checkpoint.
        mark = jobManager.logText().length();
        Path fallbackOutput = newOutputDir("guard-fallback");
        String fallback = submitJob(jobArgs(fallbackOutput), newest, Map.of("s3tiered.recovery.fallback-to-restorable", "true"));
        awaitState(fallback, "FINISHED");
        log = jobManager.logText().substring(mark);
        assertThat(log).as("JobManager log %s", jobManager.log())
                .contains("FALLING BACK")
                .contains("Resuming from " + damage.previous() + " instead");
        assertThat(restoredPath(fallback)).as("what the job resumed with the fallback restored").isEqualTo(damage.previous());
        assertExact(fallbackOutput);
        System.out.printf("recovery guard: %s resolved to %s; after deleting %s (one of %d files only it references), "
                        + "%s refused (HTTP %d, job %s), with the fallback job %s resumed from %s%n",
                jobDir, newest, damage.deletedKey(), damage.candidates().size(), newest,
                refused.status(), refusedJob, fallback, damage.previous());
    }

    /** Failures of the many-failures run: injected task failures and TaskManager kills together. */
    static final int FAILURES = 20;
    static final int KILLS = 6;
    static final long MANY_RECORDS = 30_000;
    static final double MANY_RATE = 1_500;
    /**
     * What one attempt can move subtask 0 on: the source passes at most this many records of a
     * subtask until a checkpoint completes, and subtask 0 fails its attempt at its first record
     * after one completed. It reads MANY_RECORDS / PARALLELISM = 15,000 records, so at least 25
     * attempts move the job on; each but the last ends in an injected failure unless a kill (or
     * another failure, such as a failed checkpoint) ends it first: about 25 - 1 - KILLS = 18
     * injected failures and 24 restarts, however slow the host (no timing).
     */
    static final int RECORDS_PER_CHECKPOINT = 600;

    @Test
    @Order(4)
    void manyFailuresInOneRunEndWithExactStateNothingLeftInS3AndTheTierInBudget() throws Exception {
        Path tier = localTier != null ? localTier : runDir.resolve("local-tier-host-c");
        ensureCluster(tier);
        Path output = newOutputDir("many-failures");
        List<String> args = List.of("--use-cluster-config",
                "--output", output.toString(),
                "--records", String.valueOf(MANY_RECORDS),
                "--keys", String.valueOf(KEYS),
                "--rate", String.valueOf(MANY_RATE),
                // every attempt fails once a checkpoint of its own completed (unless a kill came first)
                "--fail-every-checkpoints", "1",
                "--fail-until-attempt", "100000",
                "--records-per-checkpoint", String.valueOf(RECORDS_PER_CHECKPOINT));
        // Until the heartbeat times out, Flink deploys to a killed TaskManager again and again, each a
        // failed attempt: room for those, at a pace that does not spend them in a second.
        // One S3 server, one clock: no clock margin for the orphan removal. With the default (60 s) an
        // orphan of the last kill (or the one planted below) goes only if the job runs a minute past it,
        // which depends on the host's speed: on CI it once ended sooner and the orphan stayed, as the
        // README says it does (with the default, the planted one stayed in each run on a machine
        // where the job ends about 45 s after it).
        String job = submitJob(args, null, Map.of(
                "restart-strategy.fixed-delay.attempts", "300",
                "restart-strategy.fixed-delay.delay", "500ms",
                "execution.checkpointing.interval", "500ms",
                "s3tiered.verification.orphan-clock-margin", "0 s",
                // one run writes the job directory: no other run's checkpoint to wait a timeout for
                "s3tiered.verification.orphan-min-age", "0 s"));

        // A kill after each completed checkpoint, each at most RECORDS_PER_CHECKPOINT records of a subtask on:
        // the job cannot have read its input (MANY_RECORDS / 2 per subtask) before the last kill.
        for (int killed = 0; killed < KILLS; killed++) {
            awaitCompletedCheckpoints(job, killed + 1, killed);
            List<StandaloneCluster.Node> tms = taskManagers();
            cluster.kill(tms.get(killed % tms.size())); // kill -9, maybe in the middle of an upload
            cluster.startTaskManager();
        }
        // What a TaskManager lost during its upload leaves, whether or not a kill above hit one: an
        // object in shared/ that no checkpoint will reference. The checkpoints still to come must remove it.
        String jobPrefix = s3.runPrefix() + "/checkpoints/" + job + "/";
        String planted = jobPrefix + "shared/" + java.util.UUID.randomUUID();
        try (S3Client raw = rawS3Client()) {
            raw.putObject(b -> b.bucket(s3.bucket()).key(planted),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(new byte[1000]));
        }
        awaitState(job, "FINISHED");

        // Flink's exception history keeps only the newest 16, and the REST answer for the job's
        // numRestarts metric is the last one fetched (every 10 s) while the job ran: count restarts and
        // injected failures by the JobManager's log lines for each
        long restarts = Pattern.compile("\\(" + job + "\\) switched from state RUNNING to RESTARTING")
                .matcher(jobManager().logText()).results().count();
        long injected = Pattern.compile("Injected failure \\(FailureInjector\\) to test recovery[^\\n]* records of"
                        + " subtask \\d+ in attempt (\\d+)").matcher(jobManager().logText())
                .results().map(r -> r.group(1)).distinct().count();
        assertThat(restarts).as("restarts of job %s", job).isGreaterThanOrEqualTo(FAILURES);
        assertThat(injected + KILLS).as("injected task failures (%d) and TaskManager kills", injected)
                .isGreaterThanOrEqualTo(FAILURES);
        ExpectedResults.Verification v = ExpectedResults.verify(output, MANY_RECORDS, KEYS);
        assertThat(v.exact()).as("%s", v).isTrue();

        // A finished job's checkpoints are discarded by Flink; what killed TaskManagers uploaded for
        // checkpoints that never completed is removed by the storage's orphan removal after a later
        // checkpoint (the input outlasts the last kill by many of them, at most 600 records of a
        // subtask each): nothing of the job may stay,
        // but for SST files a killed TaskManager uploaded ahead of a checkpoint that never came
        // (<sha256>-<id>.sst: no other process can know that no checkpoint will be handed them, so the
        // orphan removal waits twice the reuse window, longer than this job runs; `orphans` lists them).
        List<String> left = new ArrayList<>();
        List<String> preUploadedByKilled = new ArrayList<>();
        List<String> serverTempFiles = new ArrayList<>();
        try (S3Client raw = rawS3Client()) {
            await("Flink's discard of the finished job's checkpoints", () -> {
                left.clear();
                preUploadedByKilled.clear();
                serverTempFiles.clear();
                raw.listObjectsV2Paginator(b -> b.bucket(s3.bucket()).prefix(jobPrefix)).contents().stream()
                        .map(S3Object::key)
                        .filter(k -> !k.endsWith("/s3tiered-verification.json") && !k.endsWith("/s3tiered-preupload.json"))
                        .forEach(k -> (k.matches(".*/shared/[0-9a-f]{64}-[0-9a-f]{16}\\.sst") ? preUploadedByKilled
                                : isS3ProxyTempFile(k) ? serverTempFiles : left).add(k));
                return left.isEmpty();
            });
        } catch (AssertionError e) {
            throw new AssertionError("objects left in S3 under " + jobPrefix + " after the job finished: " + left, e);
        }
        // each killed TaskManager had at most a few files in upload (2 at once) or just uploaded
        assertThat(preUploadedByKilled).as("pre-uploads left by %d killed TaskManagers", KILLS).hasSizeLessThanOrEqualTo(KILLS * 8);
        assertThat(serverTempFiles).as("S3Proxy's files of PUTs whose sender was killed").hasSizeLessThanOrEqualTo(KILLS * 8);

        // a TaskManager may still evict or withdraw a file while it is counted: one gone meanwhile counts 0
        long[] bytes = {0};
        Files.walkFileTree(tier, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path f, java.nio.file.attribute.BasicFileAttributes a) {
                bytes[0] += a.isRegularFile() ? a.size() : 0;
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFileFailed(Path f, IOException e) throws IOException {
                if (e instanceof java.nio.file.NoSuchFileException) {
                    return java.nio.file.FileVisitResult.CONTINUE;
                }
                throw e;
            }
        });
        long onDisk = bytes[0];
        long budget = org.apache.flink.configuration.MemorySize.parse(
                FlinkConfigSource.load().entries().get("s3tiered.local.max-bytes")).getBytes();
        assertThat(onDisk).as("bytes in the local tier %s", tier).isLessThanOrEqualTo(budget);
        long orphansRemoved = Pattern.compile("Removed (\\d+) objects \\(\\d+ bytes\\) from \\S*" + job + "/shared")
                .matcher(jobManager().logText()).results().mapToLong(r -> Long.parseLong(r.group(1))).sum();
        // the planted object went (no object is left above) by the storage's removal, not by another hand
        assertThat(orphansRemoved).as("objects the orphan removal took during the job, which planted %s (JobManager log %s)",
                planted, jobManager().log()).isPositive();
        System.out.printf("many failures: job %s restarted %d times (%d injected task failures, %d TaskManagers killed);"
                + " exact state; the orphan removal took %d objects during the job; nothing left in S3 but %d pre-uploads"
                + " of killed TaskManagers (and %d S3Proxy temporary files); the tier holds %d bytes of its %d%n",
                job, restarts, injected, KILLS, orphansRemoved, preUploadedByKilled.size(), serverTempFiles.size(), onDisk,
                budget);
    }

    private static final String UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

    /**
     * Whether {@code key} is the temporary file of S3Proxy's file-system backend for a PUT of a
     * checkpoint file, left there when the sender died in the middle of the body. S3Proxy 3.1.0
     * ({@code AbstractNio2BlobStore.putBlob}) writes a body to {@code <key>-<random UUID>} beside the
     * key and moves it into place once complete; an IOException while reading the body leaves the
     * file, which its listings then show as an object. S3 and MinIO store no part of a PUT that did
     * not arrive whole, so against any other server such a key fails the test. Flink and this
     * project name checkpoint files by one UUID (or {@code <sha256>-<id>.sst}), never by a UUID followed by
     * another.
     */
    private static boolean isS3ProxyTempFile(String key) {
        return s3.isLocalProcess()
                && key.matches(".*/(" + UUID_PATTERN + "|[0-9a-f]{64}(-[0-9a-f]{16})?\\.sst)-" + UUID_PATTERN);
    }

    @Test
    @Order(5)
    void theSecretKeyIsInNoLogNoProcessOutputAndNoRestAnswer() throws Exception {
        if (cluster != null && rest.reachable()) {
            // What a client can ask about the configuration: Flink masks "secret" keys there.
            List<String> paths = new ArrayList<>(List.of("/jobmanager/config", "/jobmanager/environment"));
            for (JsonNode j : rest.get("/jobs/overview").path("jobs")) {
                paths.add("/jobs/" + j.path("jid").asText() + "/jobmanager/config");
                paths.add("/jobs/" + j.path("jid").asText() + "/exceptions");
            }
            for (String path : paths) { // recorded in the transcript, whatever the status
                rest.request("GET", path, java.net.http.HttpRequest.BodyPublishers.noBody(), null);
            }
        }
        stopCluster(); // the shutdown's own log lines too

        List<Path> files = new ArrayList<>();
        try (var clusters = Files.list(runDir)) {
            for (Path c : clusters.filter(p -> p.getFileName().toString().startsWith("cluster-")).sorted().toList()) {
                files.addAll(SecretScan.filesUnder(c.resolve("log")));
                if (Files.exists(c.resolve(REST_TRANSCRIPT))) {
                    files.add(c.resolve(REST_TRANSCRIPT));
                }
            }
        }
        assertThat(files.stream().map(f -> f.getFileName().toString()))
                .as("files scanned")
                .contains("jobmanager.log", "jobmanager.out", "taskmanager-1.log", "taskmanager-1.out", REST_TRANSCRIPT);
        // The scan reads what it should: the access key (not a secret) is in the logged configuration.
        assertThat(SecretScan.find(s3.accessKey(), files)).as("lines with the access key").isNotEmpty();

        List<String> leaks = SecretScan.find(s3.secretKey(), files);
        assertThat(leaks).as("lines holding the S3 secret key (shown as <SECRET>) in %d files", files.size()).isEmpty();
        long bytes = 0;
        for (Path f : files) {
            bytes += Files.size(f);
        }
        System.out.printf("secret scan: %d files (%d bytes) of %d clusters, no line holds the secret key%n",
                files.size(), bytes, clusterCount);
    }

    // --- helpers (steps such as "resume from the job directory" build on these) ------------------

    /** Runs the example until 3 checkpoints completed, cancels it; returns its newest retained checkpoint. */
    static String runAndCancel(String name) throws IOException {
        String job = submitJob(jobArgs(newOutputDir(name)), null, SMALL_INLINE_THRESHOLD);
        awaitCompletedCheckpoints(job, 3);
        rest.cancel(job);
        awaitState(job, "CANCELED");
        String retained = rest.checkpoints(job).path("latest").path("completed").path("external_path").asText(null);
        assertThat(retained).as("retained checkpoint of the cancelled job").isNotNull().contains("/" + job + "/chk-");
        return retained;
    }

    static StandaloneCluster.Node jobManager() {
        return cluster.nodes().stream().filter(n -> n.name().equals("jobmanager")).findFirst().orElseThrow();
    }

    /** The job's entry in {@code /jobs/overview} (state, task counts by state). */
    static JsonNode jobOverview(String job) {
        for (JsonNode j : rest.get("/jobs/overview").path("jobs")) {
            if (job.equals(j.path("jid").asText())) {
                return j;
            }
        }
        throw new AssertionError("Job " + job + " not in /jobs/overview");
    }

    /**
     * What the job restored when it was submitted: its first "Restoring job" line in the JobManager
     * log. The REST API shows the latest restore only, which after a restart of the job (a heartbeat
     * missed on a loaded host) is the job's own newer checkpoint.
     */
    static String restoredPath(String job) {
        StandaloneCluster.Node jobManager = jobManager();
        String log = jobManager.logText();
        Matcher first = Pattern.compile("Restoring job " + job + " from .*? located at (\\S+)\\.$", Pattern.MULTILINE)
                .matcher(log);
        assertThat(first.find()).as("job %s restored a checkpoint (a \"Restoring job\" line in %s)", job, jobManager.log())
                .isTrue();
        return first.group(1);
    }

    /** What {@link #damageNewest} deleted, and the checkpoint before the damaged one. */
    record Damage(String deletedKey, String previous, List<String> candidates) {}

    /** What the runnable inspector jar printed, and its exit code. */
    record InspectorRun(int exit, String out, String err) {}

    /**
     * The inspector's runnable jar, run as a user beside the installation would: {@code java -jar},
     * no class path, Flink's classes and plugins from {@code --flink-home}, the cluster's
     * configuration; on the damaged checkpoint and on its job's directory.
     */
    static void assertTheInspectorJarBesideFlinkFinds(Damage damage, String jobDir, String newest) throws Exception {
        Path tier = Files.createDirectories(runDir.resolve("local-tier-inspector"));
        List<String> common = List.of("--flink-home", flinkHome.toString(),
                "--flink-conf-dir", cluster.configFile().getParent().toString(),
                "-D", "s3tiered.local.dir=" + tier);
        InspectorRun validate = inspectorJar("validate", common, newest);
        assertThat(validate.exit()).as("exit code of validate on %s: %s", newest, validate).isEqualTo(1);
        assertThat(validate.out()).as("validate %s", newest).contains("MISSING_FILES",
                damage.deletedKey().substring(damage.deletedKey().lastIndexOf('/') + 1));

        InspectorRun restorePoint = inspectorJar("restore-point", common, jobDir);
        assertThat(restorePoint.exit()).as("exit code of restore-point on %s: %s", jobDir, restorePoint).isZero();
        assertThat(restorePoint.out()).as("restore-point %s", jobDir).contains(damage.previous());

        InspectorRun noFlink = inspectorJar("validate", List.of("--flink-home", runDir.resolve("no-flink").toString()), newest);
        assertThat(noFlink.exit()).as("without a Flink installation: %s", noFlink).isEqualTo(2);
        assertThat(noFlink.err()).contains(runDir.resolve("no-flink").toString(), "lib/");
    }

    static InspectorRun inspectorJar(String command, List<String> options, String path) throws Exception {
        Path jar = Path.of(System.getProperty("inspector.cli.jar", "target/inspector/recovery-inspector-cli.jar"));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar.toAbsolutePath().toString(), command));
        cmd.addAll(options);
        cmd.add(path);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        for (String inherited : List.of("FLINK_HOME", "FLINK_CONF_DIR", "FLINK_PLUGINS_DIR", "CLASSPATH")) {
            pb.environment().remove(inherited);
        }
        Path out = Files.createTempFile(runDir, "inspector", ".out");
        Path err = Files.createTempFile(runDir, "inspector", ".err");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(3, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("the inspector jar did not end within 3 minutes: " + cmd);
        }
        return new InspectorRun(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** The id in a {@code .../chk-N} path. */
    static long id(String checkpoint) {
        return Long.parseLong(checkpoint.substring(checkpoint.lastIndexOf("/chk-") + "/chk-".length()));
    }

    /** The checkpoint of {@code jobDir} with the highest id among those whose {@code _metadata} S3 holds. */
    static String newestWithMetadata(S3Client raw, String jobDir) {
        String prefix = keyOf(jobDir) + "/";
        Pattern metadataKey = Pattern.compile(Pattern.quote(prefix) + "chk-(\\d+)/" + CheckpointMetadataReader.METADATA_FILE);
        long newest = -1;
        for (S3Object o : raw.listObjectsV2Paginator(b -> b.bucket(s3.bucket()).prefix(prefix)).contents()) {
            Matcher m = metadataKey.matcher(o.key());
            if (m.matches()) {
                newest = Math.max(newest, Long.parseLong(m.group(1)));
            }
        }
        assertThat(newest).as("a checkpoint with _metadata in %s", jobDir).isNotNegative();
        return jobDir + "/chk-" + newest;
    }

    /**
     * Reads the {@code _metadata} of every retained checkpoint of {@code jobDir} from S3 and deletes
     * one file that {@code newest} references and no older checkpoint does.
     */
    static Damage damageNewest(S3Client raw, String jobDir, String newest) throws IOException {
        String prefix = keyOf(jobDir) + "/";
        Set<String> keys = new TreeSet<>();
        raw.listObjectsV2Paginator(b -> b.bucket(s3.bucket()).prefix(prefix)).contents().stream()
                .map(S3Object::key).forEach(keys::add);
        Pattern metadataKey = Pattern.compile(Pattern.quote(prefix) + "chk-(\\d+)/" + CheckpointMetadataReader.METADATA_FILE);
        NavigableMap<Long, String> checkpoints = new TreeMap<>();
        for (String key : keys) {
            Matcher m = metadataKey.matcher(key);
            if (m.matches()) {
                checkpoints.put(Long.parseLong(m.group(1)), jobDir + "/chk-" + m.group(1));
            }
        }
        assertThat(checkpoints).as("retained checkpoints in %s", jobDir).hasSizeGreaterThanOrEqualTo(2);
        assertThat(checkpoints.lastEntry().getValue()).as("newest retained checkpoint").isEqualTo(newest);

        Set<String> olderFiles = new TreeSet<>();
        for (String older : checkpoints.headMap(checkpoints.lastKey()).values()) {
            olderFiles.addAll(referencedFiles(raw, older));
        }
        List<String> newestOnly = referencedFiles(raw, newest).stream()
                .filter(f -> !olderFiles.contains(f))
                .filter(f -> keys.contains(keyOf(f)))
                .sorted(Comparator.comparing((String f) -> !f.contains("/shared/"))) // a shared/ file, if any
                .toList();
        assertThat(newestOnly).as("files in S3 that %s references and no older checkpoint does", newest).isNotEmpty();
        String victim = keyOf(newestOnly.get(0));
        raw.deleteObject(b -> b.bucket(s3.bucket()).key(victim));
        boolean gone;
        try {
            raw.headObject(b -> b.bucket(s3.bucket()).key(victim));
            gone = false;
        } catch (NoSuchKeyException expected) {
            gone = true;
        }
        assertThat(gone).as("%s deleted", victim).isTrue();
        return new Damage(victim, checkpoints.lowerEntry(checkpoints.lastKey()).getValue(), newestOnly);
    }

    /**
     * This JVM's Flink file systems as the cluster has them: {@code s3tiered://} from the
     * distribution's {@code plugins/} (in its plugin class loader), configured by the cluster's
     * {@code config.yaml}, with a local tier directory of its own.
     */
    static void initializeFileSystemsAsTheCluster() throws IOException {
        Configuration conf = GlobalConfiguration.loadConfiguration(cluster.configFile().getParent().toString());
        conf.setString("s3tiered.local.dir", Files.createDirectories(runDir.resolve("local-tier-test-jvm")).toString());
        FileSystem.initialize(conf, new DefaultPluginManager(
                new DirectoryBasedPluginFinder(flinkHome.resolve("plugins")).findPlugins(),
                CoreOptions.getPluginParentFirstLoaderPatterns(conf)));
    }

    /** The files a checkpoint's {@code _metadata} (read from S3) references, as full paths. */
    static List<String> referencedFiles(S3Client raw, String checkpoint) throws IOException {
        byte[] metadata = raw.getObjectAsBytes(b -> b.bucket(s3.bucket())
                .key(keyOf(checkpoint) + "/" + CheckpointMetadataReader.METADATA_FILE)).asByteArray();
        var parsed = CheckpointMetadataReader.parse(metadata, new org.apache.flink.core.fs.Path(checkpoint),
                StandaloneClusterITCase.class.getClassLoader());
        return CheckpointReferences.of(parsed).files().stream().map(ReferencedFile::path).map(Object::toString).toList();
    }

    /** The S3 key of an {@code s3tiered://bucket/key} path of the test bucket. */
    static String keyOf(String path) {
        URI uri = URI.create(path);
        assertThat(uri.getAuthority()).as("bucket of %s", path).isEqualTo(s3.bucket());
        return uri.getPath().substring(1);
    }

    static S3Client rawS3Client() {
        return S3Client.builder()
                .endpointOverride(URI.create(s3.endpoint()))
                .region(Region.of(s3.region()))
                .forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(s3.accessKey(), s3.secretKey())))
                .build();
    }

    /** Starts JobManager and TaskManagers of a new cluster whose TaskManagers keep their local tier in {@code tier}. */
    static void startCluster(Path tier) throws Exception {
        localTier = tier;
        Files.createDirectories(tier);
        Map<String, String> values = new HashMap<>();
        values.put("S3_ENDPOINT", s3.endpoint());
        values.put("S3_ACCESS_KEY", s3.accessKey());
        values.put("S3_SECRET_KEY", s3.secretKey());
        values.put("S3_BUCKET", s3.bucket() + "/" + s3.runPrefix());
        values.put("S3TIERED_LOCAL_DIR", tier.toString());
        String config = FlinkConfigSource.load().render(values);
        cluster = StandaloneCluster.create(flinkHome, runDir.resolve("cluster-" + (++clusterCount)), config);
        StandaloneCluster.Node jobManager = cluster.startJobManager();
        for (int i = 0; i < TASK_MANAGERS; i++) {
            cluster.startTaskManager();
        }
        rest = new FlinkRest(cluster.restUrl(), cluster.dir().resolve(REST_TRANSCRIPT));
        await("REST endpoint of cluster " + clusterCount, () -> {
            if (!jobManager.process().isAlive()) {
                // a JobManager that could not start (a port taken, a bad option) does not come back
                throw new AssertionError("The JobManager of cluster " + clusterCount + " exited with "
                        + jobManager.process().exitValue() + " before its REST endpoint answered" + cluster.diagnostics());
            }
            return rest.reachable();
        });
        await(TASK_MANAGERS + " TaskManagers registered", () -> rest.taskManagers() == TASK_MANAGERS);
        jarId = rest.uploadJar(jobJar);
    }

    /** Uses the running cluster when it is whole and idle, else starts a new one. */
    static void ensureCluster(Path tier) throws Exception {
        boolean whole = cluster != null
                && cluster.nodes().stream().filter(n -> n.process().isAlive()).count() == 1 + TASK_MANAGERS
                && rest.reachable()
                && rest.taskManagers() == TASK_MANAGERS
                && tier.equals(localTier);
        // a job's slots are freed a moment after it is reported finished or cancelled
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        boolean idle = whole && rest.freeSlots() == TASK_MANAGERS;
        while (whole && !idle && System.nanoTime() < deadline) {
            Thread.sleep(200);
            idle = rest.freeSlots() == TASK_MANAGERS;
        }
        if (!idle) {
            stopCluster();
            startCluster(tier);
        }
    }

    static void stopCluster() {
        if (cluster != null) {
            cluster.stop();
            cluster = null;
        }
    }

    static List<StandaloneCluster.Node> taskManagers() {
        return cluster.nodes().stream()
                .filter(n -> n.name().startsWith("taskmanager") && n.process().isAlive())
                .toList();
    }

    static Path newOutputDir(String name) throws IOException {
        // ResultFileSink writes here from every TaskManager: a directory of this host.
        return Files.createDirectories(runDir.resolve("output-" + name));
    }

    static List<String> jobArgs(Path output) {
        return List.of("--use-cluster-config",
                "--output", output.toString(),
                "--records", String.valueOf(RECORDS),
                "--keys", String.valueOf(KEYS),
                "--rate", String.valueOf(RATE),
                // at least nine checkpoints before the input ends, however slow the host: the tests
                // that cancel or kill after some checkpoints find the job running
                "--records-per-checkpoint", String.valueOf(RECORDS / PARALLELISM / 10),
                "--fail-after", "0");
    }

    /** Submits the example over REST, with {@code execution.state-recovery.path} when {@code recoveryPath} is set. */
    static FlinkRest.Submission submit(List<String> args, String recoveryPath) {
        return submit(args, recoveryPath, Map.of());
    }

    /** As {@link #submit(List, String)}, with more job configuration (the REST request's flinkConfiguration). */
    static FlinkRest.Submission submit(List<String> args, String recoveryPath, Map<String, String> jobConfig) {
        Map<String, String> conf = new HashMap<>(jobConfig);
        if (recoveryPath != null) {
            conf.put("execution.state-recovery.path", recoveryPath);
        }
        return rest.run(jarId, ENTRY_CLASS, args, PARALLELISM, conf);
    }

    static String submitJob(List<String> args, String recoveryPath) {
        return submitJob(args, recoveryPath, Map.of());
    }

    static String submitJob(List<String> args, String recoveryPath, Map<String, String> jobConfig) {
        FlinkRest.Submission s = submit(args, recoveryPath, jobConfig);
        assertThat(s.accepted()).as("submission accepted: HTTP %d %s%n%s", s.status(), s.body(), cluster.diagnostics())
                .isTrue();
        return s.jobId();
    }

    /** Waits for at least {@code count} completed checkpoints; returns the id of the latest one. */
    static long awaitCompletedCheckpoints(String job, int count) {
        return awaitCompletedCheckpoints(job, count, -1);
    }

    /** As {@link #awaitCompletedCheckpoints(String, int)}, saying how many TaskManagers were killed if the job ended. */
    static long awaitCompletedCheckpoints(String job, int count, int killed) {
        await(count + " completed checkpoints of " + job, () -> {
            failIfTerminal(job, null, killed < 0 ? "" : " after " + killed + " of " + KILLS + " TaskManager kills and "
                    + rest.checkpoints(job).path("counts").path("completed").asInt() + " completed checkpoints");
            return rest.checkpoints(job).path("counts").path("completed").asInt() >= count;
        });
        return rest.checkpoints(job).path("latest").path("completed").path("id").asLong();
    }

    static void awaitState(String job, String wanted) {
        await(job + " " + wanted, () -> {
            failIfTerminal(job, wanted);
            return wanted.equals(rest.jobState(job));
        });
    }

    private static void failIfTerminal(String job, String wanted) {
        failIfTerminal(job, wanted, "");
    }

    private static void failIfTerminal(String job, String wanted, String when) {
        String state = rest.jobState(job);
        if (Set.of("FAILED", "CANCELED", "FINISHED").contains(state) && !state.equals(wanted)) {
            throw new AssertionError("Job " + job + " is " + state + when + (wanted == null ? "" : ", expected " + wanted)
                    + ": " + rest.exceptions(job).path("root-exception").asText() + cluster.diagnostics());
        }
    }

    static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("Interrupted while waiting for " + what);
            }
        }
        throw new AssertionError("Timed out after " + TIMEOUT + " waiting for " + what
                + (cluster == null ? "" : cluster.diagnostics()));
    }

    static void assertExact(Path output) throws IOException {
        ExpectedResults.Verification v = ExpectedResults.verify(output, RECORDS, KEYS);
        assertThat(v.exact()).as("%s", v).isTrue();
    }

    /** One RestoreTimings line of a TaskManager log; the byte counts are that TaskManager's totals so far. */
    record Restore(int subtask, int attempt, long bytesFromLocalTier, long bytesFromS3) {}

    static List<Restore> restoresIn(StandaloneCluster.Node node) {
        List<Restore> out = new ArrayList<>();
        Matcher m = RESTORE_LINE.matcher(node.logText());
        while (m.find()) {
            out.add(new Restore(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                    Long.parseLong(m.group(3)), Long.parseLong(m.group(4))));
        }
        return out;
    }
}
