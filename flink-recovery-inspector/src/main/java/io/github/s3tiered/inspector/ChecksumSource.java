package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.OptionalLong;

/**
 * Where deep validation finds the checksum a file had when it was written. The default,
 * {@link io.github.s3tiered.inspector.storage.FileSystemChecksums}, asks the tiered file system, which records a CRC32C per object.
 */
public interface ChecksumSource {

    /** True when the file's file system can record checksums at all (no request made). */
    boolean recordsChecksums(Path file) throws IOException;

    /**
     * The CRC32C recorded for the file when it was written, as an unsigned 32-bit value; empty when
     * none was recorded (for example a file written by another tool).
     */
    OptionalLong recordedCrc32c(Path file) throws IOException;
}
