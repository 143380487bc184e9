package io.github.s3tiered.inspector.orphans;

import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;

import java.util.List;
import java.util.Map;

/**
 * What keeps the changelog state backend's materialization in progress from being taken for
 * orphans. A materialization writes RocksDB's (or the heap's) files into the job's {@code
 * taskowned/} as it runs, and no {@code _metadata} names them until it has completed and a
 * checkpoint after it has too; Flink sets it no timeout. A subtask's materializations run one after
 * the other, so the files of the one in progress are newer than every file of the last one a
 * checkpoint holds for that subtask. An unreferenced file in {@code taskowned/} may therefore be
 * called an orphan only when it is older than the newest file of the last materialization of every
 * subtask, as the job's newest checkpoint with changelog state holds them (S3's stamps on both sides).
 */
final class MaterializationsInProgress {

    /** S3 stamps modification times in whole seconds: a file of the same second may be newer. */
    static final long STAMP_MARGIN_MILLIS = 1_000;

    private long newestCheckpointId = Long.MIN_VALUE;
    private List<List<Path>> newest = List.of();

    /** A checkpoint of the job's own directory, with {@code CheckpointReferences#materializations()}. */
    void offer(long checkpointId, List<List<Path>> materializations) {
        if (!materializations.isEmpty() && checkpointId > newestCheckpointId) {
            newestCheckpointId = checkpointId;
            newest = materializations;
        }
    }

    /** Whether any checkpoint offered holds changelog state. */
    boolean any() {
        return !newest.isEmpty();
    }

    /**
     * The newest modification time an unreferenced file of {@code taskowned/} may have to be an
     * orphan, given the modification times of its files by {@link PathKey} and by its path part: {@code Long.MAX_VALUE}
     * without changelog state, {@code Long.MIN_VALUE} (keep every file) when a subtask's last
     * materialization has no file there to date it (all inline, or files of another job's
     * directory after a restore).
     */
    long orphanedBefore(Map<String, Long> taskOwnedTimes) {
        if (newest.isEmpty()) {
            return Long.MAX_VALUE;
        }
        long bound = Long.MAX_VALUE;
        for (List<Path> materialization : newest) {
            long last = Long.MIN_VALUE;
            for (Path file : materialization) {
                String key = PathKey.of(file);
                Long time = taskOwnedTimes.get(key);
                if (time == null) {
                    // _metadata and the listing may spell one file differently (hdfs:///x and hdfs://ns1/x)
                    time = taskOwnedTimes.get(PathKey.pathPart(key));
                }
                if (time != null && time > 0) {
                    last = Math.max(last, time);
                }
            }
            if (last == Long.MIN_VALUE) {
                return Long.MIN_VALUE;
            }
            bound = Math.min(bound, last);
        }
        return bound - STAMP_MARGIN_MILLIS;
    }
}
