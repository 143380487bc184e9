package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.metadata.MetadataStructure;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
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
            return Checkpoints.loadCheckpointMetadata(data, classLoader, checkpointDir.toString());
        } catch (IOException | RuntimeException e) {
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): " + describe(e), e);
        }
    }

    private static String describe(Throwable e) {
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + msg;
    }
}
