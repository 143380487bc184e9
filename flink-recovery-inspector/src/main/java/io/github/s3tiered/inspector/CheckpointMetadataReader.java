package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

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
        try (FSDataInputStream in = fs.open(metadata);
                DataInputStream data = new DataInputStream(in)) {
            return Checkpoints.loadCheckpointMetadata(data, classLoader, checkpointDir.toString());
        }
    }
}
