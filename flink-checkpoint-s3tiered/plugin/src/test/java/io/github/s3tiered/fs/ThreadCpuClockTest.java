package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.security.MessageDigest;

/** The hash's cost is reported as CPU: a thread that waits adds nothing to it. */
class ThreadCpuClockTest {

    @Test
    void aThreadWaitingIsNotCountedButHashingIs() throws Exception {
        assumeTrue(ManagementFactory.getThreadMXBean().isCurrentThreadCpuTimeSupported(),
                "this JVM does not measure thread CPU time (the clock falls back to the wall clock)");
        long before = ThreadCpuClock.now();
        Thread.sleep(300);
        long slept = ThreadCpuClock.now() - before;
        // a wall clock would show the 300 ms; the thread used next to no CPU meanwhile
        assertThat(slept).isLessThan(100_000_000L);

        MessageDigest sha = ContentHash.newDigest();
        byte[] data = new byte[1 << 20];
        long start = ThreadCpuClock.now();
        for (int i = 0; i < 64; i++) {
            sha.update(data);
        }
        assertThat(ThreadCpuClock.now() - start).isPositive();
    }
}
