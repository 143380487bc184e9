package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;

/** The Content-MD5 of an upload's range, and the check of a whole file against its recorded CRC32C. */
class UploadDigestTest {

    @TempDir Path dir;

    private static int crc32c(byte[] b) {
        CRC32C crc = new CRC32C();
        crc.update(b);
        return (int) crc.getValue();
    }

    private static String md5(byte[] b) throws Exception {
        return Base64.getEncoder().encodeToString(MessageDigest.getInstance("MD5").digest(b));
    }

    @Test
    void theMd5OfARangeIsThatOfItsBytes() throws Exception {
        byte[] data = new byte[300_001];
        new Random(1).nextBytes(data);
        Path file = Files.write(dir.resolve("staged"), data);

        assertThat(UploadDigest.contentMd5(file, 0, data.length, crc32c(data), "PutObject s3://b/k")).isEqualTo(md5(data));
        assertThat(UploadDigest.contentMd5(file, 100_000, 150_000, null, "UploadPart 2 of s3://b/k"))
                .isEqualTo(md5(Arrays.copyOfRange(data, 100_000, 250_000)));
        assertThat(UploadDigest.contentMd5(Files.write(dir.resolve("empty"), new byte[0]), 0, 0, crc32c(new byte[0]), "x"))
                .isEqualTo(md5(new byte[0]));
    }

    @Test
    void aMultipartUploadIsCompletedOnlyWhenItsPartsHoldWhatWasWritten() throws Exception {
        byte[] data = new byte[12_000];
        new Random(3).nextBytes(data);
        int recorded = crc32c(data);
        Path file = Files.write(dir.resolve("staged"), data);
        List<UploadedPart> parts = List.of(part(file, 1, 0, 5000), part(file, 2, 5000, 5000), part(file, 3, 10_000, 2000));
        UploadDigest.requirePartsMatch(parts, recorded, "s3://b/k (upload id u)");

        data[7000] ^= 1; // the disk changed a bit of part 2 after the stream computed its CRC32C
        Files.write(file, data);
        List<UploadedPart> changed = List.of(parts.get(0), part(file, 2, 5000, 5000), parts.get(2));
        assertThatThrownBy(() -> UploadDigest.requirePartsMatch(changed, recorded, "s3://b/k (upload id u)"))
                .isInstanceOf(UploadDigest.StagedFileChangedException.class)
                .hasMessageContaining("upload id u").hasMessageContaining(Crc32c.toHex(recorded));
        // parts sent without a Content-MD5 carry no CRC32C: nothing to compare
        UploadDigest.requirePartsMatch(List.of(parts.get(0), new UploadedPart(2, "e2"), parts.get(2)), recorded, "x");
    }

    private static UploadedPart part(Path file, int n, long offset, long length) throws Exception {
        return new UploadedPart(n, "e" + n, UploadDigest.of(file, offset, length, null, "part " + n).crc32c(), length);
    }

    @Test
    void aFileChangedSinceItWasWrittenIsNeverUploadedNorRetried() throws Exception {
        byte[] data = new byte[10_000];
        new Random(2).nextBytes(data);
        int recorded = crc32c(data);
        data[5000] ^= 1; // the disk changed a bit after the stream computed its CRC32C
        Path file = Files.write(dir.resolve("staged"), data);

        assertThatThrownBy(() -> UploadDigest.contentMd5(file, 0, data.length, recorded, "PutObject s3://b/k"))
                .isInstanceOf(UploadDigest.StagedFileChangedException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("s3://b/k")
                .hasMessageContaining(Crc32c.toHex(recorded))
                .satisfies(e -> assertThat(S3ErrorKind.classify(e)).isEqualTo(S3ErrorKind.PERMANENT));
        assertThatThrownBy(() -> UploadDigest.contentMd5(file, 0, data.length + 1, null, "PutObject s3://b/k"))
                .isInstanceOf(UploadDigest.StagedFileChangedException.class)
                .hasMessageContaining("ended 1 bytes before");
    }
}
