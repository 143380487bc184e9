package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.ObjectInfo;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * A streaming read closed from another thread (Flink cancels through its {@code
 * CloseableRegistry}) while its own thread holds the stream's lock for any call, not only a
 * blocked read: whichever side holds the lock last releases the staging copy.
 */
class StreamCloseRaceTest extends FakeS3FileSystemTest {

    @Test
    void aCloseWhileTheReaderHoldsTheLockLeavesNoStagingFile() throws Exception {
        byte[] data = bytes(4096, 1);
        store.putRaw(BUCKET, "cp/x", data, InMemoryObjectStore.crc32c(data));
        S3TieredRuntime runtime = fs.runtime();
        ObjectInfo info = runtime.store().head(BUCKET, "cp/x").orElseThrow();
        Path staging = tierDir.resolve("v1").resolve("staging");

        for (int round = 0; round < 300; round++) {
            S3InputStream in = S3InputStream.ofState(runtime.store(), BUCKET, "cp/x", info, 3, runtime.tier(),
                    runtime.tier().readTicket(BUCKET, "cp/x"));
            assertThat(in.read()).isEqualTo(data[0] & 0xff);
            AtomicBoolean stop = new AtomicBoolean();
            CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
                while (!stop.get()) {
                    in.getPos();
                    in.available();
                }
            });
            Thread.onSpinWait();
            in.close();
            stop.set(true);
            reader.join();
            try (Stream<Path> left = Files.list(staging)) {
                assertThat(left).as("staging files after round %d", round).isEmpty();
            }
        }
    }
}
