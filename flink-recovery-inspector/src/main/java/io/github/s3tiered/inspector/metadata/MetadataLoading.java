package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.StorageUnreadableException;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;

/**
 * Reads a checkpoint's {@code _metadata} as the storage durably holds it, checks it against the
 * CRC32C recorded at upload (on {@code s3tiered://}), and parses it. Each way it can go wrong has
 * its own verdict: gone (NO_METADATA), storage unreadable (UNKNOWN), damaged (CORRUPT_METADATA).
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class MetadataLoading {

    /** Flink keeps the whole metadata in memory too; anything larger was not written by it. */
    static final long MAX_METADATA_BYTES = 1L << 30;

    /**
     * The outcome: {@code metadata} when it could be read, else the {@code problem}.
     *
     * @param read the durable read, null when the read failed
     */
    public record Loaded(CheckpointMetadata metadata, FileSystemCalls.DurableRead read, Problem problem) {}

    private MetadataLoading() {}

    public static Loaded load(Path checkpointDir, FileSystemCalls calls, ChecksumSource checksums, ClassLoader classLoader) {
        return load(checkpointDir, new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE), calls, checksums, classLoader);
    }

    /**
     * As {@link #load(Path, FileSystemCalls, ChecksumSource, ClassLoader)}, from a metadata file
     * named otherwise (Flink restores from any file a restore path names, its directory being the
     * checkpoint's).
     */
    public static Loaded load(Path checkpointDir, Path file, FileSystemCalls calls, ChecksumSource checksums,
            ClassLoader classLoader) {
        CappedBuffer bytes = new CappedBuffer();
        FileSystemCalls.DurableRead read;
        try {
            read = calls.readDurable(file, bytes, checksums);
        } catch (FileNotFoundException e) {
            return new Loaded(null, null, new Problem(Verdict.NO_METADATA, file.toString(), "listed but gone when read: " + e.getMessage()));
        } catch (IOException e) {
            if (e.getCause() instanceof TooLargeException tooLarge) {
                return new Loaded(null, null, new Problem(Verdict.CORRUPT_METADATA, file.toString(), tooLarge.getMessage()));
            }
            return new Loaded(null, null, new Problem(Verdict.UNKNOWN, file.toString(), e.getMessage()));
        }
        if (!read.checksumMatches()) {
            return new Loaded(null, read, new Problem(Verdict.CORRUPT_METADATA, file.toString(), String.format(
                    "its CRC32C is %08x, the one recorded when it was written is %08x: the file was altered",
                    Integer.toUnsignedLong(read.crc32c()), read.recordedCrc32c().getAsLong())));
        }
        try {
            return new Loaded(CheckpointMetadataReader.parse(bytes.toByteArray(), checkpointDir, file, classLoader), read, null);
        } catch (FileNotFoundException e) {
            // Flink's reader looked the directory up again to resolve relative handles: deleted meanwhile
            return new Loaded(null, read, new Problem(Verdict.NO_METADATA, file.toString(), e.getMessage()));
        } catch (StorageUnreadableException e) {
            // that lookup was not answered: nothing is known about the bytes, which were fine so far
            return new Loaded(null, read, new Problem(Verdict.UNKNOWN, file.toString(), e.getMessage()));
        } catch (IOException e) {
            return new Loaded(null, read, new Problem(Verdict.CORRUPT_METADATA, file.toString(), e.getMessage()));
        }
    }

    private static final class TooLargeException extends IOException {
        private static final long serialVersionUID = 1L;

        TooLargeException(String message) {
            super(message);
        }
    }

    /** Collects the bytes, refusing more than {@link #MAX_METADATA_BYTES}. */
    private static final class CappedBuffer extends OutputStream {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (out.size() + (long) len > MAX_METADATA_BYTES) {
                throw new TooLargeException("larger than " + MAX_METADATA_BYTES + " bytes: not a _metadata Flink wrote");
            }
            out.write(b, off, len);
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }
    }
}
