package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;

/** Reads a {@code _metadata} file with Flink's own reader. */
public final class CheckpointMetadataReader {

    public static final String METADATA_FILE = "_metadata";

    private CheckpointMetadataReader() {}

    /**
     * Loads the metadata of the checkpoint in {@code checkpointDir}. The directory is passed as the
     * external pointer, so that relative state handles resolve against it.
     */
    public static CheckpointMetadata load(Path checkpointDir, ClassLoader classLoader) throws IOException {
        Path metadata = new Path(checkpointDir, METADATA_FILE);
        FileSystem fs = metadata.getFileSystem();
        try (FSDataInputStream in = fs.open(metadata)) {
            return parse(in.readAllBytes(), checkpointDir, classLoader);
        }
    }

    /**
     * Parses the bytes of a {@code _metadata} file. Any failure, including a garbled length that
     * would make Flink's reader allocate an impossible array, becomes an IOException naming the file.
     */
    public static CheckpointMetadata parse(byte[] bytes, Path checkpointDir, ClassLoader classLoader) throws IOException {
        Path file = new Path(checkpointDir, METADATA_FILE);
        try (DataInputStream data = new DataInputStream(new ByteArrayInputStream(bytes))) {
            return Checkpoints.loadCheckpointMetadata(data, classLoader, checkpointDir.toString());
        } catch (IOException | RuntimeException e) {
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): " + describe(e), e);
        } catch (OutOfMemoryError e) {
            throw new IOException("Cannot read " + file + " (" + bytes.length + " bytes): it declares an impossible length", e);
        }
    }

    private static String describe(Throwable e) {
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + msg;
    }
}
