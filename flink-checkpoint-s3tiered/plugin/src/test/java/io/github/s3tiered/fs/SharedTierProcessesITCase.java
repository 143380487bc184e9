package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.s3tiered.fs.TierWorkload.WorkloadFile;
import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.tier.LocalTier;

import org.apache.flink.configuration.Configuration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 10, item 4: several TaskManager processes (separate JVMs, {@link TierWorkload}) share one
 * local tier whose budget is a third of each one's working set, and write and restore at once.
 * Then
 *
 * <ul>
 *   <li>no restore or read fails, and each returned exactly the bytes written: a copy evicted by
 *       another process under a reader is fetched from S3 instead (this happened: some restores
 *       wait between the tier's answer and the link until another process evicted a copy named);
 *   <li>restores were served both by the tier and by S3: copies were used, and evicted;
 *   <li>the budget holds, within the allowance {@code TierEviction} states (see {@link
 *       #MAX_WHILE_RUNNING} and {@link #MAX_AT_REST});
 *   <li>a new process opening the tier finds every copy intact: each sidecar's size and CRC32C
 *       match its data, and the data is the object's bytes.
 * </ul>
 */
class SharedTierProcessesITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    private static final int MIB = 1024 * 1024;
    private static final int PROCESSES = 3;
    private static final int ROUNDS = 6;
    private static final int FILES_PER_ROUND = 3;
    private static final int RESTORE_BATCH = 3;
    private static final int READS_PER_ROUND = 1;
    /** Each process writes ~20 MiB (6 rounds of 3 files of 1.1 MiB on average): 3x the budget. */
    private static final long BUDGET = 6L * MIB;
    /**
     * What a process may have on disk that no scan has seen yet. It scans (and evicts) once it
     * committed more than a tenth of the budget since its last scan ({@code TierEviction.added}),
     * so up to that much of its commits are uncounted by the others; on top of that, its operation
     * in progress: a restore batch's files being downloaded into staging files (never evictable)
     * or committed and waiting for the eviction lock. A process does one operation at a time, and
     * a batch is the largest.
     */
    private static final long IN_FLIGHT_PER_PROCESS = BUDGET / 10 + (long) RESTORE_BATCH * WorkloadFile.MAX_SIZE;
    /**
     * While processes work: the last scan left at most the budget (it evicts down to 90% once over
     * it), and each process adds at most its in-flight bytes before it scans again.
     */
    private static final long MAX_WHILE_RUNNING = BUDGET + PROCESSES * IN_FLIGHT_PER_PROCESS;
    /**
     * After every process ended: no staging file and no commit in progress, so only the tenth of
     * the budget each process may have committed since its last scan remains over the budget.
     */
    private static final long MAX_AT_REST = BUDGET + PROCESSES * (BUDGET / 10);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);

    @TempDir Path tierDir;
    @TempDir Path work;

    @Test
    void taskManagersSharingASmallTierRestoreEverythingIntactWithinTheBudget() throws Exception {
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/shared-tier";
        List<Child> children = new ArrayList<>();
        DiskSampler sampler = new DiskSampler(tierDir);
        try {
            for (int p = 0; p < PROCESSES; p++) {
                children.add(start(p, dir));
            }
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            for (Child c : children) {
                c.awaitReady(deadline);
            }
            sampler.start();
            children.forEach(Child::go); // all at once: they write and restore concurrently
            for (Child c : children) {
                c.awaitExit(deadline);
            }
        } finally {
            sampler.stop();
            for (Child c : children) {
                c.close();
            }
        }

        List<Map<String, Long>> summaries = new ArrayList<>();
        for (Child c : children) {
            assertThat(c.failures()).as("failures reported by process %d; its output:%n%s", c.index, c.output()).isEmpty();
            assertThat(c.exitCode()).as("exit code of process %d; its output:%n%s", c.index, c.output()).isZero();
            summaries.add(c.summary());
        }
        long atRest = bytesOnDisk(tierDir);
        System.out.printf("Shared tier: %s; on disk: peak %d bytes (bound %d), at the end %d bytes (bound %d);"
                        + " %d restored files fell back to S3 after their copy was checked%n", summaries, sampler.peak(),
                MAX_WHILE_RUNNING, atRest, MAX_AT_REST, children.stream().mapToLong(Child::evictedUnderReader).sum());

        for (Map<String, Long> s : summaries) {
            assertThat(s.get("written")).as("files written by %s", s).isEqualTo((long) ROUNDS * FILES_PER_ROUND);
            assertThat(s.get("restores")).as("restore batches of %s", s).isEqualTo(ROUNDS);
            assertThat(s.get("corruptionsDetected")).as("damaged copies found by %s", s).isZero();
        }
        assertThat(total(summaries, "restoreBytesFromTier")).as("restored bytes linked from tier copies").isPositive();
        assertThat(total(summaries, "restoreBytesFromS3")).as("restored bytes downloaded: evicted copies").isPositive();
        assertThat(total(summaries, "evictions")).as("evictions").isPositive();
        assertThat(total(summaries, "copiesChangedUnderReader"))
                .as("copies evicted or replaced by another process between the tier's answer and the link").isPositive();

        assertThat(sampler.peak()).as("peak bytes on disk in the tier while the processes ran").isLessThanOrEqualTo(MAX_WHILE_RUNNING);
        assertThat(stagingFiles()).as("staging files after every process ended").isEmpty();
        assertThat(atRest).as("bytes on disk in the tier after every process ended").isLessThanOrEqualTo(MAX_AT_REST);

        assertEveryCopyIntact();
    }

    /** A new process opening the tier: counts every byte, gets under budget, and finds each copy whole. */
    private void assertEveryCopyIntact() throws IOException {
        // the processes' S3 service, which names their copies
        LocalTier fresh = new LocalTier(tierDir, BUDGET, S3TieredRuntime.storeOf(java.net.URI.create(S3.server().endpoint())));
        assertThat(fresh.usedBytes()).as("bytes a new process counts").isEqualTo(bytesOnDisk(tierDir)).isLessThanOrEqualTo(BUDGET);
        List<Path> sidecars = filesUnder(tierDir.resolve("v1/objects")).stream()
                .filter(f -> f.getFileName().toString().endsWith(".meta")).toList();
        assertThat(sidecars).as("copies left in the tier").isNotEmpty();
        // Only a crash leaves data without sidecar (LocalTier's invariants); these processes all ended cleanly.
        assertThat(filesUnder(tierDir.resolve("v1/objects")))
                .filteredOn(f -> !f.getFileName().toString().endsWith(".meta"))
                .as("data files without sidecar").allMatch(f -> Files.exists(f.resolveSibling(f.getFileName() + ".meta")));
        for (Path meta : sidecars) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(meta, StandardCharsets.UTF_8)) {
                p.load(r);
            }
            Path data = meta.resolveSibling(meta.getFileName().toString().replace(".meta", ""));
            String key = p.getProperty("key");
            WorkloadFile file = WorkloadFile.parse(key.substring(key.lastIndexOf('/') + 1))
                    .orElseThrow(() -> new AssertionError("a copy of an unknown object: " + p));
            assertThat(data).as("data of %s", meta).exists();
            assertThat(Files.size(data)).as("size of %s", data).isEqualTo(Long.parseLong(p.getProperty("size")));
            assertThat(Crc32c.ofFile(data)).as("CRC32C of %s", data).isEqualTo(Crc32c.fromHex(p.getProperty("crc32c")));
            assertThat(Files.readAllBytes(data)).as("bytes of the copy of %s", key).isEqualTo(file.data());
            assertThat(p.getProperty("store")).as("the S3 service in the sidecar of %s", key)
                    .isEqualTo(S3TieredRuntime.storeOf(java.net.URI.create(S3.server().endpoint())));
            assertThat(fresh.getVerified(p.getProperty("bucket"), key)).as("the tier's own check of %s", key).isPresent();
        }
    }

    private static long total(List<Map<String, Long>> summaries, String key) {
        return summaries.stream().mapToLong(s -> s.getOrDefault(key, 0L)).sum();
    }

    // ------------------------------------------------------------------ files on disk

    private List<Path> stagingFiles() {
        return filesUnder(tierDir.resolve("v1/staging"));
    }

    /**
     * Bytes of every file in the tier's {@code objects/}, then {@code staging/}: a file renamed
     * from staging into objects during the walk is missed rather than counted twice, so a sample
     * never exceeds what was on disk.
     */
    static long bytesOnDisk(Path tierDir) {
        long bytes = 0;
        for (Path f : filesUnder(tierDir.resolve("v1/objects"))) {
            bytes += sizeOrZero(f);
        }
        for (Path f : filesUnder(tierDir.resolve("v1/staging"))) {
            bytes += sizeOrZero(f);
        }
        return bytes;
    }

    /** Regular files below {@code dir}, tolerating files that vanish meanwhile (evicted, renamed). */
    private static List<Path> filesUnder(Path dir) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path e : entries) {
                if (Files.isDirectory(e)) {
                    files.addAll(filesUnder(e));
                } else if (Files.isRegularFile(e)) {
                    files.add(e);
                }
            }
        } catch (NoSuchFileException | DirectoryIteratorException gone) {
            // removed meanwhile
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    private static long sizeOrZero(Path f) {
        try {
            return Files.size(f);
        } catch (IOException gone) {
            return 0;
        }
    }

    /** Measures the tier's bytes on disk every few milliseconds while the processes run. */
    private static final class DiskSampler {
        private final Path tierDir;
        private final AtomicLong peak = new AtomicLong();
        private final Thread thread;
        private volatile boolean running = true;

        DiskSampler(Path tierDir) {
            this.tierDir = tierDir;
            this.thread = new Thread(this::run, "tier-disk-sampler");
            thread.setDaemon(true);
        }

        void start() {
            thread.start();
        }

        private void run() {
            while (running) {
                peak.accumulateAndGet(bytesOnDisk(tierDir), Math::max);
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join(10_000);
        }

        long peak() {
            return peak.get();
        }
    }

    // ------------------------------------------------------------------ the TaskManager processes

    private Child start(int index, String dir) throws IOException {
        Configuration conf = flinkConfig(S3.server(), tierDir);
        conf.setString(S3TieredOptions.LOCAL_MAX_BYTES.key(), BUDGET + "b");
        conf.setString(S3TieredOptions.TRANSFER_THREADS.key(), "4");
        Properties p = new Properties();
        p.setProperty("bucket", S3.server().bucket());
        p.setProperty("dir", dir);
        p.setProperty("process", Integer.toString(index));
        p.setProperty("rounds", Integer.toString(ROUNDS));
        p.setProperty("filesPerRound", Integer.toString(FILES_PER_ROUND));
        p.setProperty("restoreBatch", Integer.toString(RESTORE_BATCH));
        p.setProperty("readsPerRound", Integer.toString(READS_PER_ROUND));
        p.setProperty("restoreDir", work.resolve("restore-" + index).toString());
        conf.toMap().forEach((k, v) -> p.setProperty("conf." + k, v));
        Path props = work.resolve("workload-" + index + ".properties");
        try (Writer w = Files.newBufferedWriter(props, StandardCharsets.UTF_8)) {
            p.store(w, null); // holds the test server's made-up credentials: in the test's temp dir
        }
        List<String> cmd = List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"),
                TierWorkload.class.getName(), props.toString());
        return new Child(index, new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    /** One TaskManager's JVM, its whole output kept (for the summary, the failures, and reports). */
    private static final class Child implements AutoCloseable {
        private final int index;
        private final Process process;
        private final Thread reader;
        private final List<String> lines = new ArrayList<>();
        private volatile boolean ready;

        Child(int index, Process process) {
            this.index = index;
            this.process = process;
            this.reader = new Thread(this::readOutput, "tier-workload-" + index + "-output");
            reader.setDaemon(true);
            reader.start();
        }

        private void readOutput() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (this) {
                        lines.add(line);
                    }
                    if (line.equals(TierWorkload.READY)) {
                        ready = true;
                    }
                }
            } catch (IOException ended) {
                // the stream ends with the process
            }
        }

        void awaitReady(long deadline) throws InterruptedException {
            while (!ready) {
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    fail("Process %d did not get ready (%s). Its output:%n%s", index,
                            process.isAlive() ? "still starting" : "exited with " + process.exitValue(), output());
                }
                Thread.sleep(10);
            }
        }

        void go() {
            try {
                OutputStream in = process.getOutputStream();
                in.write("go\n".getBytes(StandardCharsets.UTF_8));
                in.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void awaitExit(long deadline) throws Exception {
            long left = deadline - System.nanoTime();
            if (!process.waitFor(Math.max(left, 0), TimeUnit.NANOSECONDS)) {
                // Stuck, maybe on the tier's lock: have the JVM print its threads before killing it.
                try {
                    new ProcessBuilder("kill", "-QUIT", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
                    Thread.sleep(2000);
                } catch (IOException noKill) {
                    // no thread dump on this platform
                }
                fail("Process %d did not finish within %s. Its output, with a thread dump:%n%s", index, TIMEOUT, output());
            }
            reader.join(10_000); // its last lines: the failures and the summary
        }

        int exitCode() {
            return process.exitValue();
        }

        synchronized List<String> failures() {
            return lines.stream().filter(l -> l.startsWith(TierWorkload.FAILURE)).toList();
        }

        synchronized Map<String, Long> summary() {
            String line = lines.stream().filter(l -> l.startsWith(TierWorkload.SUMMARY)).findFirst()
                    .orElseThrow(() -> new AssertionError("no summary from process " + index + ":\n" + output()));
            Map<String, Long> summary = new HashMap<>();
            Arrays.stream(line.substring(TierWorkload.SUMMARY.length()).split(" ")).map(kv -> kv.split("=", 2))
                    .forEach(kv -> summary.put(kv[0], Long.parseLong(kv[1])));
            return summary;
        }

        /** Restores whose copy was evicted or replaced between the tier's check and the link (BatchDownload logs it). */
        synchronized long evictedUnderReader() {
            return lines.stream().filter(l -> l.contains("after its check; downloading it")).count();
        }

        synchronized String output() {
            return String.join(System.lineSeparator(), lines.subList(Math.max(0, lines.size() - 200), lines.size()));
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
