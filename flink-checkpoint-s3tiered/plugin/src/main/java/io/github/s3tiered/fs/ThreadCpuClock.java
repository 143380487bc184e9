package io.github.s3tiered.fs;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The CPU time of the calling thread, for costs reported as CPU (the content hash): a wall clock
 * around the same work also counts the time the thread waited for a core, which on a busy
 * TaskManager (RocksDB compactions, the job, uploads) can be several times the work itself.
 * Falls back to the wall clock where the JVM does not measure thread CPU time.
 */
final class ThreadCpuClock {

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final boolean MEASURED = measured();

    private ThreadCpuClock() {}

    /** Nanoseconds; only differences between two readings on the same thread mean anything. */
    static long now() {
        return MEASURED ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    private static boolean measured() {
        try {
            if (!THREADS.isCurrentThreadCpuTimeSupported()) {
                return false;
            }
            if (!THREADS.isThreadCpuTimeEnabled()) {
                THREADS.setThreadCpuTimeEnabled(true);
            }
            return THREADS.getCurrentThreadCpuTime() >= 0;
        } catch (UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }
}
