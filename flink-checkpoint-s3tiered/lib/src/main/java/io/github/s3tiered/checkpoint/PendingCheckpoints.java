package io.github.s3tiered.checkpoint;

import org.apache.flink.core.fs.Path;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The checkpoints of one job that the JobManager started (a location was initialized for them)
 * and that have neither been finalized nor disposed after a failure. While one is pending, its
 * tasks may be uploading files that no {@code _metadata} references yet; the {@link OrphanSweep}
 * removes nothing such a checkpoint may have written. Flink reports neither end for a checkpoint
 * it aborts before it attached the location (a failover right after the trigger): that one ends
 * when its location is garbage, which proves that Flink dropped it ({@link VerifyingCheckpointLocation});
 * until then it keeps the sweep off, the safe side.
 *
 * <p>Invariant, under this object's lock: a checkpoint leaves {@link #pending} by finalization only
 * together with its entry in {@link #finalized}, so one {@link #take} sees every finalized
 * checkpoint either as pending or as finalized, never as neither.
 */
final class PendingCheckpoints {

    /** A finalized checkpoint: its directory and the checkpoints pending when its {@code _metadata} was written. */
    record Finalized(long checkpointId, Path dir, Set<Long> pendingThen) {}

    /** What {@link #take} hands over: the finalized checkpoints since the last take, and those pending now. */
    record View(List<Finalized> finalized, Set<Long> pending) {}

    private final Set<Long> pending = new TreeSet<>();
    /** Null when nobody takes them (no orphan removal): nothing is kept then. */
    private final List<Finalized> finalized;

    PendingCheckpoints(boolean keepFinalized) {
        this.finalized = keepFinalized ? new ArrayList<>() : null;
    }

    /** Guarded by this. */
    private long highestStarted = -1;
    /** Guarded by this. */
    private long lowestStarted = Long.MAX_VALUE;

    synchronized void started(long checkpointId) {
        pending.add(checkpointId);
        highestStarted = Math.max(highestStarted, checkpointId);
        lowestStarted = Math.min(lowestStarted, checkpointId);
    }

    /** The lowest id started here, {@code Long.MAX_VALUE} before any: a lower one is another run's. */
    synchronized long lowestStarted() {
        return lowestStarted;
    }

    /** The highest id started here so far, -1 before any: a higher one is another coordinator's. */
    synchronized long highestStarted() {
        return highestStarted;
    }

    /** Disposed after a failure. */
    synchronized void ended(long checkpointId) {
        pending.remove(checkpointId);
    }

    /** Ended without a word from Flink (see {@link VerifyingCheckpointLocation}); true if it was pending. */
    synchronized boolean endedUnreported(long checkpointId) {
        return pending.remove(checkpointId);
    }

    synchronized boolean isPending(long checkpointId) {
        return pending.contains(checkpointId);
    }

    /**
     * Finalized: its {@code _metadata} is written in {@code dir}. The checkpoints pending at that
     * moment may have files older than that {@code _metadata}; every checkpoint started later
     * writes younger ones.
     */
    synchronized void finalized(long checkpointId, Path dir) {
        pending.remove(checkpointId);
        if (finalized != null) {
            finalized.add(new Finalized(checkpointId, dir, Set.copyOf(pending)));
        }
    }

    /** The finalized checkpoints since the last take, and a snapshot of the pending ones, at one moment. */
    synchronized View take() {
        List<Finalized> taken = finalized == null ? List.of() : List.copyOf(finalized);
        if (finalized != null) {
            finalized.clear();
        }
        return new View(taken, Set.copyOf(pending));
    }

    @Override
    public synchronized String toString() {
        return pending.toString();
    }
}
