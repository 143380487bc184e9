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
 * <p>With {@link FailureInjector#repeatedly}, which fails an attempt once a checkpoint completed in
 * it, this bounds what one attempt moves the job on to {@code recordsPerCheckpoint} records per
 * subtask, however long a checkpoint takes: the completed checkpoint's barrier passed the source
 * before the gate's last record. A test can so count on {@code records / parallelism /
 * recordsPerCheckpoint} attempts that each completed a checkpoint and failed after it. A bound
 * enforced by failing the attempt instead spends attempts without progress when a restore is slow,
 * and a bound by time does not hold on a slow host.
 *
 * <p>Implements both versions of Flink's {@code RateLimiter} (raw types): 1.20's {@code acquire()}
 * and 2.x's {@code acquire(int)}. The source reader calls it from the task's thread only; a
 * checkpoint's completion is told on that thread too.
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

        /** Flink 2.x asks for a number of records at once; its source reader asks for one. */
        public CompletionStage<Void> acquire(int records) {
            CompletionStage<Void> last = acquire();
            for (int i = 1; i < records; i++) {
                last = acquire();
            }
            return last;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            passed = 0;
            open.complete(null);
            if (perSecond != null) {
                perSecond.notifyCheckpointComplete(checkpointId);
            }
        }
    }
}
