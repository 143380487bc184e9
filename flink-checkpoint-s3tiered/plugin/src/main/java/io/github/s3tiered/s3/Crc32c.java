package io.github.s3tiered.s3;

import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/** CRC32C helpers: hex form as stored in object and tier metadata, and whole-file checksums. */
public final class Crc32c {

    private Crc32c() {}

    public static String toHex(int crc) {
        return String.format("%08x", crc);
    }

    public static Integer fromHex(String hex) {
        try {
            return (int) Long.parseLong(hex.trim(), 16);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static final int POLY_REFLECTED = 0x82F63B78;

    /**
     * The CRC32C of the concatenation A+B from crc(A), crc(B) and the length of B, without reading
     * the data again (zlib's crc32_combine, with the Castagnoli polynomial). Lets ranges that were
     * downloaded in parallel be verified as one file.
     */
    public static int combine(int crcA, int crcB, long lengthB) {
        if (lengthB <= 0) {
            return crcA;
        }
        int[] even = new int[32];
        int[] odd = new int[32];
        odd[0] = POLY_REFLECTED; // operator for one zero bit
        int row = 1;
        for (int n = 1; n < 32; n++) {
            odd[n] = row;
            row <<= 1;
        }
        gf2MatrixSquare(even, odd); // two zero bits
        gf2MatrixSquare(odd, even); // four zero bits
        int crc1 = crcA;
        long len2 = lengthB;
        do {
            gf2MatrixSquare(even, odd);
            if ((len2 & 1) != 0) {
                crc1 = gf2MatrixTimes(even, crc1);
            }
            len2 >>>= 1;
            if (len2 == 0) {
                break;
            }
            gf2MatrixSquare(odd, even);
            if ((len2 & 1) != 0) {
                crc1 = gf2MatrixTimes(odd, crc1);
            }
            len2 >>>= 1;
        } while (len2 != 0);
        return crc1 ^ crcB;
    }

    private static int gf2MatrixTimes(int[] mat, int vec) {
        int sum = 0;
        int i = 0;
        while (vec != 0) {
            if ((vec & 1) != 0) {
                sum ^= mat[i];
            }
            vec >>>= 1;
            i++;
        }
        return sum;
    }

    private static void gf2MatrixSquare(int[] square, int[] mat) {
        for (int n = 0; n < 32; n++) {
            square[n] = gf2MatrixTimes(mat, mat[n]);
        }
    }

    /**
     * CRC32C of a whole file. Read through a {@code java.io} stream, not a channel: an interrupt
     * of the reading thread (Flink cancelling a restore) closes a channel, and an intact local
     * copy would be taken for damaged and dropped.
     */
    public static int ofFile(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[256 * 1024];
        try (InputStream in = new FileInputStream(file.toFile())) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                crc.update(buf, 0, n);
            }
        } catch (FileNotFoundException e) {
            if (Files.notExists(file)) {
                throw new NoSuchFileException(file.toString());
            }
            throw e;
        }
        return (int) crc.getValue();
    }
}
