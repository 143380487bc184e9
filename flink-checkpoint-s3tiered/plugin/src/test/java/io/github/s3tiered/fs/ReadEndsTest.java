package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.tier.TierEntry;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;

/**
 * Where a read ends: at the object's length as S3 and its recorded CRC32C describe it, checked
 * there even when that length is zero, and never past the length a local copy was checked at.
 */
class ReadEndsTest extends FakeS3FileSystemTest {

    @Test
    void anEmptyObjectIsCheckedAgainstItsRecordedChecksum() throws IOException {
        store.putRaw(BUCKET, "cp/empty", new byte[0], 0); // the CRC32C of no bytes
        try (FSDataInputStream in = fs.open(path("cp/empty"))) {
            assertThat(in.read()).isEqualTo(-1);
        }

        // an object cut to nothing after its upload recorded the CRC32C of its bytes
        store.putRaw(BUCKET, "cp/emptied", new byte[0], 0x1234abcd);
        try (FSDataInputStream in = fs.open(path("cp/emptied"))) {
            assertThatThrownBy(in::read).isInstanceOf(IOException.class)
                    .hasMessageContaining("CRC32C mismatch reading s3://" + BUCKET + "/cp/emptied");
            assertThatThrownBy(in::read).as("a later read does not pass as the end").isInstanceOf(IOException.class);
        }
        assertThat(fs.runtime().tier().getVerified(BUCKET, "cp/emptied")).as("no copy kept").isEmpty();
    }

    @Test
    void aLocalCopyServesNoByteBeyondTheLengthItWasCheckedAt() throws IOException {
        byte[] data = bytes(10_000, 3);
        try (FSDataOutputStream out = fs.create(path("cp/a"), WriteMode.NO_OVERWRITE)) {
            out.write(data);
        }
        TierEntry copy = fs.runtime().tier().getVerified(BUCKET, "cp/a").orElseThrow();
        try (FSDataInputStream in = fs.open(path("cp/a"))) {
            // another writer appends to the copy after this reader opened it
            Files.write(copy.data(), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
            assertThat(in.readAllBytes()).isEqualTo(data);
            assertThat(in.read()).isEqualTo(-1);
        }
        assertThat(stats.requestCounts()).as("served from the copy").doesNotContainKey("GetObject");
    }
}
