package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.InspectionProgress;

import java.io.PrintWriter;

/**
 * Progress on stderr, only for long runs: nothing during the first second, then at most one line
 * per second, so that short commands print nothing but their result.
 */
final class Progress implements InspectionProgress {

    private static final long QUIET_MILLIS = 1000;

    private final PrintWriter err;
    private final long start = System.currentTimeMillis();
    private long lastPrinted;

    Progress(PrintWriter err) {
        this.err = err;
    }

    @Override
    public synchronized void step(String message) {
        long now = System.currentTimeMillis();
        if (now - start < QUIET_MILLIS || now - lastPrinted < QUIET_MILLIS) {
            return;
        }
        lastPrinted = now;
        err.println("... " + message);
        err.flush();
    }
}
