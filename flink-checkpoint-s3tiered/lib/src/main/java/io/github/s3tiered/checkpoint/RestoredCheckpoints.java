package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The checkpoint each job directory's job restored from, for the life of the JobManager process.
 * Flink resolves a restore path once, with the job's first checkpoint coordinator. The adaptive
 * scheduler makes a new coordinator, and with it a new storage access, at every restart, which
 * restores from Flink's checkpoint store without resolving anything; a checkpoint restored from
 * without claim stays retained all the same, and each access's orphan removal must keep what it
 * references. A JobManager process started after a failover does not know it: the listing of the
 * job directory keeps it then, as it keeps any retained checkpoint.
 *
 * <p>Kept for more job directories than a JobManager runs jobs (the oldest forgotten first): a
 * stale entry only keeps files, and only while that checkpoint's metadata is there.
 */
final class RestoredCheckpoints {

    /** A checkpoint's directory and the metadata file Flink read of it (a restore path may name one called otherwise). */
    record RestoredFrom(Path checkpointDir, Path metadataFile) {}

    private static final int MAX_JOB_DIRECTORIES = 1_000;

    private static final Map<String, RestoredFrom> BY_JOB_DIRECTORY = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, RestoredFrom> eldest) {
            return size() > MAX_JOB_DIRECTORIES;
        }
    };

    private RestoredCheckpoints() {}

    static void record(Path jobDir, RestoredFrom restoredFrom) {
        synchronized (BY_JOB_DIRECTORY) {
            BY_JOB_DIRECTORY.put(key(jobDir), restoredFrom);
        }
    }

    /** The checkpoint the job of this directory restored from in this process; null when none is known. */
    static RestoredFrom of(Path jobDir) {
        synchronized (BY_JOB_DIRECTORY) {
            return BY_JOB_DIRECTORY.get(key(jobDir));
        }
    }

    /** The same directory whatever the scheme and authority are spelled as. */
    private static String key(Path jobDir) {
        return PathKey.pathPart(PathKey.of(jobDir));
    }
}
