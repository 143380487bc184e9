package io.github.s3tiered.s3;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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

    /** CRC32C of a whole file, read with a direct buffer (hardware-accelerated). */
    public static int ofFile(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf) >= 0) {
                buf.flip();
                crc.update(buf);
                buf.clear();
            }
        }
        return (int) crc.getValue();
    }
}
