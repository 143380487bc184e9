package io.github.s3tiered.examples;

import org.apache.flink.api.connector.source.util.ratelimit.RateLimiter;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The source's pace for a job that fails again and again: a rate per second (all subtasks
 * together), and at most {@code recordsPerCheckpoint} records of a subtask until a checkpoint
 * completes; after them the subtask emits nothing until the next checkpoint completes.
 *
 * <p>With {@link FailureInjector#repeatedly}, whose subtask 0 fails its attempt at the first record
 * after a checkpoint completed in it, this bounds what one attempt moves subtask 0 on to {@code
 * recordsPerCheckpoint} records, however long a checkpoint takes: no record beyond the first {@code
 * recordsPerCheckpoint} passes before the attempt's first checkpoint completed, so that
 * checkpoint's barrier passed the source before any of them. (The failure injector is chained to
 * the source, and Flink tells a chain of a checkpoint's completion from its tail: the injector
 * knows of it before the gate opens.) A test can so count on {@code records / parallelism /
 * recordsPerCheckpoint} attempts that each completed a checkpoint. A bound enforced by failing the
 * attempt instead spends attempts without progress when a restore is slow, and a bound by time
 * does not hold on a slow host.
 *
 * <p>Implements both versions of Flink's {@code RateLimiter} (raw types): 1.20's {@code acquire()}
 * and 2.x's {@code acquire(int)}. The source reader asks for one record at a time, from the task's
 * thread; a checkpoint's completion is told on that thread too.
 */
@SuppressWarnings({"rawtypes", "unchecked"})
public final class CheckpointGatedRate implements RateLimiterStrategy {

    private static final long serialVersionUID = 1L;

    private final double recordsPerSecond;
    private final int recordsPerCheckpoint;

    /**
     * @param recordsPerSecond all subtasks together; 0 for no limit per second
     * @param recordsPerCheckpoint per subtask, at least 1
     */
    public CheckpointGatedRate(double recordsPerSecond, int recordsPerCheckpoint) {
        if (recordsPerCheckpoint < 1) {
            throw new IllegalArgumentException("recordsPerCheckpoint must be at least 1, was " + recordsPerCheckpoint);
        }
        this.recordsPerSecond = recordsPerSecond;
        this.recordsPerCheckpoint = recordsPerCheckpoint;
    }

    @Override
    public RateLimiter createRateLimiter(int parallelism) {
        RateLimiter perSecond = recordsPerSecond > 0
                ? RateLimiterStrategy.perSecond(recordsPerSecond).createRateLimiter(parallelism)
                : null;
        return new Gate(perSecond, recordsPerCheckpoint);
    }

    /** One subtask's gate; created anew with each attempt's source reader. */
    static final class Gate implements RateLimiter {
        private final RateLimiter perSecond;
        private final int recordsPerCheckpoint;
        /** Records let through since this reader started or since the last completed checkpoint. */
        private int passed;
        /** Open while below the count; a pending future while the subtask waits for a checkpoint. */
        private CompletableFuture<Void> open = CompletableFuture.completedFuture(null);

        Gate(RateLimiter perSecond, int recordsPerCheckpoint) {
            this.perSecond = perSecond;
            this.recordsPerCheckpoint = recordsPerCheckpoint;
        }

        @Override
        public CompletionStage<Void> acquire() {
            if (passed >= recordsPerCheckpoint) {
                if (open.isDone()) {
                    open = new CompletableFuture<>();
                }
                return open;
            }
            passed++;
            return perSecond == null ? open : perSecond.acquire();
        }

        /** Flink 2.x's form; its source reader asks for one record at a time, as 1.20's does. */
        public CompletionStage<Void> acquire(int records) {
            if (records != 1) {
                throw new UnsupportedOperationException("The gate counts one record at a time, asked for " + records);
            }
            return acquire();
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            // a record waiting at the closed gate passes now: it is the first of the next share
            passed = open.isDone() ? 0 : 1;
            open.complete(null);
            if (perSecond != null) {
                perSecond.notifyCheckpointComplete(checkpointId);
            }
        }
    }
}
