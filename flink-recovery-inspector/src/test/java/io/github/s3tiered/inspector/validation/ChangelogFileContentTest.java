package io.github.s3tiered.inspector.validation;

import org.apache.flink.runtime.state.SnappyStreamCompressionDecorator;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The streaming check of a changelog file, on files compressed as Flink's changelog uploader
 * compresses them (a flag byte, then {@code SnappyStreamCompressionDecorator}'s framing): whole
 * files pass however the storage's read splits them; cut, changed or retyped chunks are named.
 */
class ChangelogFileContentTest {

    /** 300 KB: compressible runs (compressed chunks) and random bytes (chunks stored uncompressed). */
    private static final byte[] CHANGES = changes();
    private static final byte[] FILE = compressed(CHANGES);

    @Test
    void aWholeFileDecompressesToWhatWasWrittenHoweverItsBytesArrive() {
        for (int split : new int[] {1, 3, 4, 7, 4096, 65543, FILE.length}) {
            ChangelogFileContent content = feed(FILE, split);
            assertThat(content.flag()).isEqualTo(1);
            assertThat(content.damage()).as("read %d bytes at a time", split).isNull();
            assertThat(content.cutShort()).isFalse();
            assertThat(content.decompressedLength()).isEqualTo(CHANGES.length);
        }
    }

    @Test
    void aFileCutInsideAChunkIsCutShort() {
        for (int cut : new int[] {1, 100, FILE.length - 12, FILE.length - 2, FILE.length - 1}) {
            ChangelogFileContent content = feed(Arrays.copyOf(FILE, cut), 1000);
            assertThat(content.cutShort()).as("cut to %d bytes", cut).isTrue();
            assertThat(content.damage()).contains("cut short");
        }
        ChangelogFileContent content = feed(Arrays.copyOf(FILE, FILE.length - 1), 1000);
        assertThat(content.damage()).contains("cut off at the file's end, byte " + (FILE.length - 1));
    }

    @Test
    void aChangedByteAnywhereAfterTheFlagIsDamage() {
        Random random = new Random(7);
        for (int i = 0; i < 200; i++) {
            byte[] changed = FILE.clone();
            int at = 1 + random.nextInt(FILE.length - 1);
            changed[at] ^= (byte) (1 + random.nextInt(255));
            ChangelogFileContent content = feed(changed, 8192);
            // a changed length may also leave the file ending inside a chunk, or a chunk too many;
            // a copy's offset changed to another place holding the same bytes changes nothing
            assertThat(content.damage() != null || content.decompressedLength() != CHANGES.length
                    || Arrays.equals(uncheckedRead(changed), CHANGES)).as("byte %d changed", at).isTrue();
        }
    }

    /** The file's bytes as Flink's restore reads them, checksums unchecked; null where that fails. */
    private static byte[] uncheckedRead(byte[] file) {
        try (java.io.InputStream in = new org.xerial.snappy.SnappyFramedInputStream(
                new java.io.ByteArrayInputStream(file, 1, file.length - 1), false)) {
            return in.readAllBytes();
        } catch (IOException e) {
            return null;
        }
    }

    @Test
    void chunksFlinkNeverWritesAreNamed() {
        byte[] padded = Arrays.copyOf(FILE, FILE.length + 8);
        padded[FILE.length] = (byte) 0xfe; // padding, which Snappy's reader skips unchecked
        padded[FILE.length + 1] = 4;
        assertThat(feed(padded, 100).damage()).contains("type 0xfe", "byte " + FILE.length);

        byte[] noIdentifier = Arrays.copyOfRange(FILE, 10, FILE.length);
        noIdentifier[0] = 1;
        assertThat(feed(noIdentifier, 100).damage()).contains("does not start with a Snappy stream identifier");
    }

    /** An upload of no changes: the flag and the stream identifier alone. */
    @Test
    void anEmptyUploadDecompressesToNothing() {
        ChangelogFileContent content = feed(compressed(new byte[0]), 3);
        assertThat(content.damage()).isNull();
        assertThat(content.decompressedLength()).isZero();
    }

    /**
     * Where Snappy's native library cannot load, each compressed chunk's length comes from its own
     * preamble: a whole file still adds up, one cut short is still told (its checksums go unchecked).
     */
    @Test
    void withoutSnappysNativeLibraryLengthsStillAddUp() {
        ChangelogFileContent.nativeSnappyUnavailable(true);
        try {
            ChangelogFileContent whole = feed(FILE, 4096);
            assertThat(whole.damage()).isNull();
            assertThat(whole.decompressedLength()).isEqualTo(CHANGES.length);
            assertThat(feed(Arrays.copyOf(FILE, FILE.length - 1), 4096).cutShort()).isTrue();
        } finally {
            ChangelogFileContent.nativeSnappyUnavailable(false);
        }
    }

    @Test
    void anUncompressedOrEmptyFileIsLeftToItsSize() {
        byte[] plain = new byte[100];
        ChangelogFileContent content = feed(plain, 7);
        assertThat(content.flag()).isZero();
        assertThat(content.damage()).isNull();
        assertThat(feed(new byte[0], 1).flag()).isEqualTo(ChangelogFileContent.NO_FLAG);
    }

    private static ChangelogFileContent feed(byte[] file, int split) {
        ChangelogFileContent content = new ChangelogFileContent();
        for (int off = 0; off < file.length; off += split) {
            if (split == 1) {
                content.write(file[off]);
            } else {
                content.write(file, off, Math.min(split, file.length - off));
            }
        }
        return content;
    }

    private static byte[] changes() {
        byte[] bytes = new byte[300_000];
        Random random = new Random(42);
        byte[] noise = new byte[100_000];
        random.nextBytes(noise);
        System.arraycopy(noise, 0, bytes, 0, noise.length);
        for (int i = noise.length; i < bytes.length; i += 1000) {
            Arrays.fill(bytes, i, Math.min(i + 1000, bytes.length), (byte) (i / 1000));
        }
        return bytes;
    }

    /** Whether the file holds both kinds of data chunk, as the test data means it to. */
    @Test
    void theTestFileHoldsBothKindsOfChunk() {
        java.util.Set<Integer> types = new java.util.HashSet<>();
        int pos = 1;
        while (pos < FILE.length) {
            types.add(FILE[pos] & 0xff);
            pos += 4 + ((FILE[pos + 1] & 0xff) | (FILE[pos + 2] & 0xff) << 8 | (FILE[pos + 3] & 0xff) << 16);
        }
        assertThat(types).containsExactlyInAnyOrder(0xff, 0x00, 0x01);
    }

    private static byte[] compressed(byte[] changes) {
        try {
            ByteArrayOutputStream file = new ByteArrayOutputStream();
            file.write(1);
            try (OutputStream out = SnappyStreamCompressionDecorator.INSTANCE.decorateWithCompression(file)) {
                out.write(changes);
            }
            return file.toByteArray();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
