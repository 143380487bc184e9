package io.github.s3tiered.inspector.rehearsal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * A strict check of a file in RocksDB's log format (a MANIFEST): 32 KiB blocks of records, each a
 * header (masked CRC32C, length, type) and its payload, the checksum covering type and payload;
 * records of one entry go FULL, or FIRST, MIDDLE..., LAST; the few bytes too short for a header at
 * the end of a block are zero. RocksDB's own reader, as a restore runs it, forgives a damaged last
 * record (it reads it as a torn write and drops the entry without an error): the restored database
 * then misses that version edit. A MANIFEST that Flink uploaded was complete, so here every byte
 * must check out.
 */
final class RocksDbLogFile {

    private static final int BLOCK_SIZE = 32768;
    private static final int HEADER_SIZE = 7;
    private static final int ZERO = 0;
    private static final int FULL = 1;
    private static final int FIRST = 2;
    private static final int MIDDLE = 3;
    private static final int LAST = 4;
    private static final int MASK_DELTA = 0xa282ead8;

    private RocksDbLogFile() {}

    /** Throws a StateDecodingException naming the byte where the file stops being a valid log. */
    static void verify(Path file, String name) throws IOException, StateDecodingException {
        verify(file, name, null);
    }

    /** As {@link #verify(Path, String)}, handing each complete entry (a version edit) to {@code entries}. */
    static void verify(Path file, String name, java.util.function.Consumer<byte[]> entries)
            throws IOException, StateDecodingException {
        java.io.ByteArrayOutputStream entry = new java.io.ByteArrayOutputStream();
        long size = Files.size(file);
        byte[] block = new byte[BLOCK_SIZE];
        boolean inEntry = false;
        long records = 0;
        try (InputStream in = Files.newInputStream(file)) {
            for (long blockStart = 0; blockStart < size; blockStart += BLOCK_SIZE) {
                int n = in.readNBytes(block, 0, BLOCK_SIZE);
                int pos = 0;
                while (pos < n) {
                    long at = blockStart + pos;
                    if (n - pos < HEADER_SIZE) {
                        for (int i = pos; i < n; i++) {
                            if (block[i] != 0) {
                                throw damage(name, at, "non-zero byte in the padding at the end of a block");
                            }
                        }
                        break;
                    }
                    int masked = (block[pos] & 0xff) | (block[pos + 1] & 0xff) << 8 | (block[pos + 2] & 0xff) << 16
                            | (block[pos + 3] & 0xff) << 24;
                    int length = (block[pos + 4] & 0xff) | (block[pos + 5] & 0xff) << 8;
                    int type = block[pos + 6] & 0xff;
                    if (type == ZERO && length == 0 && masked == 0) {
                        throw damage(name, at, "an empty record (RocksDB pre-allocated space) where Flink's copy ends"
                                + " with its last record");
                    }
                    if (pos + HEADER_SIZE + length > n) {
                        throw damage(name, at, "a record of " + length + " bytes runs past the end of its block");
                    }
                    CRC32C crc = new CRC32C();
                    crc.update(block, pos + 6, 1 + length);
                    if (unmask(masked) != (int) crc.getValue()) {
                        throw damage(name, at, "record checksum mismatch");
                    }
                    switch (type) {
                        case FULL -> {
                            if (inEntry) {
                                throw damage(name, at, "a complete record inside a fragmented one");
                            }
                            entry.reset();
                        }
                        case FIRST -> {
                            if (inEntry) {
                                throw damage(name, at, "a first fragment inside a fragmented record");
                            }
                            inEntry = true;
                            entry.reset();
                        }
                        case MIDDLE, LAST -> {
                            if (!inEntry) {
                                throw damage(name, at, "a fragment without its first part");
                            }
                            inEntry = type == MIDDLE;
                        }
                        default -> throw damage(name, at, "unknown record type " + type);
                    }
                    if (entries != null) {
                        entry.write(block, pos + HEADER_SIZE, length);
                        if (type == FULL || type == LAST) {
                            entries.accept(entry.toByteArray());
                        }
                    }
                    records++;
                    pos += HEADER_SIZE + length;
                }
            }
        }
        if (inEntry) {
            throw damage(name, size, "the file ends inside a fragmented record");
        }
        if (records == 0) {
            throw damage(name, 0, "no records");
        }
    }

    private static int unmask(int masked) {
        int rot = masked - MASK_DELTA;
        return (rot >>> 17) | (rot << 15);
    }

    private static StateDecodingException damage(String name, long at, String what) {
        return new StateDecodingException(name + " byte " + at + ": " + what, true, null);
    }
}
