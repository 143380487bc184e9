package io.github.s3tiered.checkpoint;

import java.util.Set;
import java.util.TreeSet;

/**
 * The checkpoints of one job that the JobManager started (a location was initialized for them)
 * and that have neither been finalized nor disposed after a failure. While one is pending, its
 * tasks may be uploading files that no {@code _metadata} references yet; the {@link OrphanSweep}
 * removes nothing such a checkpoint may have written. A checkpoint whose end Flink never reports
 * keeps the sweep off from then on: the safe side.
 */
final class PendingCheckpoints {

    private final Set<Long> pending = new TreeSet<>();

    synchronized void started(long checkpointId) {
        pending.add(checkpointId);
    }

    /** Disposed after a failure. */
    synchronized void ended(long checkpointId) {
        pending.remove(checkpointId);
    }

    /**
     * Finalized: its {@code _metadata} is written. Returns the checkpoints pending at that moment:
     * their files may be older than that {@code _metadata}; every checkpoint started later writes
     * younger ones.
     */
    synchronized Set<Long> finalized(long checkpointId) {
        pending.remove(checkpointId);
        return Set.copyOf(pending);
    }

    /** Whether one of {@code checkpointIds} is still pending (ids are never reused). */
    synchronized boolean anyOf(Set<Long> checkpointIds) {
        for (long id : checkpointIds) {
            if (pending.contains(id)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public synchronized String toString() {
        return pending.toString();
    }
}
