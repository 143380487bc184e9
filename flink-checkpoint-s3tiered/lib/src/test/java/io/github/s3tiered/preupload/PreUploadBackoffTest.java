package io.github.s3tiered.preupload;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

class PreUploadBackoffTest {

    private final AtomicLong clock = new AtomicLong(-5_000_000_000L); // nanoTime may be negative
    private final PreUploadBackoff backoff = new PreUploadBackoff(clock::get);

    private void failInARow(int n) {
        for (int i = 0; i < n; i++) {
            backoff.failed();
        }
    }

    @Test
    void pausesAfterThreeFailuresInARowOnly() {
        failInARow(2);
        backoff.succeeded();
        failInARow(2);
        assertThat(backoff.mayUpload()).as("never three in a row").isTrue();
        assertThat(backoff.failed()).isEqualTo(PreUploadBackoff.FIRST_PAUSE_NANOS / 1_000_000);
        assertThat(backoff.mayUpload()).isFalse();
        clock.addAndGet(PreUploadBackoff.FIRST_PAUSE_NANOS - 1);
        assertThat(backoff.mayUpload()).isFalse();
        clock.addAndGet(1);
        assertThat(backoff.mayUpload()).isTrue();
    }

    @Test
    void aFailureAfterThePauseDoublesItUpToTheLongestAndOneSuccessEndsIt() {
        failInARow(3);
        long pause = PreUploadBackoff.FIRST_PAUSE_NANOS;
        for (int i = 0; i < 6; i++) {
            clock.addAndGet(pause);
            assertThat(backoff.mayUpload()).isTrue();
            long next = backoff.failed() * 1_000_000;
            assertThat(next).isEqualTo(Math.min(2 * pause, PreUploadBackoff.LONGEST_PAUSE_NANOS));
            assertThat(backoff.mayUpload()).isFalse();
            pause = next;
        }
        clock.addAndGet(pause);
        backoff.succeeded();
        failInARow(2);
        assertThat(backoff.mayUpload()).as("counted from zero again").isTrue();
        assertThat(backoff.failed()).isEqualTo(PreUploadBackoff.FIRST_PAUSE_NANOS / 1_000_000);
    }

    @Test
    void uploadsThatBeganBeforeThePauseAndFailDuringItDoNotLengthenIt() {
        failInARow(3);
        assertThat(backoff.failed()).isZero();
        assertThat(backoff.failed()).isZero();
        clock.addAndGet(PreUploadBackoff.FIRST_PAUSE_NANOS);
        assertThat(backoff.mayUpload()).isTrue();
    }
}
