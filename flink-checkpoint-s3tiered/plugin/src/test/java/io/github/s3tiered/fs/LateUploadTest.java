package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * An upload that failed after its request went out may be completed by S3 after its caller
 * deleted the path (Flink disposing a failed checkpoint's directory): a failed checkpoint's
 * {@code _metadata} would then make it look complete. Once S3 can no longer complete the upload,
 * the object is deleted again, if it is that upload's; a later write of the path stays.
 */
class LateUploadTest extends FakeS3FileSystemTest {

    private static final String METADATA = "job/chk-7/_metadata";

    /** Short timeouts: S3 can no longer complete a failed upload about 7 s after it failed. */
    @BeforeEach
    void shortTimeouts() throws IOException {
        fs.runtime().close();
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, Map.of(
                S3TieredOptions.REQUEST_TIMEOUT.key(), "1 s", S3TieredOptions.SOCKET_TIMEOUT.key(), "1 s")));
    }

    /** The finalize of checkpoint 7 fails with a 500 at every attempt (S3 may have completed any), and Flink disposes its directory. */
    private byte[] failedFinalizeThenDisposal() throws IOException {
        byte[] metadata = bytes(3000, 1);
        store.inject(FaultRule.on("PutObject").keys(METADATA).internalError());
        FSDataOutputStream out = fs.create(path(METADATA), WriteMode.OVERWRITE);
        out.write(metadata);
        assertThatThrownBy(out::close).isInstanceOf(IOException.class);
        store.clearFaults();
        assertThat(fs.delete(path("job/chk-7"), true)).isTrue();
        return metadata;
    }

    private static int crc(byte[] b) {
        CRC32C c = new CRC32C();
        c.update(b);
        return (int) c.getValue();
    }

    private long inDoubtMillis() {
        return TimeUnit.NANOSECONDS.toMillis(TieredOutputStream.inDoubtNanos(fs.runtime().config()));
    }

    @Test
    void anUploadS3CompletesAfterItsObjectWasDeletedIsDeletedAgain() throws Exception {
        byte[] metadata = failedFinalizeThenDisposal();
        store.putRaw(BUCKET, METADATA, metadata, crc(metadata)); // S3 completes the failed PUT after the delete

        long deadline = System.currentTimeMillis() + inDoubtMillis() + 20_000;
        while (store.object(BUCKET, METADATA).isPresent() && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        assertThat(store.object(BUCKET, METADATA)).as("the aborted checkpoint's _metadata").isEmpty();
        assertThat(fs.runtime().lateUploads().size()).isZero();
    }

    @Test
    void anObjectWrittenAtThePathAfterTheDeleteStays() throws Exception {
        failedFinalizeThenDisposal();
        byte[] other = bytes(3000, 2); // same size, other bytes: not the failed upload's
        store.putRaw(BUCKET, METADATA, other, crc(other));

        Thread.sleep(inDoubtMillis() + 2_000);
        assertThat(store.calls()).as("the check ran").anyMatch(c -> c.operation().equals("HeadObject")
                && c.key().equals(METADATA));
        assertThat(store.object(BUCKET, METADATA)).hasValueSatisfying(o -> assertThat(o).isEqualTo(other));
    }
}
