package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.inBackground;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;
import io.github.s3tiered.s3.S3Statistics;

import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The restore path and reads under faults, driven precisely through the in-memory object store:
 * local copies that vanish or change between the tier's answer and the link, and cancellation
 * (Flink closing its {@code CloseableRegistry} from another thread) in the middle of a batch
 * download and of a read.
 */
class RestoreFaultTest {

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path restoreDir;

    private final S3Statistics stats = new S3Statistics();
    private final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    private S3TieredFileSystem fs;

    private S3TieredFileSystem fileSystem(Map<String, String> overrides) throws IOException {
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, overrides));
        return fs;
    }

    @AfterEach
    void closeRuntime() {
        if (fs != null) {
            fs.runtime().close();
        }
    }

    private void write(String key, byte[] data) throws IOException {
        try (FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE)) {
            out.write(data);
        }
    }

    private List<CopyRequest> requests(String... keys) {
        List<CopyRequest> r = new ArrayList<>();
        for (String k : keys) {
            r.add(CopyRequest.of(path(k), new Path(restoreDir.resolve(k.replace('/', '_')).toUri()), -1));
        }
        return r;
    }

    private byte[] restored(String key) throws IOException {
        return Files.readAllBytes(restoreDir.resolve(key.replace('/', '_')));
    }

    private List<String> keysRead() {
        return store.calls("GetObject").stream().map(InMemoryObjectStore.Call::key).distinct().sorted().toList();
    }

    private long stagingFiles() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            return files.count();
        }
    }

    @Test
    void aTierFailureAfterTheRestoredFileIsLinkedNeitherDownloadsAgainNorRewritesTheCopy() throws Exception {
        fileSystem(Map.of());
        byte[] a = bytes(300_000, 7);
        write("cp/a", a);
        fs.runtime().tier().drop(BUCKET, "cp/a"); // a host whose tier lacks it: the restore downloads it
        int getsBefore = store.calls("GetObject").size();
        // the download is linked into place, then its commit into the tier fails with an unchecked
        // exception once the copy is complete (as an eviction scan's iteration may)
        io.github.s3tiered.tier.TierSteps.listen(step -> {
            if (step.equals(io.github.s3tiered.tier.TierSteps.COMMIT_SIDECAR_RENAMED)) {
                throw new java.nio.file.DirectoryIteratorException(new IOException("injected: the tier's directory is unreadable"));
            }
        });
        try {
            fs.copyFiles(requests("cp/a"), new CloseableRegistry());
        } finally {
            io.github.s3tiered.tier.TierSteps.listen(step -> {});
        }

        assertThat(restored("cp/a")).isEqualTo(a);
        assertThat(store.calls("GetObject")).as("downloaded once (two 256 KiB ranges): not again over the file linked to"
                + " the tier's copy").hasSize(getsBefore + 2);
        java.nio.file.Path copy = fs.runtime().tier().getVerified(BUCKET, "cp/a").orElseThrow().data();
        assertThat(Files.readAllBytes(copy)).isEqualTo(a);
    }

    @Test
    void aLocalCopyThatVanishesOrChangesAfterTheTiersAnswerIsDownloadedInstead() throws Exception {
        fileSystem(Map.of());
        byte[] a = bytes(300_000, 1);
        byte[] b = bytes(200_000, 2);
        byte[] c = bytes(100_000, 3);
        write("cp/a", a);
        write("cp/b", b);
        write("cp/c", c);

        BatchDownload batch = new BatchDownload(fs.runtime());
        BatchDownload.Plan plan = batch.plan(requests("cp/a", "cp/b", "cp/c").stream().map(r -> new BatchDownload.FileCopy(r.getSource(), r.getDestination())).toList(), fs::objectPathOf);
        assertThat(plan.fromTier()).as("the tier holds all three intact").isEqualTo(3);

        // between the answer and the link: another process evicts a's copy and replaces b's
        // (same bytes, another file), as a TaskManager sharing the directory may
        Files.delete(plan.transfers().get(0).copy().entry().data());
        java.nio.file.Path bCopy = plan.transfers().get(1).copy().entry().data();
        java.nio.file.Path replacement = Files.createTempFile(tierDir, "replacement", ".tmp");
        Files.write(replacement, b);
        Files.move(replacement, bCopy, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);

        batch.execute(plan, new Cancellation(), new ArrayList<>());

        assertThat(restored("cp/a")).isEqualTo(a);
        assertThat(restored("cp/b")).isEqualTo(b);
        assertThat(restored("cp/c")).isEqualTo(c);
        assertThat(keysRead()).as("downloaded: the vanished and the changed copy, not the intact one")
                .containsExactly("cp/a", "cp/b");
        assertThat(stats.restoreBytesFromS3.sum()).isEqualTo(a.length + b.length);
        assertThat(stats.restoreBytesFromLocalTier.sum()).isEqualTo(c.length);
    }

    @Test
    void theBatchAsksTheTierOnceAndDownloadsOnlyWhatItLacks() throws Exception {
        fileSystem(Map.of());
        byte[] a = bytes(300_000, 4);
        write("cp/a", a);
        byte[] foreign = bytes(500_000, 5);
        store.putRaw(BUCKET, "cp/foreign", foreign, InMemoryObjectStore.crc32c(foreign));

        fs.copyFiles(requests("cp/a", "cp/foreign"), new CloseableRegistry());

        assertThat(restored("cp/a")).isEqualTo(a);
        assertThat(restored("cp/foreign")).isEqualTo(foreign);
        assertThat(keysRead()).containsExactly("cp/foreign");
        assertThat(fs.localTier().getVerified(BUCKET, "cp/foreign")).as("kept for next time").isPresent();
    }

    @Test
    void aDownloadAsksNoHeadFirst() throws Exception {
        fileSystem(Map.of());
        byte[] data = bytes(700_000, 6); // three ranges of 256 KiB
        store.putRaw(BUCKET, "cp/foreign", data, InMemoryObjectStore.crc32c(data));

        fs.copyFiles(requests("cp/foreign"), new CloseableRegistry());

        assertThat(restored("cp/foreign")).isEqualTo(data);
        assertThat(store.calls("HeadObject")).as("the first range's GET told the size and the CRC32C").isEmpty();
        assertThat(store.calls("GetObject")).hasSize(3);
        assertThat(fs.localTier().getVerified(BUCKET, "cp/foreign")).as("kept for next time").isPresent();
    }

    @Test
    void aBatchOfMoreFilesThanConnectionsDoesNotStarveThePool() throws Exception {
        // 4 connections, 16 transfer threads, 40 files of two ranges: an opened first range must be
        // read by the task that opened it, not wait in the queue holding its connection
        store.limitOpenBodies(4);
        fileSystem(Map.of());
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            byte[] data = bytes(300_000, 100 + i);
            store.putRaw(BUCKET, "cp/f" + i, data, InMemoryObjectStore.crc32c(data));
            keys.add("cp/f" + i);
        }

        inBackground(() -> fs.copyFiles(requests(keys.toArray(new String[0])), new CloseableRegistry()))
                .get(60, TimeUnit.SECONDS);

        for (int i = 0; i < 40; i++) {
            assertThat(restored("cp/f" + i)).isEqualTo(bytes(300_000, 100 + i));
        }
        assertThat(store.calls("GetObject")).as("two ranges a file, no retry").hasSize(80);
    }

    @Test
    void anObjectReplacedDuringItsDownloadFailsTheRestoreAndLeavesNothing() throws Exception {
        fileSystem(Map.of());
        byte[] before = bytes(700_000, 7);
        byte[] after = bytes(700_000, 8); // same size, other bytes
        replaceDuringDownload("cp/replaced", before, InMemoryObjectStore.crc32c(before), after, InMemoryObjectStore.crc32c(after));
    }

    @Test
    void anObjectWithoutRecordedCrcReplacedDuringItsDownloadFailsTheRestore() throws Exception {
        // written by another tool: no CRC32C to compare at the end, so only the ETag can tell
        fileSystem(Map.of());
        replaceDuringDownload("cp/foreign", bytes(700_000, 10), null, bytes(700_000, 11), null);
    }

    /** Replaces the object while the ranges after its first wait, and expects the restore to fail cleanly. */
    private void replaceDuringDownload(String key, byte[] before, Integer crcBefore, byte[] after, Integer crcAfter)
            throws Exception {
        store.putRaw(BUCKET, key, before, crcBefore);
        store.inject(FaultRule.on("GetObject").keys(key).attempts(2, 99).delay(Duration.ofMillis(1500)));
        CompletableFuture<Void> copying = inBackground(() -> fs.copyFiles(requests(key), new CloseableRegistry()));
        store.awaitCall(c -> c.key().equals(key) && c.attempt() == 2, 1, Duration.ofSeconds(30));
        store.putRaw(BUCKET, key, after, crcAfter);

        assertThatThrownBy(() -> copying.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .rootCause().hasMessageContaining("s3://" + BUCKET + "/" + key + " changed during its download");
        assertThat(Files.exists(restoreDir.resolve(key.replace('/', '_')))).as("no file mixing both objects").isFalse();
        assertThat(stagingFiles()).as("no staging file left").isZero();
        assertThat(fs.localTier().getVerified(BUCKET, key)).isEmpty();
    }

    @Test
    void aReadReopenedAfterABrokenConnectionDoesNotReadOnInAReplacedObject() throws Exception {
        fileSystem(Map.of());
        byte[] before = bytes(300_000, 12);
        store.putRaw(BUCKET, "cp/read", before, null); // another tool's object: no CRC32C to check at the end
        store.inject(FaultRule.on("GetObject").keys("cp/read").attempt(1).resetAfter(100_000));
        try (FSDataInputStream in = fs.open(path("cp/read"))) {
            byte[] head = new byte[50_000];
            assertThat(in.read(head, 0, head.length)).isEqualTo(head.length);
            store.putRaw(BUCKET, "cp/read", bytes(300_000, 13), null);

            byte[] rest = new byte[250_000];
            assertThatThrownBy(() -> {
                int off = 0;
                while (off < rest.length) {
                    off += in.read(rest, off, rest.length - off);
                }
            }).hasMessageContaining("s3://" + BUCKET + "/cp/read changed while it was read");
        }
    }

    @Test
    void aBodyThatKeepsBreakingFailsTheRestoreWithoutADownloadIntoPlaceToo() throws Exception {
        // the network, not the tier's disk: downloading straight into place would only repeat it
        fileSystem(Map.of());
        byte[] data = bytes(300_000, 14);
        store.putRaw(BUCKET, "cp/broken", data, InMemoryObjectStore.crc32c(data));
        store.inject(FaultRule.on("GetObject").keys("cp/broken").resetAfter(0));

        assertThatThrownBy(() -> fs.copyFiles(requests("cp/broken"), new CloseableRegistry()))
                .hasMessageContaining("cp/broken").hasStackTraceContaining("times in a row");

        long ranges = (data.length + fs.runtime().config().downloadPartSize() - 1) / fs.runtime().config().downloadPartSize();
        int perRange = 1 + S3TieredOptions.READ_REOPEN_ATTEMPTS.defaultValue();
        assertThat(store.calls("GetObject")).filteredOn(c -> c.key().equals("cp/broken"))
                .as("a range reopened as often as allowed (the other stopped with it), in one download")
                .hasSizeBetween(perRange, (int) ranges * perRange);
        assertThat(Files.exists(restoreDir.resolve("cp_broken"))).isFalse();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void anEmptyObjectIsRestoredThroughAHead() throws Exception {
        fileSystem(Map.of());
        store.putRaw(BUCKET, "cp/empty", new byte[0], InMemoryObjectStore.crc32c(new byte[0]));

        fs.copyFiles(requests("cp/empty"), new CloseableRegistry());

        assertThat(restored("cp/empty")).isEmpty();
        assertThat(store.calls("GetObject")).as("answered 416: no range of an empty object").hasSize(1);
        assertThat(store.calls("HeadObject")).hasSize(1);
    }

    @Test
    void aMissingOrCorruptObjectFailsTheRestoreNamingIt() throws Exception {
        fileSystem(Map.of());
        assertThatThrownBy(() -> fs.copyFiles(requests("cp/missing"), new CloseableRegistry()))
                .hasMessageContaining("No such file: s3://" + BUCKET + "/cp/missing");

        byte[] data = bytes(300_000, 9);
        store.putRaw(BUCKET, "cp/corrupt", data, InMemoryObjectStore.crc32c(data) ^ 1); // not the CRC32C recorded
        assertThatThrownBy(() -> fs.copyFiles(requests("cp/corrupt"), new CloseableRegistry()))
                .hasMessageContaining("CRC32C mismatch downloading").hasMessageContaining("cp/corrupt");
        // bytes altered on the way would differ next time: downloaded again, as often as a read reopens
        long rangesPerDownload = (data.length + fs.runtime().config().downloadPartSize() - 1)
                / fs.runtime().config().downloadPartSize();
        assertThat(store.calls("GetObject")).filteredOn(c -> c.key().equals("cp/corrupt"))
                .hasSize((int) rangesPerDownload * (1 + S3TieredOptions.READ_REOPEN_ATTEMPTS.defaultValue()));
        assertThat(fs.s3Statistics().corruptDownloadsRepeated.sum())
                .isEqualTo((long) S3TieredOptions.READ_REOPEN_ATTEMPTS.defaultValue());
        assertThat(Files.exists(restoreDir.resolve("cp_corrupt"))).isFalse();
        assertThat(stagingFiles()).isZero();
    }

    /**
     * One file of a restore fails for good while S3 throttles the others: the restore fails at
     * once, naming it, and the other transfers stop retrying instead of each spending its own
     * throttle budget (minutes at S3's pace) on a restore that can no longer succeed.
     */
    @Test
    void theFirstFileThatFailsForGoodStopsTheOtherTransfersOfTheRestore() throws Exception {
        fileSystem(Map.of(S3TieredOptions.THROTTLE_MAX_RETRIES.key(), "20",
                S3TieredOptions.THROTTLE_BASE_DELAY.key(), "200ms", S3TieredOptions.THROTTLE_MAX_DELAY.key(), "1s"));
        List<String> keys = new ArrayList<>(List.of("cp/missing"));
        for (int i = 0; i < 8; i++) {
            byte[] data = bytes(100_000, 200 + i);
            store.putRaw(BUCKET, "cp/throttled-" + i, data, InMemoryObjectStore.crc32c(data));
            keys.add("cp/throttled-" + i);
        }
        store.inject(FaultRule.on("GetObject").keys("cp/throttled-.*").slowDown());

        assertThatThrownBy(() -> inBackground(() -> fs.copyFiles(requests(keys.toArray(new String[0])), new CloseableRegistry()))
                .get(60, TimeUnit.SECONDS))
                .hasMessageContaining("No such file: s3://" + BUCKET + "/cp/missing");

        assertThat(store.calls("GetObject")).filteredOn(c -> c.key().startsWith("cp/throttled-"))
                .as("the throttled transfers stopped retrying (each alone would make 21 attempts)").hasSizeLessThan(8 * 4);
        for (int i = 0; i < 8; i++) {
            assertThat(Files.exists(restoreDir.resolve("cp_throttled-" + i))).isFalse();
        }
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aRangeThatFailsForGoodStopsTheOtherRangesOfItsFile() throws Exception {
        fileSystem(Map.of(S3TieredOptions.TRANSFER_THREADS.key(), "2", S3TieredOptions.THROTTLE_MAX_RETRIES.key(), "2"));
        byte[] data = bytes(20 * 256 * 1024, 31); // 20 ranges of 256 KiB
        store.putRaw(BUCKET, "cp/big", data, InMemoryObjectStore.crc32c(data));
        // the first range's GET answers (and tells the size); every later one is throttled for good
        store.inject(FaultRule.on("GetObject").keys("cp/big").attempts(2, Integer.MAX_VALUE).slowDown());

        assertThatThrownBy(() -> inBackground(() -> fs.copyFiles(requests("cp/big"), new CloseableRegistry()))
                .get(60, TimeUnit.SECONDS))
                .hasMessageContaining("cp/big").hasMessageContaining("SlowDown");

        S3TieredTestSupport.awaitTransfersEnded(fs, java.time.Duration.ofSeconds(10));
        assertThat(store.calls("GetObject")).as("the other ranges stopped (each alone makes 3 attempts: 1 + 19 * 3)")
                .hasSizeLessThan(20);
        assertThat(Files.exists(restoreDir.resolve("cp_big"))).isFalse();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aCorruptDownloadStraightIntoPlaceIsRepeatedToo() throws Exception {
        fileSystem(Map.of());
        byte[] data = bytes(300_000, 5);
        store.putRaw(BUCKET, "cp/in-place", data, InMemoryObjectStore.crc32c(data) ^ 1); // not the CRC32C recorded
        // the tier's disk fails: its staging directory takes no file (a directory of /proc, which
        // refuses creation even to root), so the restore downloads straight into place
        java.nio.file.Path refusing = java.nio.file.Path.of("/proc/self");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(refusing), "needs Linux's /proc");
        java.nio.file.Path staging = tierDir.resolve("v1/staging");
        try (Stream<java.nio.file.Path> files = Files.list(staging)) {
            for (java.nio.file.Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(staging);
        Files.createSymbolicLink(staging, refusing);

        assertThatThrownBy(() -> fs.copyFiles(requests("cp/in-place"), new CloseableRegistry()))
                .hasMessageContaining("CRC32C mismatch downloading").hasMessageContaining("cp/in-place");
        int attempts = S3TieredOptions.READ_REOPEN_ATTEMPTS.defaultValue();
        assertThat(fs.s3Statistics().corruptDownloadsRepeated.sum()).as("downloads straight into place repeated")
                .isEqualTo((long) attempts);
        long rangesPerDownload = (data.length + fs.runtime().config().downloadPartSize() - 1)
                / fs.runtime().config().downloadPartSize();
        assertThat(store.calls("GetObject")).as("the staging attempt's GET, then each download's ranges")
                .filteredOn(c -> c.key().equals("cp/in-place")).hasSizeGreaterThan((int) rangesPerDownload * (1 + attempts));
        assertThat(Files.exists(restoreDir.resolve("cp_in-place"))).isFalse();
    }

    @Test
    void interruptingTheThreadOfABatchDownloadStopsItToo() throws Exception {
        fileSystem(Map.of());
        for (String k : List.of("cp/a", "cp/b")) {
            byte[] data = bytes(1_000_000, k.hashCode());
            store.putRaw(BUCKET, k, data, InMemoryObjectStore.crc32c(data));
        }
        // a range of b stalls in its body as on a dead connection (60 s, longer than the test)
        store.inject(FaultRule.on("GetObject").keys("cp/b").attempt(2).stallAfter(100, Duration.ofSeconds(60)));
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread restoring = new Thread(() -> {
            try {
                fs.copyFiles(requests("cp/a", "cp/b"), new CloseableRegistry()); // a registry nobody closes
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        restoring.start();
        store.awaitCall(c -> c.key().equals("cp/b") && c.attempt() == 2, 1, Duration.ofSeconds(30));
        restoring.interrupt(); // a caller cancelling by interrupt alone

        assertThat(outcome.get(20, TimeUnit.SECONDS)).as("the stalled body is aborted, not waited for")
                .isInstanceOf(java.io.InterruptedIOException.class);
        S3TieredTestSupport.awaitTransfersEnded(fs, java.time.Duration.ofSeconds(10));
        assertThat(stagingFiles()).as("no staging file left").isZero();
    }

    @Test
    void closingTheRegistryInTheMiddleOfABatchDownloadStopsItAtOnce() throws Exception {
        fileSystem(Map.of());
        for (String k : List.of("cp/a", "cp/b", "cp/c")) {
            byte[] data = bytes(1_000_000, k.hashCode());
            store.putRaw(BUCKET, k, data, InMemoryObjectStore.crc32c(data));
        }
        // a range of b stalls in its body as on a dead connection (60 s, longer than the test)
        store.inject(FaultRule.on("GetObject").keys("cp/b").attempt(2).stallAfter(100, Duration.ofSeconds(60)));
        CloseableRegistry registry = new CloseableRegistry();
        CompletableFuture<Void> copying = inBackground(() -> fs.copyFiles(requests("cp/a", "cp/b", "cp/c"), registry));
        store.awaitCall(c -> c.key().equals("cp/b") && c.attempt() == 2, 1, Duration.ofSeconds(30));
        Thread.sleep(100);
        registry.close(); // Flink cancelling the restore
        long cancelledAt = System.nanoTime();

        assertThatThrownBy(() -> copying.get(20, TimeUnit.SECONDS))
                .as("the stalled body is aborted, not waited for").isInstanceOf(ExecutionException.class)
                .rootCause().isInstanceOfAny(Cancellation.CancelledException.class, java.util.concurrent.CancellationException.class);
        // the transfers still running settle: no fixed sleep, which a loaded host may outrun
        S3TieredTestSupport.awaitTransfersEnded(fs, java.time.Duration.ofSeconds(10));
        assertThat(store.callsStartedAfter(cancelledAt)).as("no request after the close").isEmpty();
        assertThat(stagingFiles()).as("no staging file left").isZero();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/b")).isEmpty();
    }

    @Test
    void closingTheRegistryWhileTheTierChecksItsCopiesStopsTheChecks() throws Exception {
        fileSystem(Map.of());
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            keys.add("cp/f" + i);
            write("cp/f" + i, bytes(100_000, i));
        }
        fs.runtime().close();
        fileSystem(Map.of()); // another process: it reads each copy in full before it trusts it
        CloseableRegistry registry = new CloseableRegistry();
        java.util.concurrent.atomic.AtomicInteger checks = new java.util.concurrent.atomic.AtomicInteger();
        io.github.s3tiered.tier.TierSteps.listen(step -> {
            if (step.equals(io.github.s3tiered.tier.TierSteps.CHECK_SIDECAR_READ) && checks.incrementAndGet() == 1) {
                try {
                    registry.close(); // Flink cancelling the restore while the tier is asked
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        });
        try {
            assertThatThrownBy(() -> fs.copyFiles(requests(keys.toArray(String[]::new)), registry))
                    .isInstanceOf(Cancellation.CancelledException.class);
        } finally {
            io.github.s3tiered.tier.TierSteps.listen(step -> {});
        }
        assertThat(fs.runtime().tier().statistics().fullChecks.sum())
                .as("copies read in full after the cancel: at most those already started").isLessThan(10);
        assertThat(store.calls("GetObject")).as("nothing downloaded").isEmpty();
    }

    @Test
    void closingAStreamFromAnotherThreadEndsABlockedRead() throws Exception {
        fileSystem(FakeS3FileSystemTest.STREAMING_READS);
        byte[] data = bytes(200_000, 6);
        store.putRaw(BUCKET, "cp/stalled", data, InMemoryObjectStore.crc32c(data));
        store.inject(FaultRule.on("GetObject").keys("cp/stalled").stallAfter(1000, Duration.ofSeconds(60)));
        FSDataInputStream in = fs.open(path("cp/stalled"));
        CompletableFuture<Integer> reading = CompletableFuture.supplyAsync(() -> {
            byte[] buf = new byte[64 * 1024];
            int total = 0;
            try {
                int n;
                while ((n = in.read(buf)) != -1) {
                    total += n;
                }
                return total;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        store.awaitCalls("GetObject", 1, Duration.ofSeconds(30));
        Thread.sleep(200); // the read waits in the stalled body
        in.close();
        long closedAt = System.nanoTime();

        assertThatThrownBy(() -> reading.get(20, TimeUnit.SECONDS)).rootCause().hasMessageContaining("is closed");
        assertThat(store.callsStartedAfter(closedAt)).as("no reopen after the close").isEmpty();
        assertThat(stagingFiles()).as("the copy being kept is dropped").isZero();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/stalled")).isEmpty();
    }

    @Test
    void closingAStreamEndsItsRetryWait() throws Exception {
        // throttled with long waits: the reader sits in the backoff when the close comes
        fileSystem(Map.of(S3TieredOptions.THROTTLE_BASE_DELAY.key(), "30s", S3TieredOptions.THROTTLE_MAX_DELAY.key(), "30s",
                S3TieredOptions.READ_WHOLE_FIRST_MAX_SIZE.key(), "0")); // a stream's read, not an open()'s download
        byte[] data = bytes(10_000, 7);
        store.putRaw(BUCKET, "cp/throttled", data, InMemoryObjectStore.crc32c(data));
        store.inject(FaultRule.on("GetObject").keys("cp/throttled").slowDown());
        FSDataInputStream in = fs.open(path("cp/throttled"));
        CompletableFuture<Integer> reading = CompletableFuture.supplyAsync(() -> {
            try {
                return in.read(new byte[100]);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        store.awaitCalls("GetObject", 1, Duration.ofSeconds(30));
        // full jitter may draw a short wait: the reader is in a wait (or about to start the next attempt)
        Thread.sleep(50);
        in.close();
        long closedAt = System.nanoTime();
        assertThatThrownBy(() -> reading.get(20, TimeUnit.SECONDS)).rootCause().hasMessageContaining("is closed");
        assertThat(store.callsStartedAfter(closedAt)).isEmpty();
    }

    @Test
    void aReadFallsBackToS3WhenTheLocalCopyIsDamaged() throws Exception {
        fileSystem(Map.of());
        byte[] data = bytes(50_000, 8);
        write("cp/damaged", data);
        java.nio.file.Path copy = fs.localTier().getVerified(BUCKET, "cp/damaged").orElseThrow().data();
        byte[] bad = data.clone();
        bad[100] ^= 1;
        Files.write(copy, bad);
        Files.setLastModifiedTime(copy, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
        try (FSDataInputStream in = fs.open(path("cp/damaged"))) {
            assertThat(in.readAllBytes()).isEqualTo(data);
        }
        assertThat(keysRead()).containsExactly("cp/damaged");
        assertThat(fs.localTier().statistics().corruptionsDetected.sum()).isEqualTo(1);
    }
}
