package io.github.s3tiered.tier;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * Items of a few system calls each (a restore's tier checks and hard links), taken one after the
 * other from one cursor by the caller's thread and by up to one pool task per further core. One
 * pool task per item queued a restore's threads for the host's cores behind the job's own; a pool
 * task that starts late (behind other transfers) finds nothing left, and a pool that refuses a
 * task leaves its share to the caller.
 */
public final class CursorWork {

    private CursorWork() {}

    /**
     * Starts the pool's helpers on items {@code 0..count-1} and returns the caller's share, which
     * the caller runs (then it waits for the items' own outcomes). {@code each} must not throw.
     */
    public static Runnable start(int count, Executor pool, IntConsumer each) {
        AtomicInteger next = new AtomicInteger();
        Runnable take = () -> {
            for (int i; (i = next.getAndIncrement()) < count; ) {
                each.accept(i);
            }
        };
        int helpers = Math.min(count, Runtime.getRuntime().availableProcessors()) - 1;
        for (int h = 0; h < helpers; h++) {
            try {
                pool.execute(take);
            } catch (RejectedExecutionException shutDown) {
                break; // the caller's share takes them all
            }
        }
        return take;
    }
}
