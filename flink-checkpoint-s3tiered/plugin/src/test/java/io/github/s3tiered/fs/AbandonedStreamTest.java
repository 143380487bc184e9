package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.inBackground;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * {@link TieredOutputStream#abandon()}: how a checkpoint stream that Flink discards is dropped
 * without the upload that {@code close()} would start.
 */
class AbandonedStreamTest extends FakeS3FileSystemTest {

    private static final int MIB = 1024 * 1024;

    private long stagingFiles() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            return files.count();
        }
    }

    private TieredOutputStream create(String key) throws IOException {
        return (TieredOutputStream) fs.create(path(key), WriteMode.NO_OVERWRITE);
    }

    @Test
    void anOpenStreamIsDroppedWithoutAnyRequestAndItsObjectIsNeverCreated() throws Exception {
        TieredOutputStream out = create("cp/abandoned");
        out.write(bytes(12 * MIB, 1)); // above the multipart threshold, and flushed into the staging file
        assertThat(stagingFiles()).isOne();
        int before = store.calls().size(); // create()'s HEAD for NO_OVERWRITE

        assertThat(out.abandon()).isTrue();

        assertThat(store.calls()).as("no PUT, no multipart upload, no DELETE").hasSize(before);
        assertThat(stagingFiles()).isZero();
        assertThat(store.object(BUCKET, "cp/abandoned")).isEmpty();
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed").hasMessageContaining("cp/abandoned");
        assertThatThrownBy(out::flush).hasMessageContaining("is closed");
        out.close(); // Flink may close it again: nothing happens
        assertThat(out.abandon()).as("still abandoned: nothing to delete").isTrue();
        assertThat(store.calls()).hasSize(before);
        assertThat(store.object(BUCKET, "cp/abandoned")).isEmpty();
    }

    @Test
    void aWriteRunningInAnotherThreadEndsAndTheNextOneFails() throws Exception {
        TieredOutputStream out = create("cp/written-while-abandoned");
        int before = store.calls().size(); // create()'s HEAD for NO_OVERWRITE
        AtomicLong written = new AtomicLong();
        CompletableFuture<Void> writer = inBackground(() -> {
            byte[] chunk = bytes(64 * 1024, 2);
            while (true) { // the task's snapshot thread, writing until the stream fails under it
                out.write(chunk);
                written.addAndGet(chunk.length);
            }
        });
        while (written.get() < 4 * MIB) {
            Thread.sleep(1);
        }
        assertThat(out.abandon()).isTrue();
        assertThatThrownBy(() -> writer.get(30, TimeUnit.SECONDS)).rootCause().hasMessageContaining("is closed");
        assertThat(stagingFiles()).isZero();
        assertThat(store.calls()).hasSize(before);
    }

    @Test
    void duringItsUploadTheUploadIsCancelledAndTheCallerIsToldToDelete() throws Exception {
        // the PUT stalls until the abandon is done, then times out; the abandon cancelled it, so no retry starts
        CountDownLatch abandoned = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/uploading").attempt(1).stallUntil(abandoned));
        TieredOutputStream out = create("cp/uploading");
        out.write(bytes(100_000, 3));
        CompletableFuture<Void> uploading = inBackground(out::close);
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(30));

        assertThat(out.abandon()).as("S3 might have completed the object: the caller still deletes").isFalse();
        abandoned.countDown();

        assertThatThrownBy(() -> uploading.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.calls("PutObject")).hasSize(1);
        assertThat(store.object(BUCKET, "cp/uploading")).isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aStreamWhoseUploadFailedIsLeftToTheCallerToDelete() throws Exception {
        // its PUT was sent: S3 may hold the object for all the stream knows, so the caller deletes as Flink does
        store.inject(FaultRule.on("PutObject").keys("cp/failed").error(403, "AccessDenied"));
        TieredOutputStream out = create("cp/failed");
        out.write(bytes(1000, 5));
        assertThatThrownBy(out::close).hasMessageContaining("cp/failed");
        assertThat(out.abandon()).isFalse();
    }

    @Test
    void aClosedStreamIsLeftAsItIs() throws Exception {
        TieredOutputStream out = create("cp/closed");
        out.write(bytes(1000, 4));
        out.close();
        assertThat(out.abandon()).isFalse();
        assertThat(store.object(BUCKET, "cp/closed")).isPresent();
        assertThat(fs.exists(path("cp/closed"))).isTrue();
    }
}
