package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore;

import org.apache.flink.core.fs.FSDataInputStream;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.stream.Stream;

/**
 * A file up to {@code s3tiered.read.whole-first-max-size} opened for reading is downloaded and
 * checked before its first byte is served: a reader that seeks (a heap backend's restore goes to
 * its key groups) never gets bytes other than those the recorded CRC32C describes, and the checked
 * file becomes the tier's copy.
 */
class WholeFirstReadTest extends FakeS3FileSystemTest {

    private static final String KEY = "job/chk-1/keyed-state";
    private static final int SIZE = 300_000;

    private long stagingFiles() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            return files.count();
        }
    }

    @Test
    void aReaderThatSeeksIntoAnObjectDamagedInS3GetsNoByteOfIt() throws IOException {
        byte[] content = FakeS3FileSystems.bytes(SIZE, 5);
        int recorded = InMemoryObjectStore.crc32c(content);
        content[250_000] ^= 1; // damaged in S3 after its upload
        store.putRaw(FakeS3FileSystems.BUCKET, KEY, content, recorded);

        assertThatThrownBy(() -> {
            try (FSDataInputStream in = fs.open(FakeS3FileSystems.path(KEY))) {
                in.seek(240_000); // the key group that holds the damaged byte, read without the bytes before it
                in.readNBytes(20_000);
            }
        }).isInstanceOf(IOException.class)
                .hasMessageContaining("CRC32C mismatch reading s3://" + FakeS3FileSystems.BUCKET + "/" + KEY);

        // the same every time: downloaded once and again as often as a read reopens, then failed
        int reopens = S3TieredOptions.READ_REOPEN_ATTEMPTS.defaultValue();
        assertThat(store.calls("GetObject")).hasSize(1 + reopens);
        assertThat(stats.corruptDownloadsRepeated.sum()).isEqualTo(reopens);
        assertThat(stats.retries.sum()).as("no request failed").isZero();
        assertThat(fs.localTier().getVerified(FakeS3FileSystems.BUCKET, KEY)).as("nothing kept").isEmpty();
        assertThat(stagingFiles()).as("no staging file left").isZero();
    }

    @Test
    void anIntactObjectIsServedWhereverTheReaderSeeksAndKeptForNextTime() throws IOException {
        byte[] content = FakeS3FileSystems.bytes(SIZE, 6);
        store.putRaw(FakeS3FileSystems.BUCKET, KEY, content, InMemoryObjectStore.crc32c(content));

        try (FSDataInputStream in = fs.open(FakeS3FileSystems.path(KEY))) {
            assertThat(in.available()).as("as a streaming read says before its first read").isEqualTo(SIZE);
            assertThat(in.getPos()).isZero();
            assertThat(store.calls("GetObject")).as("nothing downloaded before the first read").isEmpty();
            in.seek(240_000);
            assertThat(in.readNBytes(20_000)).isEqualTo(Arrays.copyOfRange(content, 240_000, 260_000));
            assertThat(in.getPos()).isEqualTo(260_000);
            in.seek(10);
            assertThat(in.readNBytes(100)).isEqualTo(Arrays.copyOfRange(content, 10, 110));
        }
        assertThat(fs.localTier().getVerified(FakeS3FileSystems.BUCKET, KEY)).as("kept, though the read seeked").isPresent();
        try (FSDataInputStream in = fs.open(FakeS3FileSystems.path(KEY))) {
            assertThat(in.readAllBytes()).isEqualTo(content);
        }
        assertThat(store.calls("GetObject")).as("the second open read the copy").hasSize(1);
        assertThat(stagingFiles()).isZero();
    }

    /**
     * Flink closes a restore's streams from another thread to cancel it: the download runs at the
     * first read, in the stream, so the close ends it (the file is not staged, nor kept).
     */
    @Test
    void closingTheStreamFromAnotherThreadEndsItsDownload() throws Exception {
        byte[] content = FakeS3FileSystems.bytes(SIZE, 8);
        store.putRaw(FakeS3FileSystems.BUCKET, KEY, content, InMemoryObjectStore.crc32c(content));
        store.inject(InMemoryObjectStore.FaultRule.on("GetObject").keys(KEY).stallAfter(1000, java.time.Duration.ofSeconds(60)));
        FSDataInputStream in = fs.open(FakeS3FileSystems.path(KEY));
        java.util.concurrent.CompletableFuture<byte[]> reading = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return in.readNBytes(100);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        store.awaitCalls("GetObject", 1, java.time.Duration.ofSeconds(30));
        Thread.sleep(200); // the download waits in the stalled body
        in.close();

        assertThatThrownBy(() -> reading.get(20, java.util.concurrent.TimeUnit.SECONDS)).rootCause()
                .hasMessageContaining("is closed");
        assertThat(store.calls("GetObject")).as("no reopen after the close").hasSize(1);
        assertThat(fs.localTier().getVerified(FakeS3FileSystems.BUCKET, KEY)).isEmpty();
        assertThat(stagingFiles()).isZero();
        assertThatThrownBy(() -> in.read()).hasMessageContaining("is closed");
    }

    @Test
    void aLargerFileOrOneWithoutRecordedChecksumIsStreamed() throws IOException {
        fs.runtime().close();
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir,
                java.util.Map.of(S3TieredOptions.READ_WHOLE_FIRST_MAX_SIZE.key(), "100kb")));
        byte[] content = FakeS3FileSystems.bytes(SIZE, 7);
        store.putRaw(FakeS3FileSystems.BUCKET, KEY, content, InMemoryObjectStore.crc32c(content));

        try (FSDataInputStream in = fs.open(FakeS3FileSystems.path(KEY))) {
            in.seek(240_000);
            assertThat(in.readNBytes(20_000)).isEqualTo(Arrays.copyOfRange(content, 240_000, 260_000));
        }
        assertThat(fs.localTier().getVerified(FakeS3FileSystems.BUCKET, KEY)).as("a streamed read that seeks keeps nothing")
                .isEmpty();
    }
}
