package io.github.s3tiered.inspector.storage;

import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.ChecksumSource;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The checksums the tiered file system ({@code s3tiered://}) records per object, asked through
 * {@link S3TieredBridge}. Any other file system records nothing. The default of
 * {@link io.github.s3tiered.inspector.CheckpointInspector} (public: a caller of its four-argument
 * constructor may pass it).
 */
public final class FileSystemChecksums implements ChecksumSource {

    @Override
    public boolean recordsChecksums(Path file) throws IOException {
        return S3TieredBridge.forReads(file).isPresent();
    }

    @Override
    public OptionalLong recordedCrc32c(Path file) throws IOException {
        Optional<S3TieredBridge> fs = S3TieredBridge.forReads(file);
        return fs.isEmpty() ? OptionalLong.empty() : fs.get().recordedChecksum(file).crc32c();
    }
}
