package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.StorageUnreadableException;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;

/**
 * Reads a {@code _metadata} file with Flink's own reader, after {@link MetadataStructure} proved
 * that every count and length in it fits the file: a hostile or damaged file fails fast with an
 * IOException naming the byte, never with an OutOfMemoryError or minutes of work.
 */
public final class CheckpointMetadataReader {

    public static final String METADATA_FILE = "_metadata";

    private CheckpointMetadataReader() {}

    /**
     * Loads the metadata of the checkpoint in {@code checkpointDir}. The directory is passed as the
     * external pointer, so that relative state handles resolve against it.
     */
    public static CheckpointMetadata load(Path checkpointDir, ClassLoader classLoader) throws IOException {
        return load(checkpointDir, new Path(checkpointDir, METADATA_FILE), classLoader);
    }

    /**
     * As {@link #load(Path, ClassLoader)}, from a metadata file named otherwise: Flink restores
     * from any file a restore path names, its directory being the checkpoint's.
     */
    public static CheckpointMetadata load(Path checkpointDir, Path metadata, ClassLoader classLoader) throws IOException {
        FileSystem fs = metadata.getFileSystem();
        try (FSDataInputStream in = fs.open(metadata)) {
            return parse(in.readAllBytes(), checkpointDir, metadata, classLoader);
        }
    }

    /**
     * Parses the bytes of a {@code _metadata} file. Any failure becomes an IOException naming the
     * file; so do bytes after the end of the metadata, which Flink never writes (Flink's reader
     * would ignore them, but the file is then not the one Flink wrote).
     */
    public static CheckpointMetadata parse(byte[] bytes, Path checkpointDir, ClassLoader classLoader) throws IOException {
        return parse(bytes, checkpointDir, new Path(checkpointDir, METADATA_FILE), classLoader);
    }

    /** As {@link #parse(byte[], Path, ClassLoader)}, of {@code file}, a metadata file maybe named otherwise. */
    public static CheckpointMetadata parse(byte[] bytes, Path checkpointDir, Path file, ClassLoader classLoader)
            throws IOException {
        MetadataStructure structure;
        try {
            structure = MetadataStructure.walk(bytes);
        } catch (IOException | RuntimeException e) {
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): " + describe(e), e);
        }
        if (structure.trailingBytes() > 0) {
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): " + structure.trailingBytes()
                    + " bytes follow the end of the metadata; Flink writes none, so the file was altered");
        }
        try (DataInputStream data = new DataInputStream(new ByteArrayInputStream(bytes))) {
            // the file as the pointer, as when a restore path names it: Flink's reader then looks up
            // that file alone (one HEAD on S3), and a file named otherwise resolves as Flink would
            // resolve it, where the directory would send it looking for a _metadata
            String pointer = file.getParent() != null && PathKey.of(file.getParent()).equals(PathKey.of(checkpointDir))
                    ? file.toString() : checkpointDir.toString();
            return Checkpoints.loadCheckpointMetadata(data, classLoader, pointer);
        } catch (IOException | RuntimeException e) {
            IOException lookup = directoryLookupFailure(e);
            if (lookup instanceof FileNotFoundException) {
                throw (IOException) new FileNotFoundException("Cannot read " + file + ": it was gone when Flink's"
                        + " reader looked it up again to resolve the relative state handles: " + describe(lookup))
                        .initCause(e);
            }
            if (lookup != null) {
                throw new StorageUnreadableException("look up (to resolve the relative state handles of its metadata)",
                        file, lookup);
            }
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): " + describe(e), e);
        }
    }

    /** Flink's message when the lookup of the checkpoint's directory failed (2.3 and 1.20). */
    private static final String POINTER_LOOKUP_FAILED = "Could not parse external pointer as state base path";

    /**
     * The storage's failure when Flink's reader, resolving a relative state handle (every exclusive
     * file without entropy, every savepoint's file), looked up the checkpoint's directory and its
     * {@code _metadata} again ({@code AbstractFsCheckpointStorageAccess.resolveCheckpointPointer}):
     * a request that failed (access denied, throttled, unreachable), not a byte of the metadata.
     * Null when the failure came from elsewhere.
     */
    private static IOException directoryLookupFailure(Throwable e) {
        for (Throwable t = e; t != null && t.getCause() != t; t = t.getCause()) {
            if (t instanceof IOException && POINTER_LOOKUP_FAILED.equals(t.getMessage())
                    && t.getCause() instanceof IOException lookup) {
                return lookup;
            }
        }
        return null;
    }

    private static String describe(Throwable e) {
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + msg;
    }
}
