package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.DaemonThreads;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
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

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A checkpoint of a job with the changelog state backend completes only when every file of
 * changes it names exists. Flink's changelog writer does not report a failed upload: its stream's
 * {@code close()} ({@code OutputStreamWithPos} in flink-dstl-dfs) catches the close's failure,
 * deletes the path and returns, and the upload's handle goes to the JobManager. On S3 the close is
 * the upload, so an S3 outage, a denial or a full local disk there became a completed checkpoint
 * that names a file S3 never held, and every later one until the next materialization. Here the
 * {@code _metadata} stream, when finalized, looks up each such file not seen before (one status
 * call each, in parallel) and fails the checkpoint, naming it, when one is missing; Flink then
 * handles it as any failed checkpoint.
 *
 * <p>Only the changelog's files: Flink's other writers fail their checkpoint when a close fails.
 */
final class ChangelogFilesCheck {

    private static final Logger LOG = LoggerFactory.getLogger(ChangelogFilesCheck.class);

    /**
     * The files the last checkpoint checked named, all found: each later checkpoint names most of
     * them again until a materialization. Only the last one's, so its size is one checkpoint's
     * files. Guarded by this.
     */
    private Set<Path> found = Set.of();

    private final ClassLoader classLoader;
    /** Created at the first lookup; guarded by this. */
    private ExecutorService lookups;

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
        try {
            // installed whatever the configuration says (a job may turn the changelog on in its own,
            // which the storage, configured by the cluster's, does not see): a job without it pays one
            // walk of the bytes, no request
            if (!io.github.s3tiered.inspector.metadata.MetadataStructure.walk(metadata).hasChangelogHandles()) {
                return;
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not walk the _metadata just written to {} to check its changelog files; not checked: {}",
                    checkpointDir, e.toString());
            return;
        }
        CheckpointMetadata parsed;
        try {
            parsed = parseBeforeItIsWritten(metadata, checkpointDir);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not read the _metadata just written to {} to check its changelog files; not checked: {}",
                    checkpointDir, e.toString());
            return;
        }
        List<Path> named = changelogFiles(parsed);
        List<Path> unseen = new ArrayList<>();
        synchronized (this) {
            for (Path file : named) {
                if (!found.contains(file)) {
                    unseen.add(file);
                }
            }
        }
        // one status call each, in parallel: a job with many TaskManagers names a new file for each
        // (one upload per TaskManager and checkpoint), and the calls are on the path to its completion
        List<Future<Boolean>> pending = new ArrayList<>();
        try {
            for (Path file : unseen) {
                pending.add(lookups().submit(() -> exists(file)));
            }
            for (int i = 0; i < unseen.size(); i++) {
                Path file = unseen.get(i);
                boolean there;
                try {
                    there = pending.get(i).get();
                } catch (ExecutionException e) {
                    throw new IOException("Could not look up the changelog file " + file + " that checkpoint "
                            + parsed.getCheckpointId() + " names: " + e.getCause(), e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while looking up the changelog file " + file);
                }
                if (!there) {
                    throw new IOException("Checkpoint " + parsed.getCheckpointId() + " names the changelog file " + file
                            + ", which does not exist: its upload failed, and Flink's changelog writer does not report"
                            + " that (it deletes the file instead). The checkpoint is not completed.");
                }
            }
        } finally {
            pending.forEach(f -> f.cancel(true)); // those not needed any more: done, or the check failed
        }
        synchronized (this) {
            found = new HashSet<>(named);
        }
    }

    /**
     * Flink's own reader (what this check must not be stricter than). A relative handle (an
     * exclusive file without entropy: a large operator state, in-flight data) makes it look the
     * checkpoint up by its pointer, and a directory's lookup asks for a {@code _metadata}, which is
     * not written yet: then one of the checkpoint's own files is the pointer, as a restore path
     * naming a metadata file is (its directory is the checkpoint's).
     */
    private CheckpointMetadata parseBeforeItIsWritten(byte[] metadata, Path checkpointDir) throws IOException {
        try {
            return Checkpoints.loadCheckpointMetadata(new DataInputStream(new ByteArrayInputStream(metadata)), classLoader,
                    checkpointDir.toString());
        } catch (IOException first) {
            FileStatus[] entries;
            try {
                entries = checkpointDir.getFileSystem().listStatus(checkpointDir);
            } catch (IOException e) {
                first.addSuppressed(e);
                throw first;
            }
            for (FileStatus entry : entries == null ? new FileStatus[0] : entries) {
                String name = entry.getPath().getName();
                // not the _metadata being written, nor a file being written beside it (._metadata.inprogress.*)
                if (!entry.isDir() && !name.equals("_metadata") && !name.startsWith(".")) {
                    return Checkpoints.loadCheckpointMetadata(new DataInputStream(new ByteArrayInputStream(metadata)),
                            classLoader, entry.getPath().toString());
                }
            }
            throw first;
        }
    }

    private static boolean exists(Path file) throws IOException {
        try {
            FileStatus status = file.getFileSystem().getFileStatus(file);
            return status != null && !status.isDir();
        } catch (FileNotFoundException e) {
            return false;
        }
    }

    /**
     * This job's lookup threads (a few, daemons, ended when idle): a job whose lookups hang in
     * S3's retries does not hold up another job's, each under its own coordinator's lock.
     */
    private synchronized ExecutorService lookups() {
        if (lookups == null) {
            ThreadPoolExecutor pool = new ThreadPoolExecutor(8, 8, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                    DaemonThreads.named("s3tiered-changelog-check", ChangelogFilesCheck.class.getClassLoader()));
            pool.allowCoreThreadTimeOut(true);
            lookups = pool;
        }
        return lookups;
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

    /** Checks the bytes written when the checkpoint is finalized. */
    private final class Checked extends CopyingMetadataOutputStream {
        private final Path checkpointDir;

        Checked(CheckpointMetadataOutputStream out, Path checkpointDir) {
            super(out);
            this.checkpointDir = checkpointDir;
        }

        @Override
        public CompletedCheckpointStorageLocation closeAndFinalizeCheckpoint() throws IOException {
            try {
                requireFilesExist(bytes(), checkpointDir);
            } catch (IOException | RuntimeException e) {
                out.close(); // discarded: no _metadata of a checkpoint that is not complete
                throw e;
            }
            return out.closeAndFinalizeCheckpoint();
        }
    }
}
