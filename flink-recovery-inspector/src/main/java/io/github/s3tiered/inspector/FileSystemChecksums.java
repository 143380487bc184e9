package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * The checksums the tiered file system ({@code s3tiered://}) records per object, asked through
 * {@link TieredFileSystemBridge}. Any other file system records nothing.
 */
public final class FileSystemChecksums implements ChecksumSource {

    @Override
    public boolean recordsChecksums(Path file) throws IOException {
        return TieredFileSystemBridge.of(file).isPresent();
    }

    @Override
    public OptionalLong recordedCrc32c(Path file) throws IOException {
        Optional<Object> fs = TieredFileSystemBridge.of(file);
        return fs.isEmpty() ? OptionalLong.empty() : TieredFileSystemBridge.recordedCrc32c(fs.get(), file);
    }
}
