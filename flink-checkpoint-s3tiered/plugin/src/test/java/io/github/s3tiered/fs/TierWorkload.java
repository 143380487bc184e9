package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.S3Statistics;
import io.github.s3tiered.tier.IntactCopy;
import io.github.s3tiered.tier.TierStatistics;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * One TaskManager of {@link SharedTierProcessesITCase}, in its own JVM: its own file system on the
 * tier directory it shares with the others. Each round it writes a few files, restores a batch of
 * the files all processes wrote so far into a private directory (as RocksDB restores: {@code
 * copyFiles} in one round, its two steps held apart in the next, see {@link #slowRestore}; the
 * processes alternate out of step, so that while one holds its steps apart the others write, which
 * is what evicts under it: in step, they would all wait at once and nothing would change), and
 * reads a few through {@code open()}, checking every byte against what the file's name says it
 * holds.
 *
 * <p>One argument, a properties file: {@code bucket}, {@code dir} (the {@code s3tiered://} directory
 * all processes write into), {@code process}, {@code rounds}, {@code filesPerRound}, {@code
 * restoreBatch}, {@code readsPerRound}, {@code restoreDir}, and the Flink configuration as {@code
 * conf.<key>}. Prints {@link #READY}, waits for a line on stdin (so all processes start together),
 * works, prints one {@link #FAILURE} line per failure and a {@link #SUMMARY} line of
 * {@code key=value} counters; exits 1 on any failure.
 */
public final class TierWorkload {

    static final String READY = "READY";
    static final String SUMMARY = "SUMMARY ";
    static final String FAILURE = "FAILURE ";
    private static final long SLOW_RESTORE_MAX_PAUSE_MILLIS = 5000;

    private final S3TieredFileSystem fs;
    private final Path dir;
    private final int process;
    private final java.nio.file.Path restoreDir;
    private final Random random;
    private final Map<String, Long> counts = new LinkedHashMap<>();
    private final List<String> failures = new ArrayList<>();

    private TierWorkload(S3TieredFileSystem fs, Path dir, int process, java.nio.file.Path restoreDir) {
        this.fs = fs;
        this.dir = dir;
        this.process = process;
        this.restoreDir = restoreDir;
        this.random = new Random(process * 7919L + 1);
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(java.nio.file.Path.of(args[0]))) {
            p.load(r);
        }
        Configuration conf = new Configuration();
        p.stringPropertyNames().stream().filter(n -> n.startsWith("conf."))
                .forEach(n -> conf.setString(n.substring("conf.".length()), p.getProperty(n)));
        S3TieredFileSystem fs = S3TieredTestSupport.newFileSystem(conf, p.getProperty("bucket"));
        TierWorkload w = new TierWorkload(fs, new Path(p.getProperty("dir")), intOf(p, "process"),
                java.nio.file.Path.of(p.getProperty("restoreDir")));

        System.out.println(READY);
        System.out.flush();
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();

        int rounds = intOf(p, "rounds");
        for (int round = 0; round < rounds; round++) {
            w.round(round, intOf(p, "filesPerRound"), intOf(p, "restoreBatch"), intOf(p, "readsPerRound"));
        }
        w.report();
        System.exit(w.failures.isEmpty() ? 0 : 1);
    }

    private void round(int round, int files, int restoreBatch, int reads) {
        for (int f = 0; f < files; f++) {
            WorkloadFile file = new WorkloadFile(process, round, f);
            try {
                S3TieredTestSupport.write(fs, file.path(dir), file.data());
                count("written", 1);
                count("bytesWritten", file.size());
            } catch (Exception e) {
                fail("write " + file.name(), e);
            }
        }
        List<WorkloadFile> all;
        try {
            all = listAll();
        } catch (Exception e) {
            fail("list " + dir, e);
            return;
        }
        restore(round, pickForRestore(all, round, restoreBatch));
        for (WorkloadFile file : pick(all, reads)) {
            try {
                check("read", file, S3TieredTestSupport.readAll(fs, file.path(dir)));
                count("reads", 1);
            } catch (Exception e) {
                fail("read " + file.name(), e);
            }
        }
    }

    /** Every file any process completed so far: S3 lists an object only once it is whole. */
    private List<WorkloadFile> listAll() throws IOException {
        List<WorkloadFile> all = new ArrayList<>();
        for (FileStatus s : fs.listStatus(dir)) {
            WorkloadFile.parse(s.getPath().getName()).ifPresent(all::add);
        }
        return all;
    }

    /**
     * Half of the batch among this round's files (likely in the tier, as a restore right after a
     * checkpoint finds them), the rest among all: old ones were likely evicted.
     */
    private List<WorkloadFile> pickForRestore(List<WorkloadFile> all, int round, int n) {
        List<WorkloadFile> recent = all.stream().filter(f -> f.round() == round).toList();
        List<WorkloadFile> batch = new ArrayList<>(pick(recent, (n + 1) / 2));
        List<WorkloadFile> rest = new ArrayList<>(all);
        rest.removeAll(batch);
        batch.addAll(pick(rest, n - batch.size()));
        return batch;
    }

    private List<WorkloadFile> pick(List<WorkloadFile> all, int n) {
        List<WorkloadFile> shuffled = new ArrayList<>(all);
        Collections.shuffle(shuffled, random);
        return shuffled.subList(0, Math.min(n, shuffled.size()));
    }

    private void restore(int round, List<WorkloadFile> batch) {
        java.nio.file.Path target = restoreDir.resolve("r" + round);
        List<CopyRequest> requests = batch.stream()
                .map(f -> CopyRequest.of(f.path(dir), new Path(target.resolve(f.name()).toUri()), f.size()))
                .collect(Collectors.toList());
        try {
            if ((round + process) % 2 == 0) {
                try (CloseableRegistry registry = new CloseableRegistry()) {
                    fs.copyFiles(requests, registry);
                }
            } else {
                slowRestore(requests);
            }
            count("restores", 1);
            for (WorkloadFile f : batch) {
                java.nio.file.Path restored = target.resolve(f.name());
                check("restore", f, Files.readAllBytes(restored));
                Files.delete(restored); // a hard link to the tier copy, or a download: keep the disk small
                count("restoredFiles", 1);
            }
        } catch (Exception e) {
            fail("restore of " + batch.stream().map(WorkloadFile::name).toList(), e);
        }
    }

    /**
     * {@code copyFiles} in its two steps, the tier's answer and the transfers, with a pause between
     * them as a busy TaskManager has: until the other processes' commits evicted (or replaced) one
     * of the copies the tier named, or {@link #SLOW_RESTORE_MAX_PAUSE_MILLIS}. Each copy that
     * changed meanwhile must be downloaded, not linked: checked here by the bytes linked.
     */
    private void slowRestore(List<CopyRequest> requests) throws IOException, InterruptedException {
        BatchDownload batch = new BatchDownload(fs.runtime());
        BatchDownload.Plan plan = batch.plan(requests.stream().map(r -> new BatchDownload.FileCopy(r.getSource(), r.getDestination())).toList(), fs::objectPathOf);
        List<IntactCopy> named = plan.transfers().stream().map(BatchDownload.Transfer::copy).filter(c -> c != null).toList();
        long deadline = System.nanoTime() + SLOW_RESTORE_MAX_PAUSE_MILLIS * 1_000_000;
        while (!named.isEmpty() && changed(named).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        List<IntactCopy> changed = changed(named); // no copy comes back once changed: a new file is a new identity
        long linkedBefore = fs.s3Statistics().restoreBytesFromLocalTier.sum();
        batch.execute(plan, new Cancellation(), new ArrayList<>());
        long linked = fs.s3Statistics().restoreBytesFromLocalTier.sum() - linkedBefore;
        long unchangedBytes = sizes(named) - sizes(changed);
        if (linked > unchangedBytes) {
            failures.add("slow restore: linked " + linked + " bytes from the tier, but only " + unchangedBytes
                    + " bytes of the copies it named were unchanged at the link (" + changed.size() + " changed)");
        }
        count("copiesChangedUnderReader", changed.size());
    }

    private static List<IntactCopy> changed(List<IntactCopy> copies) throws IOException {
        List<IntactCopy> changed = new ArrayList<>();
        for (IntactCopy c : copies) {
            if (!c.isTheCheckedFile(c.entry().data())) {
                changed.add(c);
            }
        }
        return changed;
    }

    private static long sizes(List<IntactCopy> copies) {
        return copies.stream().mapToLong(c -> c.entry().size()).sum();
    }

    private void check(String how, WorkloadFile file, byte[] actual) {
        byte[] expected = file.data();
        if (actual.length != expected.length) {
            failures.add(how + " " + file.name() + ": " + actual.length + " bytes instead of " + expected.length);
            return;
        }
        for (int i = 0; i < expected.length; i++) {
            if (actual[i] != expected[i]) {
                failures.add(how + " " + file.name() + ": wrong byte at offset " + i);
                return;
            }
        }
    }

    private void count(String name, long n) {
        counts.merge(name, n, Long::sum);
    }

    private void fail(String what, Exception e) {
        failures.add(what + ": " + e);
    }

    private void report() {
        S3Statistics s3 = fs.s3Statistics();
        TierStatistics tier = fs.localTier().statistics();
        count("restoreBytesFromTier", s3.restoreBytesFromLocalTier.sum());
        count("restoreBytesFromS3", s3.restoreBytesFromS3.sum());
        count("bytesServedFromTier", s3.bytesServedFromLocalTier.sum());
        count("bytesDownloaded", s3.bytesDownloaded.sum());
        count("tierHits", tier.hits.sum());
        count("tierMisses", tier.misses.sum());
        count("corruptionsDetected", tier.corruptionsDetected.sum());
        count("evictions", tier.evictions.sum());
        count("failures", failures.size());
        failures.forEach(f -> System.out.println(FAILURE + f.replace('\n', ' ')));
        System.out.println(SUMMARY + "process=" + process + " " + counts.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" ")));
        System.out.flush();
    }

    private static int intOf(Properties p, String name) {
        return Integer.parseInt(p.getProperty(name));
    }

    /**
     * A file of the workload: its name says who wrote it in which round, and its size and bytes
     * follow from that, so any process (and the parent) can check a copy of it.
     */
    record WorkloadFile(int process, int round, int file) {
        static final int MIN_SIZE = 200 * 1024;
        static final int MAX_SIZE = 2 * 1024 * 1024;
        private static final Pattern NAME = Pattern.compile("p(\\d+)-r(\\d+)-f(\\d+)");

        static Optional<WorkloadFile> parse(String name) {
            Matcher m = NAME.matcher(name);
            return m.matches()
                    ? Optional.of(new WorkloadFile(
                            Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))))
                    : Optional.empty();
        }

        String name() {
            return "p" + process + "-r" + round + "-f" + file;
        }

        Path path(Path dir) {
            return new Path(dir, name());
        }

        private long seed() {
            return ((long) process << 40) ^ ((long) round << 20) ^ file ^ 0x5DEECE66DL;
        }

        int size() {
            return MIN_SIZE + new Random(seed()).nextInt(MAX_SIZE - MIN_SIZE + 1);
        }

        byte[] data() {
            return S3TieredTestSupport.randomBytes(size(), ~seed());
        }
    }
}
