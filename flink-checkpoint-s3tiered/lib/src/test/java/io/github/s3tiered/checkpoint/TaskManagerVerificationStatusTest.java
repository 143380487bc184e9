package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TaskManagerVerificationStatusTest {

    @Test
    void keepsTheStatusOfTheJobsMostRecentlyHeardOfOnly() {
        String prefix = "s3tiered://bucket/session-" + System.nanoTime() + "/job-";
        String running = prefix + "running";
        TaskManagerVerificationStatus.received(running, new VerificationStatus.Received(7, 0, 1, new long[] {42}));
        for (int i = 0; i < TaskManagerVerificationStatus.MAX_JOBS + 10; i++) {
            TaskManagerVerificationStatus.received(prefix + i, new VerificationStatus.Received(i, 0, 0, new long[0]));
            if (i % 100 == 0) {
                // a running job hears with each checkpoint
                TaskManagerVerificationStatus.received(running, new VerificationStatus.Received(7 + i, 0, 1, new long[] {42}));
            }
        }

        assertThat(TaskManagerVerificationStatus.of(prefix + 0)).as("an ended job's, long ago")
                .isSameAs(VerificationStatus.Received.NONE);
        assertThat(TaskManagerVerificationStatus.of(prefix + (TaskManagerVerificationStatus.MAX_JOBS + 9)).newestVerified())
                .isEqualTo(TaskManagerVerificationStatus.MAX_JOBS + 9);
        assertThat(TaskManagerVerificationStatus.of(running).newestVerified()).isEqualTo(207);
    }
}
