package io.github.s3tiered.checkpoint;

import java.util.Set;
import java.util.concurrent.ConcurrentSkipListSet;

/**
 * The checkpoints of one job that the JobManager started (a location was initialized for them)
 * and that have neither been finalized nor disposed after a failure. While any is pending, its
 * tasks may be uploading files that no {@code _metadata} references yet, so the
 * {@link OrphanSweep} does not run. A checkpoint whose end Flink never reports keeps the sweep
 * off for the job: the safe side.
 */
final class PendingCheckpoints {

    private final Set<Long> pending = new ConcurrentSkipListSet<>();

    void started(long checkpointId) {
        pending.add(checkpointId);
    }

    /** Finalized (its {@code _metadata} written) or disposed after a failure. */
    void ended(long checkpointId) {
        pending.remove(checkpointId);
    }

    boolean none() {
        return pending.isEmpty();
    }

    @Override
    public String toString() {
        return pending.toString();
    }
}
