package io.github.s3tiered.checkpoint;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;

/**
 * Whether a checkpoint's {@code _metadata} could not be created because a file was already there:
 * the retained checkpoint of an earlier run under the same job id, whose checkpoint counter began
 * again below it (application mode with HA fixes the id, and a run rolled back to an older
 * savepoint counts on from there; {@code execution.checkpointing.create-subdir: false} with a new
 * job in a used directory). Flink then disposes of the failed checkpoint by deleting its
 * directory, which is that earlier checkpoint's: its {@code _metadata} and its own files went, and
 * with them the state a rollback may need. A location that saw the collision keeps its directory.
 */
final class EarlierRunsMetadata {

    private static final Logger LOG = LoggerFactory.getLogger(EarlierRunsMetadata.class);

    /** Set once the creation of the metadata found a file there; guards the disposal. */
    private volatile boolean found;

    interface Opener {
        CheckpointMetadataOutputStream open() throws IOException;
    }

    /** Opens the metadata stream, noting a file found at its path (s3tiered's check or Flink's). */
    CheckpointMetadataOutputStream open(CheckpointStorageLocation location, Opener opener) throws IOException {
        try {
            return opener.open();
        } catch (IOException e) {
            if (isFileThere(e, location)) {
                found = true;
            }
            throw e;
        }
    }

    /**
     * True when the directory must stay (an earlier run's checkpoint is in it): the disposal then
     * deletes nothing and says why. The files this checkpoint's tasks wrote into it stay too, for
     * {@code recovery-inspector orphans}.
     */
    boolean keepsDirectoryOf(CheckpointStorageLocation location, String description) {
        if (!found) {
            return false;
        }
        LOG.error("The checkpoint in {} failed: the directory holds the _metadata of an earlier run of this job id (its checkpoint"
                + " counter began again below that run's checkpoints: a run rolled back under a fixed job id, or"
                + " execution.checkpointing.create-subdir: false with a new job). The directory is NOT deleted, so that"
                + " run's checkpoint stays restorable; the files this checkpoint wrote into it are left to"
                + " 'recovery-inspector orphans'. Checkpoints of this run fail until their ids pass that run's: give the"
                + " run a job id or checkpoint directory of its own.", description);
        return true;
    }

    private static boolean isFileThere(IOException e, CheckpointStorageLocation location) {
        if (e instanceof FileAlreadyExistsException) {
            return true; // s3tiered's check (MetadataFileOutputStream), at the start or at the creation
        }
        // Flink's own stream (a storage on another file system): "Target file <path> already exists."
        if (location instanceof FsCheckpointStorageLocation fs && e.getMessage() != null) {
            Path file = fs.getMetadataFilePath();
            return e.getMessage().equals("Target file " + file + " already exists.");
        }
        return false;
    }
}
