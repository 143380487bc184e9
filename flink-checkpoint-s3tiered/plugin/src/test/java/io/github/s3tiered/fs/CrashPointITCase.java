package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.FaultRule;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.testing.S3TestServer;
import io.github.s3tiered.tier.LocalTier;
import io.github.s3tiered.tier.TierEntry;
import io.github.s3tiered.tier.TierSteps;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

import java.io.BufferedReader;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Crash points (issue 10): a separate JVM writing through the file system is killed with SIGKILL
 * at each step of a write (staging, a single PUT, a part upload, CompleteMultipartUpload, the tier
 * commit between data and sidecar, after the sidecar, an eviction between sidecar and data). A new
 * file system on the same tier directory, as a new process would open it, must then
 *
 * <ul>
 *   <li>serve only intact copies: a read returns exactly the bytes written, from the tier only
 *       where a complete copy is, else from S3;
 *   <li>count every byte under the tier directory in its budget, and remove what is not a copy
 *       once its grace is over (see {@link LocalTier}'s invariants);
 *   <li>find in S3 the whole object or nothing at the key.
 * </ul>
 *
 * <p>Incomplete multipart uploads: the project aborts every upload that fails or is cancelled in a
 * live process, so no step before the kill leaves one. A process killed between
 * CreateMultipartUpload and the end of CompleteMultipartUpload takes the upload id with it: no
 * other process knows it, and aborting uploads found by listing a prefix could abort a live
 * TaskManager's upload, so the project's code cannot remove it. It holds its parts' storage until
 * the bucket's lifecycle rule {@code AbortIncompleteMultipartUpload} ({@code
 * DaysAfterInitiation}) removes it. These tests assert that exactly that one upload remains, then
 * abort it themselves as the rule would (S3Proxy has no lifecycle rules).
 */
class CrashPointITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    private static final int MIB = 1024 * 1024;
    private static final long BUDGET = 64L * MIB;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(45);
    /** Long enough to outlast every test: the stalled request never reaches S3 while we look. */
    private static final Duration STALL = Duration.ofMinutes(5);

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path work;

    private String prefix;
    private S3Client raw;

    @BeforeEach
    void setUp(TestInfo info) {
        prefix = S3.server().runPrefix() + "/crash/" + info.getTestMethod().orElseThrow().getName();
        raw = rawClient(S3.server());
    }

    @AfterEach
    void tearDown() {
        raw.close();
    }

    @Test
    void killedWhileStaging() throws Exception {
        Written f = file("staging", 3 * MIB, 1);
        try (Child child = start(CrashingWriter.STAGING, S3.server().endpoint(), BUDGET, f)) {
            child.awaitAnnounced(CrashingWriter.STAGING);
            child.kill();
        }
        S3TieredFileSystem fs = reopen(BUDGET);
        assertThat(stagingBytes()).as("the staging file the crash left").isPositive();
        assertS3HoldsNothing(f);
        assertNotFound(fs, f);
        assertOpenUploads(f, 0);
        assertLeftoversRemovedOnceOld(Duration.ofHours(LocalTier.LEFTOVER_HOURS).plusMinutes(1), BUDGET);
    }

    @Test
    void killedDuringASinglePut() throws Exception {
        assumeTrue(S3.server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        Written f = file("put", 3 * MIB, 2);
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", S3.server().port())) {
            FaultRule put = proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).keyMatching(f.key()).nth(1).stallRequest(STALL));
            try (Child child = start("PutObject", proxy.endpoint(), BUDGET, f)) {
                child.awaitUntil("the PutObject of " + f.key() + " reached the proxy", () -> put.timesFired() > 0);
                child.kill();
            }
            S3TieredFileSystem fs = reopen(BUDGET);
            assertS3HoldsNothing(f);
            assertNotFound(fs, f);
            assertOpenUploads(f, 0);
            assertLeftoversRemovedOnceOld(Duration.ofHours(LocalTier.LEFTOVER_HOURS).plusMinutes(1), BUDGET);
        }
    }

    @Test
    void killedDuringAMultipartUpload() throws Exception {
        assumeTrue(S3.server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        Written f = file("multipart", 11 * MIB, 3);
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", S3.server().port())) {
            FaultRule part2 = proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).keyMatching(f.key()).nth(2).stallRequest(STALL));
            // One part at a time: part 1 is stored when part 2 stalls. (A part cut midway by the
            // kill makes S3Proxy reject the abort with HTTP 400, which real S3 does not.)
            try (Child child = start("UploadPart", proxy.endpoint(), BUDGET,
                    conf -> conf.setString(S3TieredOptions.TRANSFER_THREADS.key(), "1"), f)) {
                child.awaitUntil("the second UploadPart of " + f.key() + " reached the proxy", () -> part2.timesFired() > 0);
                child.kill();
            }
            S3TieredFileSystem fs = reopen(BUDGET);
            assertS3HoldsNothing(f);
            assertNotFound(fs, f);
            assertOpenUploads(f, 1); // the killed process's: see the class comment
            abortAsTheLifecycleRuleWould(f);
            assertLeftoversRemovedOnceOld(Duration.ofHours(LocalTier.LEFTOVER_HOURS).plusMinutes(1), BUDGET);
        }
    }

    @Test
    void killedDuringCompleteMultipartUpload() throws Exception {
        assumeTrue(S3.server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        Written f = file("complete", 11 * MIB, 4);
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", S3.server().port())) {
            FaultRule complete = proxy.inject(
                    FaultRule.on(S3Operation.COMPLETE_MULTIPART_UPLOAD).keyMatching(f.key()).nth(1).stallRequest(STALL));
            try (Child child = start("CompleteMultipartUpload", proxy.endpoint(), BUDGET, f)) {
                child.awaitUntil("the CompleteMultipartUpload of " + f.key() + " reached the proxy",
                        () -> complete.timesFired() > 0);
                child.kill();
            }
            S3TieredFileSystem fs = reopen(BUDGET);
            assertS3HoldsNothing(f);
            assertNotFound(fs, f);
            assertOpenUploads(f, 1); // every part stored, never completed: see the class comment
            abortAsTheLifecycleRuleWould(f);
            assertLeftoversRemovedOnceOld(Duration.ofHours(LocalTier.LEFTOVER_HOURS).plusMinutes(1), BUDGET);
        }
    }

    @Test
    void killedInTheTierCommitBetweenDataAndSidecar() throws Exception {
        Written f = file("commit", 11 * MIB, 5);
        try (Child child = start(TierSteps.COMMIT_DATA_RENAMED, S3.server().endpoint(), BUDGET, f)) {
            child.awaitAnnounced(TierSteps.COMMIT_DATA_RENAMED);
            child.kill();
        }
        java.nio.file.Path orphan = dataFilesWithoutSidecar().stream().findFirst()
                .orElseThrow(() -> new AssertionError("no data file without sidecar in " + tierDir));
        assertThat(Files.size(orphan)).isEqualTo(f.size());

        S3TieredFileSystem fs = reopen(BUDGET);
        assertThat(orphan).as("young: it may be another live process's commit").exists();
        assertS3HoldsTheWholeObject(f);
        assertReadFromS3(fs, f);
        assertOpenUploads(f, 0);
        // The short grace, not the staging files' hours.
        assertLeftoversRemovedOnceOld(Duration.ofMinutes(LocalTier.ORPHAN_GRACE_MINUTES + 1), BUDGET);
        assertThat(orphan).doesNotExist();
    }

    @Test
    void killedRightAfterTheSidecar() throws Exception {
        Written f = file("sidecar", 3 * MIB, 6);
        try (Child child = start(TierSteps.COMMIT_SIDECAR_RENAMED, S3.server().endpoint(), BUDGET, f)) {
            child.awaitAnnounced(TierSteps.COMMIT_SIDECAR_RENAMED);
            child.kill();
        }
        S3TieredFileSystem fs = reopen(BUDGET);
        assertS3HoldsTheWholeObject(f);
        assertServedFromTheTier(fs, f);
        assertOpenUploads(f, 0);
        assertLeftoversRemovedOnceOld(Duration.ofHours(LocalTier.LEFTOVER_HOURS).plusMinutes(1), BUDGET);
        assertServedFromTheTier(newFileSystem(config(S3.server().endpoint(), BUDGET), S3.server().bucket()), f);
    }

    @Test
    void killedInAnEvictionBetweenSidecarAndData() throws Exception {
        // Three files of 1 MiB in a budget for two and a half: the third commit evicts the first.
        long budget = 2560L * 1024;
        Written first = file("evicted", MIB, 7);
        Written second = file("second", MIB, 8);
        Written third = file("third", MIB, 9);
        try (Child child = start(TierSteps.EVICT_SIDECAR_REMOVED, S3.server().endpoint(), budget, first, second, third)) {
            child.awaitAnnounced(TierSteps.EVICT_SIDECAR_REMOVED);
            child.kill();
        }
        assertThat(dataFilesWithoutSidecar()).as("the evicted copy's data, its sidecar gone").hasSize(1);

        S3TieredFileSystem fs = reopen(budget);
        for (Written f : List.of(first, second, third)) {
            assertS3HoldsTheWholeObject(f);
            assertOpenUploads(f, 0);
        }
        assertServedFromTheTier(fs, third);
        assertReadFromS3(fs, first);
        assertThat(readAll(fs, second.path())).isEqualTo(second.data()); // the new process may have evicted it
        assertLeftoversRemovedOnceOld(Duration.ofMinutes(LocalTier.ORPHAN_GRACE_MINUTES + 1), budget);
    }

    // ------------------------------------------------------------------ the new process

    /**
     * A file system on the crashed process's tier directory, as a new process opens it. Reads do
     * not copy into the tier here, so they leave what the crash left for the checks after them.
     */
    private S3TieredFileSystem reopen(long budget) throws IOException {
        Configuration conf = config(S3.server().endpoint(), budget);
        conf.setString(S3TieredOptions.LOCAL_CACHE_ON_READ.key(), "false");
        S3TieredFileSystem fs = newFileSystem(conf, S3.server().bucket());
        assertEveryByteCounted(fs.localTier());
        return fs;
    }

    private void assertEveryByteCounted(LocalTier tier) throws IOException {
        assertThat(tier.usedBytes()).as("bytes counted by the budget of %s, against the bytes of every file in it: %s",
                tierDir, filesUnder(tierDir)).isEqualTo(bytesUnder(tierDir));
    }

    /**
     * Ages every file under the tier directory by {@code age}, then opens the tier again: all
     * that is not a complete copy must be gone, and the rest counted.
     */
    private void assertLeftoversRemovedOnceOld(Duration age, long budget) throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(tierDir)) {
            for (java.nio.file.Path f : files.filter(Files::isRegularFile).toList()) {
                Files.setLastModifiedTime(f, FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() - age.toMillis()));
            }
        }
        LocalTier tier = new LocalTier(tierDir, budget);
        assertEveryByteCounted(tier);
        assertThat(dataFilesWithoutSidecar()).as("data files without sidecar after %s", age).isEmpty();
        if (age.compareTo(Duration.ofHours(LocalTier.LEFTOVER_HOURS)) > 0) {
            assertThat(stagingBytes()).as("staging files after %s", age).isZero();
        }
    }

    private void assertServedFromTheTier(S3TieredFileSystem fs, Written f) throws IOException {
        TierEntry copy = fs.localTier().getVerified(f.bucket(), f.key())
                .orElseThrow(() -> new AssertionError("no intact local-tier copy of " + f.uri() + " in " + tierDir));
        assertThat(Files.readAllBytes(copy.data())).as("the local-tier copy %s of %s", copy.data(), f.uri())
                .isEqualTo(f.data());
        long gets = fs.s3Statistics().requestCount("GetObject");
        assertThat(readAll(fs, f.path())).as("read of %s", f.uri()).isEqualTo(f.data());
        assertThat(fs.s3Statistics().requestCount("GetObject")).as("GETs for a read served by the tier").isEqualTo(gets);
    }

    private void assertReadFromS3(S3TieredFileSystem fs, Written f) throws IOException {
        assertThat(fs.localTier().getVerified(f.bucket(), f.key())).as("local-tier copy of %s", f.uri()).isEmpty();
        long gets = fs.s3Statistics().requestCount("GetObject");
        assertThat(readAll(fs, f.path())).as("read of %s", f.uri()).isEqualTo(f.data());
        assertThat(fs.s3Statistics().requestCount("GetObject")).as("GETs for %s", f.uri()).isGreaterThan(gets);
    }

    private void assertNotFound(S3TieredFileSystem fs, Written f) {
        assertThat(fs.localTier().getVerified(f.bucket(), f.key())).as("local-tier copy of %s", f.uri()).isEmpty();
        assertThatThrownBy(() -> readAll(fs, f.path())).as("read of %s", f.uri()).isInstanceOf(FileNotFoundException.class);
    }

    private void assertS3HoldsTheWholeObject(Written f) {
        byte[] stored = raw.getObjectAsBytes(b -> b.bucket(f.bucket()).key(f.key())).asByteArray();
        assertThat(stored).as("the object at %s", f.uri()).isEqualTo(f.data());
    }

    private void assertS3HoldsNothing(Written f) {
        assertThatThrownBy(() -> raw.headObject(b -> b.bucket(f.bucket()).key(f.key())))
                .as("an object at %s", f.uri()).isInstanceOf(NoSuchKeyException.class);
    }

    private void assertOpenUploads(Written f, int expected) {
        assertThat(openUploads(f)).as("incomplete multipart uploads of %s", f.uri()).hasSize(expected);
    }

    private List<MultipartUpload> openUploads(Written f) {
        return raw.listMultipartUploads(b -> b.bucket(f.bucket()).prefix(f.key())).uploads().stream()
                .filter(u -> u.key().equals(f.key())).toList();
    }

    private void abortAsTheLifecycleRuleWould(Written f) {
        for (MultipartUpload u : openUploads(f)) {
            raw.abortMultipartUpload(b -> b.bucket(f.bucket()).key(f.key()).uploadId(u.uploadId()));
        }
        assertOpenUploads(f, 0);
    }

    // ------------------------------------------------------------------ files on disk

    private List<java.nio.file.Path> dataFilesWithoutSidecar() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(tierDir.resolve("v1/objects"))) {
            return files.filter(Files::isRegularFile)
                    .filter(f -> !f.getFileName().toString().endsWith(".meta"))
                    .filter(f -> !Files.exists(f.resolveSibling(f.getFileName() + ".meta")))
                    .toList();
        }
    }

    private long stagingBytes() throws IOException {
        return bytesUnder(tierDir.resolve("v1/staging"));
    }

    private static long bytesUnder(java.nio.file.Path dir) throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    private static List<String> filesUnder(java.nio.file.Path dir) throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile)
                    .map(f -> dir.relativize(f) + " (" + f.toFile().length() + " bytes)").toList();
        }
    }

    // ------------------------------------------------------------------ the process to kill

    private Configuration config(String endpoint, long budget) {
        Configuration conf = flinkConfig(S3.server(), tierDir);
        conf.setString("s3.endpoint", endpoint);
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.LOCAL_MAX_BYTES.key(), budget + "b");
        return conf;
    }

    private Written file(String name, int size, long seed) {
        return new Written(S3.server().bucket(), prefix + "/" + name, size, seed);
    }

    private Child start(String stopAt, String endpoint, long budget, Written... files) throws IOException {
        return start(stopAt, endpoint, budget, conf -> {}, files);
    }

    private Child start(String stopAt, String endpoint, long budget, Consumer<Configuration> tweak, Written... files)
            throws IOException {
        Properties p = new Properties();
        p.setProperty("bucket", S3.server().bucket());
        p.setProperty("stopAt", stopAt);
        p.setProperty("files", Integer.toString(files.length));
        for (int i = 0; i < files.length; i++) {
            p.setProperty("path." + i, files[i].uri());
            p.setProperty("size." + i, Integer.toString(files[i].size()));
            p.setProperty("seed." + i, Long.toString(files[i].seed()));
        }
        Configuration conf = config(endpoint, budget);
        tweak.accept(conf);
        conf.toMap().forEach((k, v) -> p.setProperty("conf." + k, v));
        java.nio.file.Path props = work.resolve("writer.properties");
        try (Writer w = Files.newBufferedWriter(props, StandardCharsets.UTF_8)) {
            p.store(w, null); // holds the test server's made-up credentials: in the test's temp dir
        }
        List<String> cmd = List.of(
                java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"),
                CrashingWriter.class.getName(), props.toString());
        return new Child(new ProcessBuilder(cmd).redirectErrorStream(true).start(), stopAt);
    }

    /** A file the child writes: its bytes follow from size and seed. */
    private record Written(String bucket, String key, int size, long seed) {
        String uri() {
            return "s3tiered://" + bucket + "/" + key;
        }

        Path path() {
            return new Path(uri());
        }

        byte[] data() {
            return randomBytes(size, seed);
        }
    }

    /** The writer's JVM, its output collected (the last lines go into failure messages). */
    private static final class Child implements AutoCloseable {
        private final Process process;
        private final String stopAt;
        private final Deque<String> lastLines = new ArrayDeque<>();
        private final List<String> announced = new ArrayList<>();
        private volatile boolean done;

        Child(Process process, String stopAt) {
            this.process = process;
            this.stopAt = stopAt;
            Thread reader = new Thread(this::readOutput, "crashing-writer-output");
            reader.setDaemon(true);
            reader.start();
        }

        private void readOutput() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (this) {
                        lastLines.addLast(line);
                        if (lastLines.size() > 40) {
                            lastLines.removeFirst();
                        }
                        if (line.startsWith(CrashingWriter.AT)) {
                            announced.add(line.substring(CrashingWriter.AT.length()));
                        }
                    }
                    if (line.equals(CrashingWriter.DONE)) {
                        done = true;
                    }
                }
            } catch (IOException killed) {
                // the stream ends with the process
            }
        }

        void awaitAnnounced(String step) throws InterruptedException {
            awaitUntil("the writer announced " + step, () -> {
                synchronized (this) {
                    return announced.contains(step);
                }
            });
        }

        void awaitUntil(String what, BooleanSupplier reached) throws InterruptedException {
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            while (!reached.getAsBoolean()) {
                if (done || !process.isAlive() || System.nanoTime() > deadline) {
                    fail("Waiting for the crash point '%s' (%s): the writer %s. Its last output:%n%s", stopAt, what,
                            done ? "finished without reaching it" : process.isAlive() ? "did not reach it within "
                                    + STEP_TIMEOUT : "exited with code " + process.exitValue(), output());
                }
                Thread.sleep(5);
            }
        }

        /** SIGKILL: no shutdown hook, no finally block, no close() runs in the writer. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            assertThat(process.waitFor(10, TimeUnit.SECONDS)).as("the writer died").isTrue();
            assertThat(process.exitValue()).as("exit code of a JVM killed by SIGKILL").isEqualTo(128 + 9);
        }

        synchronized String output() {
            return String.join(System.lineSeparator(), lastLines);
        }

        @Override
        public void close() throws InterruptedException {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
