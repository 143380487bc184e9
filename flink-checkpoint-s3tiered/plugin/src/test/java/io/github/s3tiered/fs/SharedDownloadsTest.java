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
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Two restores of one TaskManager that need the same object at once (the new subtasks of a
 * rescaled job), by batch download (RocksDB) or by reads checked before they are served (heap):
 * one download, whose tier copy the other takes; a waiter's cancellation (or its stream's close),
 * and the first download's failure, each leave the other restore to itself.
 */
class SharedDownloadsTest {

    private static final String KEY = "cp/shared";

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path restoreDir;

    private final S3Statistics stats = new S3Statistics();
    private final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    private final CountDownLatch release = new CountDownLatch(1);
    private S3TieredFileSystem fs;
    private byte[] data;

    @BeforeEach
    void objectInS3NotInTheTier() throws Exception {
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, Map.of()));
        data = bytes(300_000, 11);
        store.putRaw(BUCKET, KEY, data, InMemoryObjectStore.crc32c(data));
        // the first restore's first GET is on the wire until released
        store.inject(FaultRule.on("GetObject").keys(KEY).attempt(1).holdUntil(release));
    }

    @AfterEach
    void closeRuntime() {
        release.countDown();
        fs.runtime().close();
    }

    private List<CopyRequest> restoreTo(String name) {
        return List.of(CopyRequest.of(path(KEY), new Path(restoreDir.resolve(name).toUri()), -1));
    }

    /** The first GET of the object is on the wire (held): its download owns the object. Not the opens' HEADs. */
    private void awaitFirstGet() throws InterruptedException {
        store.awaitCall(c -> c.operation().equals("GetObject") && c.key().equals(KEY) && c.attempt() == 1, 1,
                Duration.ofSeconds(30));
    }

    private CompletableFuture<Void> firstRestoreOnTheWire(CloseableRegistry registry) throws Exception {
        CompletableFuture<Void> first = inBackground(() -> fs.copyFiles(restoreTo("first"), registry));
        awaitFirstGet();
        return first;
    }

    private CompletableFuture<Void> secondRestoreWaiting(CloseableRegistry registry) throws Exception {
        CompletableFuture<Void> second = inBackground(() -> fs.copyFiles(restoreTo("second"), registry));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (fs.runtime().sharedDownloads().waiting() == 0 && !second.isDone()) {
            assertThat(System.nanoTime()).as("the second restore waits for the first's download").isLessThan(deadline);
            Thread.sleep(10);
        }
        assertThat(second).as("the second restore is not done before the first's download").isNotDone();
        return second;
    }

    private long getsOfKey() {
        return store.calls("GetObject").stream().filter(c -> c.key().equals(KEY)).count();
    }

    private long rangesPerDownload() {
        long part = fs.runtime().config().downloadPartSize();
        return (data.length + part - 1) / part;
    }

    @Test
    void theSecondRestoreTakesTheCopyTheFirstDownloaded() throws Exception {
        CompletableFuture<Void> first = firstRestoreOnTheWire(new CloseableRegistry());
        CompletableFuture<Void> second = secondRestoreWaiting(new CloseableRegistry());
        release.countDown();
        first.get(30, TimeUnit.SECONDS);
        second.get(30, TimeUnit.SECONDS);

        assertThat(Files.readAllBytes(restoreDir.resolve("first"))).isEqualTo(data);
        assertThat(Files.readAllBytes(restoreDir.resolve("second"))).isEqualTo(data);
        assertThat(getsOfKey()).as("one download's ranges").isEqualTo(rangesPerDownload());
        assertThat(fs.s3Statistics().restoreBytesFromLocalTier.sum()).as("the second from the tier").isEqualTo(data.length);
        assertThat(fs.runtime().sharedDownloads().waiting()).isZero();
    }

    @Test
    void aWaitingRestoreCancelledEndsAtOnceAndTheFirstGoesOn() throws Exception {
        CompletableFuture<Void> first = firstRestoreOnTheWire(new CloseableRegistry());
        CloseableRegistry secondRegistry = new CloseableRegistry();
        CompletableFuture<Void> second = secondRestoreWaiting(secondRegistry);
        secondRegistry.close(); // Flink cancelling the second subtask's restore

        assertThatThrownBy(() -> second.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .rootCause().isInstanceOf(Cancellation.CancelledException.class);
        assertThat(first).as("the first's download still on the wire").isNotDone();
        release.countDown();
        first.get(30, TimeUnit.SECONDS);
        assertThat(Files.readAllBytes(restoreDir.resolve("first"))).isEqualTo(data);
        assertThat(Files.exists(restoreDir.resolve("second"))).isFalse();
        assertThat(fs.runtime().sharedDownloads().waiting()).isZero();
    }

    @Test
    void whenTheFirstDownloadFailsTheWaiterDownloadsOnItsOwn() throws Exception {
        CloseableRegistry firstRegistry = new CloseableRegistry();
        CompletableFuture<Void> first = firstRestoreOnTheWire(firstRegistry);
        CompletableFuture<Void> second = secondRestoreWaiting(new CloseableRegistry());
        firstRegistry.close(); // the first subtask's restore cancelled: its download ends without a copy
        release.countDown();

        assertThatThrownBy(() -> first.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class);
        second.get(30, TimeUnit.SECONDS);
        assertThat(Files.readAllBytes(restoreDir.resolve("second"))).isEqualTo(data);
        assertThat(getsOfKey()).as("the first's GET, then the second's own download").isGreaterThan(rangesPerDownload());
    }

    private CompletableFuture<byte[]> readWhole(FSDataInputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return in.readAllBytes();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    private void awaitWaiting() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (fs.runtime().sharedDownloads().waiting() == 0) {
            assertThat(System.nanoTime()).as("the second read waits for the first's download").isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    @Test
    void twoReadsOfOneFileAtOnceDownloadItOnce() throws Exception {
        try (FSDataInputStream a = fs.open(path(KEY)); FSDataInputStream b = fs.open(path(KEY))) {
            CompletableFuture<byte[]> first = readWhole(a);
            awaitFirstGet();
            CompletableFuture<byte[]> second = readWhole(b);
            awaitWaiting();
            assertThat(second).isNotDone();
            release.countDown();
            assertThat(first.get(30, TimeUnit.SECONDS)).isEqualTo(data);
            assertThat(second.get(30, TimeUnit.SECONDS)).isEqualTo(data);
        }
        assertThat(getsOfKey()).as("one GET of the whole file").isEqualTo(1);
        assertThat(fs.s3Statistics().bytesServedFromLocalTier.sum()).as("the second read from the tier's copy")
                .isEqualTo(data.length);
    }

    @Test
    void aReadWaitingForAnotherEndsWhenItsStreamIsClosed() throws Exception {
        try (FSDataInputStream a = fs.open(path(KEY))) {
            FSDataInputStream b = fs.open(path(KEY));
            CompletableFuture<byte[]> first = readWhole(a);
            awaitFirstGet();
            CompletableFuture<byte[]> second = readWhole(b);
            awaitWaiting();
            b.close(); // Flink cancelling the second subtask's restore, from another thread

            assertThatThrownBy(() -> second.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .rootCause().isInstanceOf(Cancellation.CancelledException.class).hasMessageContaining(KEY);
            assertThat(first).isNotDone();
            release.countDown();
            assertThat(first.get(30, TimeUnit.SECONDS)).isEqualTo(data);
        }
        assertThat(fs.runtime().sharedDownloads().waiting()).isZero();
    }
}
