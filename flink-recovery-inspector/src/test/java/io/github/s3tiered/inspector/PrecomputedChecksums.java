package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.zip.CRC32C;

/**
 * A {@link ChecksumSource} for {@code file://}, which records no checksums: CRC32C values computed
 * by the test from the intact files before it damages them, as the tiered file system records them
 * at upload.
 */
final class PrecomputedChecksums implements ChecksumSource {

    private final Map<String, Long> crcs = new HashMap<>();

    void record(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        try (InputStream in = Files.newInputStream(java.nio.file.Path.of(file.toUri()))) {
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = in.read(buf)) != -1) {
                crc.update(buf, 0, n);
            }
        }
        crcs.put(PathKey.of(file), crc.getValue());
    }

    @Override
    public boolean recordsChecksums(Path file) {
        return true;
    }

    @Override
    public OptionalLong recordedCrc32c(Path file) {
        Long v = crcs.get(PathKey.of(file));
        return v == null ? OptionalLong.empty() : OptionalLong.of(v);
    }
}
