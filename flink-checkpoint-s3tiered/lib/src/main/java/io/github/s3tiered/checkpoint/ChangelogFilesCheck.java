package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A checkpoint of a job with the changelog state backend completes only when every file of
 * changes it names exists. Flink's changelog writer does not report a failed upload: its stream's
 * {@code close()} ({@code OutputStreamWithPos} in flink-dstl-dfs) catches the close's failure,
 * deletes the path and returns, and the upload's handle goes to the JobManager. On S3 the close is
 * the upload, so an S3 outage, a denial or a full local disk there became a completed checkpoint
 * that names a file S3 never held, and every later one until the next materialization. Here the
 * {@code _metadata} stream, when finalized, looks up each such file not seen before (one status
 * call) and fails the checkpoint, naming it, when one is missing; Flink then handles it as any
 * failed checkpoint.
 *
 * <p>Only the changelog's files: Flink's other writers fail their checkpoint when a close fails.
 */
final class ChangelogFilesCheck {

    /** Files found before; each later checkpoint names most of them again until a materialization. */
    private static final int REMEMBERED = 100_000;

    private final ClassLoader classLoader;
    /** Guarded by itself. */
    private final Set<Path> found = Collections.newSetFromMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Path, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    });

    ChangelogFilesCheck(ClassLoader classLoader) {
        this.classLoader = classLoader;
    }

    /** {@code out} with the check made before it is finalized. */
    CheckpointMetadataOutputStream wrap(CheckpointMetadataOutputStream out, Path checkpointDir) {
        return checkpointDir == null ? out : new Checked(out, checkpointDir);
    }

    /**
     * Throws, naming the file, when a file of changes {@code metadata} names is not there.
     */
    void requireFilesExist(byte[] metadata, Path checkpointDir) throws IOException {
        CheckpointMetadata parsed = CheckpointMetadataReader.parse(metadata, checkpointDir, classLoader);
        for (Path file : changelogFiles(parsed)) {
            synchronized (found) {
                if (found.contains(file)) {
                    continue;
                }
            }
            FileStatus status;
            try {
                status = file.getFileSystem().getFileStatus(file);
            } catch (FileNotFoundException e) {
                status = null;
            }
            if (status == null || status.isDir()) {
                throw new IOException("Checkpoint " + parsed.getCheckpointId() + " names the changelog file " + file
                        + ", which does not exist: its upload failed, and Flink's changelog writer does not report"
                        + " that (it deletes the file instead). The checkpoint is not completed.");
            }
            synchronized (found) {
                found.add(file);
            }
        }
    }

    /** The files of changes since the last materialization, each once. */
    static List<Path> changelogFiles(CheckpointMetadata metadata) {
        Set<Path> files = new LinkedHashSet<>();
        for (OperatorState op : metadata.getOperatorStates()) {
            for (OperatorSubtaskState subtask : op.getStates()) {
                List<KeyedStateHandle> keyed = new ArrayList<>(subtask.getManagedKeyedState());
                keyed.addAll(subtask.getRawKeyedState());
                for (KeyedStateHandle h : keyed) {
                    if (!(h instanceof ChangelogStateBackendHandle backend)) {
                        continue;
                    }
                    for (ChangelogStateHandle changes : backend.getNonMaterializedStateHandles()) {
                        if (changes instanceof ChangelogStateHandleStreamImpl stream) {
                            for (Tuple2<StreamStateHandle, Long> part : stream.getHandlesAndOffsets()) {
                                if (part.f0 instanceof FileStateHandle file) {
                                    files.add(file.getFilePath());
                                }
                            }
                        }
                    }
                }
            }
        }
        return new ArrayList<>(files);
    }

    /** Keeps a copy of the bytes (a few KiB to MiB) to check them when the checkpoint is finalized. */
    private final class Checked extends ForwardingMetadataOutputStream {
        private final CheckpointMetadataOutputStream out;
        private final Path checkpointDir;
        private final ByteArrayOutputStream copy = new ByteArrayOutputStream();

        Checked(CheckpointMetadataOutputStream out, Path checkpointDir) {
            super(out);
            this.out = out;
            this.checkpointDir = checkpointDir;
        }

        @Override
        public void write(int b) throws IOException {
            super.write(b);
            copy.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            super.write(b, off, len);
            copy.write(b, off, len);
        }

        @Override
        public CompletedCheckpointStorageLocation closeAndFinalizeCheckpoint() throws IOException {
            try {
                requireFilesExist(copy.toByteArray(), checkpointDir);
            } catch (IOException | RuntimeException e) {
                out.close(); // discarded: no _metadata of a checkpoint that is not complete
                throw e;
            }
            return out.closeAndFinalizeCheckpoint();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
