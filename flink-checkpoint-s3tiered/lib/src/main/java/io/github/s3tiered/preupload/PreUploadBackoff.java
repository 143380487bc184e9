package io.github.s3tiered.preupload;

import java.util.function.LongSupplier;

/**
 * When the TaskManager's uploads ahead pause after failing in a row. While S3 is down or
 * throttling, each upload ahead still reads and hashes its whole SST file and spends its retries
 * against a struggling S3, for nothing: its checkpoint uploads the file anyway. After
 * {@link #FAILURES_IN_A_ROW} failures in a row they pause for {@link #FIRST_PAUSE_NANOS}, doubling
 * each time the first upload after a pause fails too, up to {@link #LONGEST_PAUSE_NANOS}; one
 * success ends it. Thread-safe: the upload threads report, RocksDB's threads ask.
 */
final class PreUploadBackoff {

    static final int FAILURES_IN_A_ROW = 3;
    static final long FIRST_PAUSE_NANOS = 30_000_000_000L;
    static final long LONGEST_PAUSE_NANOS = 300_000_000_000L;

    private final LongSupplier nanoClock;
    // guarded by this
    private int failuresInARow;
    private long pauseNanos;
    private long pausedUntilNanos;
    private boolean paused;

    PreUploadBackoff(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
    }

    /** Whether an upload ahead may run now. */
    synchronized boolean mayUpload() {
        return !paused || nanoClock.getAsLong() - pausedUntilNanos >= 0;
    }

    synchronized void succeeded() {
        failuresInARow = 0;
        pauseNanos = 0;
        paused = false;
    }

    /** Returns the pause this failure began, in milliseconds, or 0 when it began none. */
    synchronized long failed() {
        failuresInARow++;
        boolean afterPause = paused; // the pause had ended (uploads ran again), and this one failed too
        if (!afterPause && failuresInARow < FAILURES_IN_A_ROW) {
            return 0;
        }
        if (afterPause && nanoClock.getAsLong() - pausedUntilNanos < 0) {
            return 0; // an upload that began before the pause: the pause stands as it is
        }
        pauseNanos = pauseNanos == 0 ? FIRST_PAUSE_NANOS : Math.min(2 * pauseNanos, LONGEST_PAUSE_NANOS);
        pausedUntilNanos = nanoClock.getAsLong() + pauseNanos;
        paused = true;
        return pauseNanos / 1_000_000;
    }
}
