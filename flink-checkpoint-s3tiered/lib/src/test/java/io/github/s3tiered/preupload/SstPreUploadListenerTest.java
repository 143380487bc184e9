package io.github.s3tiered.preupload;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.AbstractEventListener;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.TableFileCreationInfo;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * The listener on a real RocksDB instance: what a flush hands to the upload ahead, depending on
 * the reuse window the job's JobManager last sent ({@link JobManagerReuseWindows}). The {@code
 * s3tiered} file system is one of the test's that records the bridge's pre-upload calls; a probe
 * listener after the one under test tells when RocksDB has called both for a file.
 */
class SstPreUploadListenerTest {

    private static final long MIN_FILE_SIZE = 20 * 1024;
    private static final long WINDOW = Duration.ofMinutes(10).toMillis();

    @TempDir
    java.nio.file.Path dbDir;

    private final Path shared = new Path("s3tiered://bucket/listener-" + System.nanoTime() + "/shared");
    private final RecordingFileSystem fs = new RecordingFileSystem();
    private final BlockingQueue<String> created = new LinkedBlockingQueue<>();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private RocksDB rocks;
    private ColumnFamilyHandle column;

    /** Serves the bridge: a pre-upload is recorded and answered as uploaded. */
    static final class RecordingFileSystem extends LocalFileSystem
            implements BiFunction<String, Map<String, Object>, Map<String, Object>> {
        final List<String> preUploaded = new CopyOnWriteArrayList<>();
        final List<String> withdrawn = new CopyOnWriteArrayList<>();
        /** When set, a withdrawal waits for it (S3 slow to answer a DELETE). */
        volatile java.util.concurrent.CountDownLatch withdrawalsMayEnd;
        /** When set, every withdrawal fails (S3 down). */
        volatile boolean withdrawalsFail;
        /** When set, every upload ahead fails (S3 down); recorded all the same. */
        volatile boolean preUploadsFail;

        @Override
        public URI getUri() {
            return URI.create("s3tiered://bucket/");
        }

        @Override
        public Map<String, Object> apply(String operation, Map<String, Object> args) {
            switch (operation) {
                case BridgeContract.PRE_UPLOAD -> {
                    String file = (String) args.get(BridgeContract.LOCAL_FILE);
                    preUploaded.add(file);
                    if (preUploadsFail) {
                        return Map.of(BridgeContract.ERROR, BridgeContract.ErrorCode.UNREADABLE.name(),
                                BridgeContract.ERROR_MESSAGE, "PutObject failed: connection refused");
                    }
                    long length = new java.io.File(file).length();
                    return Map.of(BridgeContract.OUTCOME, "UPLOADED", BridgeContract.OBJECT,
                            args.get(BridgeContract.PATH) + "/" + preUploaded.size() + ".sst", BridgeContract.LENGTH, length);
                }
                case BridgeContract.WITHDRAW_PRE_UPLOAD -> {
                    withdrawn.add((String) args.get(BridgeContract.PATH));
                    java.util.concurrent.CountDownLatch gate = withdrawalsMayEnd;
                    if (gate != null) {
                        try {
                            gate.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    if (withdrawalsFail) {
                        return Map.of(BridgeContract.ERROR, BridgeContract.ErrorCode.UNREADABLE.name(),
                                BridgeContract.ERROR_MESSAGE, "DeleteObject failed: connection refused");
                    }
                    return Map.of(BridgeContract.WITHDRAWN, true);
                }
                default -> throw new UnsupportedOperationException(operation);
            }
        }
    }

    @BeforeAll
    static void loadRocksDB() {
        RocksDB.loadLibrary();
    }

    private void open() throws Exception {
        open(WINDOW);
    }

    private void open(long windowMillis) throws Exception {
        open(windowMillis, null);
    }

    /** With an uploader of the test's own, or the process's when null. */
    private void open(long windowMillis, SstPreUploader uploader) throws Exception {
        PreUploadSettings settings = new PreUploadSettings(true, windowMillis, 2, 256L << 20, MIN_FILE_SIZE, 600_000);
        S3TieredBridge bridge = S3TieredBridge.of(fs).orElseThrow();
        SstPreUploadListener listener = new SstPreUploadListener(
                uploader != null ? uploader : SstPreUploader.shared(settings), bridge, shared, settings);
        DBOptions options = new DBOptions().setCreateIfMissing(true);
        List<AutoCloseable> handles = new ArrayList<>();
        listener.addTo(options, handles);
        List<AbstractEventListener> listeners = new ArrayList<>(options.listeners());
        listeners.add(new AbstractEventListener(AbstractEventListener.EnabledEventCallback.ON_TABLE_FILE_CREATED) {
            @Override
            public void onTableFileCreated(TableFileCreationInfo info) {
                created.add(info.getFilePath());
            }
        });
        options.setListeners(listeners);
        ColumnFamilyOptions columnOptions = new ColumnFamilyOptions().setCompressionType(CompressionType.NO_COMPRESSION);
        List<ColumnFamilyHandle> columns = new ArrayList<>();
        rocks = RocksDB.open(options, dbDir.toString(),
                List.of(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, columnOptions)), columns);
        column = columns.get(0);
        // closed in this order: the column, the instance, then the listener's hooks, the options
        toClose.add(column);
        toClose.add(rocks);
        toClose.addAll(handles);
        toClose.add(columnOptions);
        toClose.add(options);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        assertThat(SstPreUploader.awaitIdle(Duration.ofSeconds(30))).isTrue();
    }

    /** Writes 64 KiB (uncompressed) and flushes it into an SST file; the file RocksDB reported. */
    private String flushOneFile() throws Exception {
        String file = flushOneFileNotAwaitingTheUploader();
        // RocksDB calls the listeners in order on one thread: the one under test has seen the file
        assertThat(SstPreUploader.awaitIdle(Duration.ofSeconds(30))).isTrue();
        return file;
    }

    private String flushOneFileNotAwaitingTheUploader() throws Exception {
        Random random = new Random(created.size());
        for (int i = 0; i < 64; i++) {
            byte[] value = new byte[1024];
            random.nextBytes(value);
            rocks.put(column, ("key-" + System.nanoTime() + "-" + i).getBytes(), value);
        }
        try (FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            rocks.flush(flush, column);
        }
        String file = created.poll(30, TimeUnit.SECONDS);
        assertThat(file).as("RocksDB reported the flush's SST file").isNotNull();
        assertThat(new java.io.File(file).length()).isGreaterThan(MIN_FILE_SIZE);
        return file;
    }

    @Test
    void uploadsWhatAFlushWritesAheadOfTheCheckpoint() throws Exception {
        open();
        String before = flushOneFile(); // no checkpoint yet: the JobManager's window is not known
        JobManagerReuseWindows.received(PathKey.of(shared), WINDOW);
        String after = flushOneFile();

        assertThat(fs.preUploaded).containsExactly(before, after);
    }

    @Test
    void uploadsNothingOnceTheJobManagerSaidItHasPreUploadOff() throws Exception {
        open();
        JobManagerReuseWindows.received(PathKey.of(shared), JobManagerReuseWindows.NONE);
        flushOneFile();
        flushOneFile();

        assertThat(fs.preUploaded).as("no checkpoint may take an upload ahead: none is made").isEmpty();

        // a JobManager restarted with pre-upload on (a new window in the next checkpoint)
        JobManagerReuseWindows.received(PathKey.of(shared), WINDOW);
        String file = flushOneFile();
        assertThat(fs.preUploaded).containsExactly(file);
    }

    @Test
    void uploadsNothingWhileTheJobManagerHoldsReuseBack() throws Exception {
        open();
        // the JobManager's grace record is not durable yet (S3 failing): what is uploaded now is never reused
        JobManagerReuseWindows.received(PathKey.of(shared), JobManagerReuseWindows.HELD);
        flushOneFile();

        assertThat(fs.preUploaded).as("an upload no checkpoint will take is not made").isEmpty();

        JobManagerReuseWindows.received(PathKey.of(shared), WINDOW);
        String file = flushOneFile();
        assertThat(fs.preUploaded).containsExactly(file);
    }

    @Test
    void withdrawsWhatNoCheckpointTookWhenTheInstanceCloses() throws Exception {
        open();
        flushOneFile();
        flushOneFile();
        assertThat(fs.preUploaded).hasSize(2);

        close();
        toClose.clear();

        assertThat(fs.withdrawn).containsExactlyInAnyOrder(shared + "/1.sst", shared + "/2.sst");
    }

    private void awaitPreUploaded(String file) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!fs.preUploaded.contains(file) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }

    private void closeInstance() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        toClose.clear();
    }

    /** The JobManager's window, received while an instance is open, is forgotten once the last closes. */
    @Test
    void theWindowOfAJobIsForgottenWhenItsLastInstanceHereCloses() throws Exception {
        String key = io.github.s3tiered.inspector.PathKey.of(shared);
        open();
        JobManagerReuseWindows.received(key, WINDOW);
        closeInstance();
        assertThat(JobManagerReuseWindows.last(key)).isEqualTo(JobManagerReuseWindows.NONE);
    }

    @Test
    void withdrawalsS3IsSlowToAnswerDoNotHoldTheNextInstancesUploadsAhead() throws Exception {
        java.util.concurrent.CountDownLatch slowDeletes = new java.util.concurrent.CountDownLatch(1);
        fs.withdrawalsMayEnd = slowDeletes;
        try {
            // two instances close (a failover), each withdrawing an upload no checkpoint took, on an S3
            // that does not answer: as many withdrawals as upload threads
            for (int i = 0; i < 2; i++) {
                open();
                String uploaded = flushOneFileNotAwaitingTheUploader();
                awaitPreUploaded(uploaded);
                closeInstance();
            }
            open(); // the restarted task's instance
            String file = flushOneFileNotAwaitingTheUploader();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!fs.preUploaded.contains(file) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(fs.preUploaded).as("uploaded ahead while the withdrawals wait").contains(file);
        } finally {
            slowDeletes.countDown();
        }
    }

    @Test
    void withdrawalsStopAfterThreeFailuresInARow() throws Exception {
        fs.withdrawalsFail = true;
        open();
        for (int i = 0; i < 5; i++) {
            flushOneFile();
        }
        closeInstance();
        assertThat(SstPreUploader.awaitIdle(Duration.ofSeconds(30))).isTrue();

        assertThat(fs.withdrawn).as("the rest left to the orphan removal").hasSize(SstPreUploadListener.MAX_WITHDRAWALS_FAILED_IN_A_ROW);
    }

    @Test
    void uploadsAheadPauseAfterThreeFailuresInARowAndResumeAfterThePause() throws Exception {
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
        SstPreUploader own = new SstPreUploader(2, 256L << 20, clock::get);
        fs.preUploadsFail = true; // S3 down
        open(WINDOW, own);
        for (int i = 0; i < 5; i++) {
            flushOneFileNotAwaitingTheUploader();
            assertThat(own.idleWithin(Duration.ofSeconds(30))).isTrue();
        }
        assertThat(fs.preUploaded).as("the last two not tried: they would fail as well").hasSize(PreUploadBackoff.FAILURES_IN_A_ROW);
        assertThat(own.skippedWhilePaused.sum()).isEqualTo(2);

        fs.preUploadsFail = false; // S3 is back
        clock.addAndGet(PreUploadBackoff.FIRST_PAUSE_NANOS);
        String file = flushOneFileNotAwaitingTheUploader();
        assertThat(own.idleWithin(Duration.ofSeconds(30))).isTrue();
        assertThat(fs.preUploaded).as("tried again once the pause is over").endsWith(file);
    }

    @Test
    void withdrawsOnCloseAlsoWhatIsPastItsWindow() throws Exception {
        open(1); // no checkpoint can be handed them any more, but nothing else deletes them with orphan removal off
        flushOneFile();
        Thread.sleep(20);
        flushOneFile();
        assertThat(fs.preUploaded).hasSize(2);

        close();
        toClose.clear();

        assertThat(fs.withdrawn).containsExactlyInAnyOrder(shared + "/1.sst", shared + "/2.sst");
    }
}
