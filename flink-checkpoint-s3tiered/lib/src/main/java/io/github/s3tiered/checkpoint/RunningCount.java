package io.github.s3tiered.checkpoint;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Background tasks started and not yet ended, for {@link CheckpointBackgroundWork#awaitIdle}: who
 * deletes a local tier (a test's temporary directory) waits until nothing writes into it.
 */
final class RunningCount {

    /** Guarded by this. */
    private int running;

    synchronized void started() {
        running++;
    }

    synchronized void ended() {
        running--;
        notifyAll();
    }

    /** True when every task started has ended within the timeout. */
    synchronized boolean awaitIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (running > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }
}
