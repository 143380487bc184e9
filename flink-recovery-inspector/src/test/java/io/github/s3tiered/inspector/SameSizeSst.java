package io.github.s3tiered.inspector;

import org.rocksdb.CompressionType;
import org.rocksdb.EnvOptions;
import org.rocksdb.Options;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.SstFileReader;
import org.rocksdb.SstFileReaderIterator;
import org.rocksdb.SstFileWriter;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A valid SST file of exactly the size of a given one, that is not it: the same keys written again
 * by RocksDB's {@link SstFileWriter}, one value grown by random bytes until the sizes match. Its
 * block checksums are sound; its unique id is not the one the snapshot's MANIFEST recorded, so a
 * restore refuses it. What an operator's copy from the wrong place, or a mixed-up backup, puts in
 * a file's place.
 */
final class SameSizeSst {

    private SameSizeSst() {}

    static byte[] rewrite(Path sst) throws Exception {
        RocksDB.loadLibrary();
        long size = Files.size(sst);
        List<byte[][]> entries = new ArrayList<>();
        CompressionType compression;
        try (Options options = new Options(); SstFileReader reader = new SstFileReader(options)) {
            reader.open(sst.toString());
            compression = compressionOf(reader.getTableProperties().getCompressionName());
            try (ReadOptions read = new ReadOptions(); SstFileReaderIterator it = reader.newIterator(read)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    entries.add(new byte[][] {it.key(), it.value()});
                }
                it.status();
            }
        }
        if (entries.isEmpty()) {
            throw new IllegalStateException(sst + " has no entries to write again");
        }
        Path tmp = Files.createTempFile("same-size", ".sst");
        try {
            // First the original compression, then none: uncompressed, a value grown by k bytes
            // grows the file by about k, and the first keys alone fit any size above RocksDB's overhead.
            for (CompressionType c : compression == CompressionType.NO_COMPRESSION ? List.of(compression)
                    : List.of(compression, CompressionType.NO_COMPRESSION)) {
                List<byte[][]> kept = entries;
                if (c == CompressionType.NO_COMPRESSION) {
                    int low = 1;
                    int high = entries.size();
                    while (low < high) { // the most first keys whose file is not larger than the original
                        int mid = (low + high + 1) / 2;
                        if (write(tmp, entries.subList(0, mid), c, -1, 0) <= size) {
                            low = mid;
                        } else {
                            high = mid - 1;
                        }
                    }
                    kept = entries.subList(0, low);
                }
                byte[] found = sameSize(tmp, kept, c, size);
                if (found != null) {
                    return found;
                }
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        throw new IllegalStateException("no SST of exactly " + size + " bytes could be written from the keys of " + sst);
    }

    /** The bytes of a file of exactly {@code size} bytes written from the entries with one value resized, or null. */
    private static byte[] sameSize(Path tmp, List<byte[][]> entries, CompressionType compression, long size) throws Exception {
        long grow = size - write(tmp, entries, compression, -1, 0);
        for (int back = 0; back < Math.min(entries.size(), 20); back++) {
            int j = entries.size() - 1 - back;
            long k = grow;
            Set<Long> tried = new HashSet<>();
            for (int attempt = 0; attempt < 40 && entries.get(j)[1].length + k >= 1; attempt++) {
                long written = write(tmp, entries, compression, j, (int) k);
                if (written == size) {
                    return Files.readAllBytes(tmp);
                }
                long next = k + (size - written);
                if (!tried.add(next)) {
                    next = k + (size > written ? 1 : -1); // the steps overshoot (compression, a length's varint)
                }
                k = next;
            }
        }
        return null;
    }

    /** Writes the entries, value {@code j} grown by {@code k} random bytes (shrunk when negative). */
    private static long write(Path file, List<byte[][]> entries, CompressionType compression, int j, int k) throws Exception {
        Files.deleteIfExists(file);
        try (Options options = new Options().setCompressionType(compression); EnvOptions env = new EnvOptions();
                SstFileWriter writer = new SstFileWriter(env, options)) {
            writer.open(file.toString());
            for (int i = 0; i < entries.size(); i++) {
                byte[] value = entries.get(i)[1];
                if (i == j) {
                    int n = value.length;
                    value = Arrays.copyOf(value, n + k);
                    Random random = new Random(7);
                    for (int x = n; x < value.length; x++) {
                        value[x] = (byte) random.nextInt(256);
                    }
                }
                writer.put(entries.get(i)[0], value);
            }
            writer.finish();
        }
        return Files.size(file);
    }

    private static CompressionType compressionOf(String name) {
        return switch (name) {
            case "Snappy" -> CompressionType.SNAPPY_COMPRESSION;
            case "LZ4" -> CompressionType.LZ4_COMPRESSION;
            case "ZSTD" -> CompressionType.ZSTD_COMPRESSION;
            default -> CompressionType.NO_COMPRESSION;
        };
    }
}
