package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

/**
 * A file, or a stray checkpoint directory, that no retained checkpoint references.
 *
 * @param path the file or directory
 * @param kind what it is
 * @param bytes its size (for a directory, the sum of the files directly in it)
 * @param modificationTime ms since the epoch (for a directory, its newest entry)
 */
public record OrphanFile(Path path, Kind kind, long bytes, long modificationTime) {

    public enum Kind {
        /** A file under {@code shared/}. */
        SHARED_FILE,
        /** A file under {@code taskowned/}. */
        TASK_OWNED_FILE,
        /** A {@code chk-N} directory without {@code _metadata}: an aborted checkpoint's leftovers. */
        STRAY_CHECKPOINT_DIRECTORY
    }
}
