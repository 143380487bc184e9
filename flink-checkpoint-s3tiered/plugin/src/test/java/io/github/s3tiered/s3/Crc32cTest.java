package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.zip.CRC32C;

class Crc32cTest {

    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    @Test
    void combiningRangeChecksumsGivesTheWholeFilesChecksum() {
        Random random = new Random(7);
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        random.nextBytes(data);
        for (int split : new int[] {0, 1, 1000, 1024 * 1024, data.length - 1, data.length}) {
            int combined = Crc32c.combine(crc(data, 0, split), crc(data, split, data.length - split), data.length - split);
            assertThat(combined).as("split at %d", split).isEqualTo(crc(data, 0, data.length));
        }
        // Many ranges, as a ranged download produces them.
        int acc = crc(data, 0, 0);
        int range = 300_001;
        for (int off = 0; off < data.length; off += range) {
            int len = Math.min(range, data.length - off);
            acc = Crc32c.combine(acc, crc(data, off, len), len);
        }
        assertThat(acc).isEqualTo(crc(data, 0, data.length));
    }

    @Test
    void hexRoundTrip() {
        assertThat(Crc32c.toHex(0x0000abcd)).isEqualTo("0000abcd");
        assertThat(Crc32c.fromHex("ffffffff")).isEqualTo(-1);
        assertThat(Crc32c.fromHex("zz")).isNull();
    }
}
