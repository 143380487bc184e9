package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Flink cancels a task or a checkpoint by interrupting its threads. An interrupt closes any NIO
 * channel the thread uses and makes the SDK refuse its requests; what the file system does then:
 * the cancelled operation fails as interrupted, and nothing intact is taken for damaged.
 */
class InterruptedThreadTest extends FakeS3FileSystemTest {

    private static final int MIB = 1024 * 1024;

    @AfterEach
    void clearTheInterrupt() {
        Thread.interrupted();
    }

    private static void write(S3TieredFileSystem fs, String key, byte[] data) throws IOException {
        try (FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE)) {
            out.write(data);
        }
    }

    @Test
    void anInterruptedReadOfALocalCopyKeepsTheCopyAndCountsNoCorruption() throws Exception {
        byte[] data = bytes(3 * MIB, 1);
        write(fs, "cp/kept", data);
        // a TaskManager restarted on the same disk: its first use of the copy checks its CRC32C
        S3TieredFileSystem restarted = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, Map.of()));
        try {
            int callsBefore = store.calls().size();
            Thread.currentThread().interrupt(); // the restoring task is cancelled
            assertThatThrownBy(() -> {
                try (FSDataInputStream in = restarted.open(path("cp/kept"))) {
                    in.read(new byte[MIB]);
                }
            }).isInstanceOf(InterruptedIOException.class).hasMessageContaining("cp/kept");
            assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();

            assertThat(restarted.localTier().statistics().corruptionsDetected.sum()).isZero();
            assertThat(restarted.localTier().getVerified(BUCKET, "cp/kept")).as("the copy is kept").isPresent();
            try (FSDataInputStream in = restarted.open(path("cp/kept"))) {
                assertThat(in.readAllBytes()).isEqualTo(data);
            }
            assertThat(store.calls().subList(callsBefore, store.calls().size()))
                    .noneMatch(c -> c.operation().equals("GetObject"));
        } finally {
            restarted.runtime().close();
        }
    }

    /**
     * A read from S3 on a thread Flink interrupted (a cancelled restore) fails as interrupted, naming
     * the object, after the one refused GET: no reopen, which would be refused as well, and no
     * "failed 4 times" that reads as an unreadable store (the bridge reports it UNREADABLE then).
     */
    @Test
    void anInterruptedReadFromS3FailsAsInterruptedWithoutReopening() throws Exception {
        streamingReads();
        write(fs, "cp/remote", bytes(300_000, 5));
        fs.localTier().drop(BUCKET, "cp/remote");
        try (FSDataInputStream in = fs.open(path("cp/remote"))) { // on a live thread: its HEAD is answered
            int getsBefore = store.calls("GetObject").size();
            Thread.currentThread().interrupt();
            assertThatThrownBy(() -> in.read(new byte[1000])).isInstanceOf(InterruptedIOException.class)
                    .hasMessageContaining("cp/remote");
            assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
            assertThat(store.calls("GetObject")).hasSize(getsBefore + 1);
            assertThat(stats.reopens.sum()).isZero();
        }
    }

    /** The same when the file is downloaded and checked before it is served (at the first read). */
    @Test
    void anInterruptedDownloadBeforeServingFailsAsInterruptedWithoutReopening() throws Exception {
        write(fs, "cp/remote", bytes(300_000, 5));
        fs.localTier().drop(BUCKET, "cp/remote");
        try (FSDataInputStream in = fs.open(path("cp/remote"))) {
            Thread.currentThread().interrupt();
            assertThatThrownBy(() -> in.read(new byte[1000])).isInstanceOf(InterruptedIOException.class)
                    .hasMessageContaining("cp/remote");
            assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
        }
        assertThat(stats.reopens.sum()).isZero();
        assertThat(stats.corruptDownloadsRepeated.sum()).isZero();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/remote")).isEmpty();
    }

    @Test
    void aFileIsDeletedOnAnInterruptedThread() throws Exception {
        // Flink's own checkpoint streams delete their file after a failed close, on the thread it
        // interrupted to cancel the checkpoint; S3 may hold the object if the interrupt came while
        // the PUT's response was on the wire
        write(fs, "cp/discarded", bytes(100_000, 4));
        Thread.currentThread().interrupt();
        assertThat(fs.delete(path("cp/discarded"), false)).isTrue();
        assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(store.object(BUCKET, "cp/discarded")).isEmpty();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/discarded")).isEmpty();
    }

    @Test
    void anInterruptedWriteSaysSoAndUploadsNothing() throws Exception {
        FSDataOutputStream out = fs.create(path("cp/interrupted-write"), WriteMode.NO_OVERWRITE);
        out.write(bytes(MIB, 2));
        int callsBefore = store.calls().size();
        Thread.currentThread().interrupt(); // the snapshot is cancelled
        assertThatThrownBy(() -> out.write(bytes(MIB, 3))).isInstanceOf(InterruptedIOException.class)
                .hasMessageContaining("cp/interrupted-write").hasMessageContaining("interrupted")
                .hasMessageNotContaining("s3tiered.local.dir");
        Thread.interrupted();
        assertThatThrownBy(out::close).isInstanceOf(InterruptedIOException.class);
        assertThat(store.calls()).hasSize(callsBefore);
        try (Stream<java.nio.file.Path> staging = Files.list(tierDir.resolve("v1/staging"))) {
            assertThat(staging).isEmpty();
        }
    }

    @Test
    void aRequestOnAnInterruptedThreadFailsAsInterrupted() throws Exception {
        write(fs, "cp/there", bytes(1000, 4));
        Thread.currentThread().interrupt();
        assertThatThrownBy(() -> fs.getFileStatus(path("cp/there"))).isInstanceOf(InterruptedIOException.class)
                .hasMessageContaining("cp/there");
        assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
    }
}
