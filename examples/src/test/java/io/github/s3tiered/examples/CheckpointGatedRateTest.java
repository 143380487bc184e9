package io.github.s3tiered.examples;

import org.apache.flink.api.connector.source.util.ratelimit.RateLimiter;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletionStage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The gate that bounds what one attempt of the many-failures job moves it on. */
@SuppressWarnings("rawtypes")
class CheckpointGatedRateTest {

    @Test
    void aSubtaskWaitsAfterItsRecordsUntilACheckpointCompletes() {
        RateLimiter gate = new CheckpointGatedRate(0, 3).createRateLimiter(2);
        for (int i = 0; i < 3; i++) {
            assertThat(acquire(gate).toCompletableFuture()).as("record %d", i).isDone();
        }
        CompletionStage<?> fourth = acquire(gate);
        assertThat(fourth.toCompletableFuture()).as("the fourth record before a checkpoint completed").isNotDone();
        assertThat(acquire(gate).toCompletableFuture()).as("asked again while waiting").isNotDone();

        gate.notifyCheckpointComplete(7);
        assertThat(fourth.toCompletableFuture()).as("the fourth record once checkpoint 7 completed").isDone();
        // the fourth record is emitted now, the first of the next share: two more, then the gate closes again
        for (int i = 0; i < 2; i++) {
            assertThat(acquire(gate).toCompletableFuture()).as("record %d after the checkpoint", i).isDone();
        }
        assertThat(acquire(gate).toCompletableFuture()).as("after the checkpoint's share").isNotDone();
    }

    @Test
    void aCheckpointCompletedWhileTheGateIsOpenGivesAFullShare() {
        RateLimiter gate = new CheckpointGatedRate(0, 3).createRateLimiter(1);
        acquire(gate);
        gate.notifyCheckpointComplete(1);
        for (int i = 0; i < 3; i++) {
            assertThat(acquire(gate).toCompletableFuture()).as("record %d", i).isDone();
        }
        assertThat(acquire(gate).toCompletableFuture()).isNotDone();
    }

    @Test
    void eachAttemptsReaderStartsWithAFullShare() {
        CheckpointGatedRate rate = new CheckpointGatedRate(0, 2);
        RateLimiter first = rate.createRateLimiter(1);
        acquire(first);
        acquire(first);
        assertThat(acquire(first).toCompletableFuture()).isNotDone();
        RateLimiter next = rate.createRateLimiter(1);
        assertThat(acquire(next).toCompletableFuture()).isDone();
    }

    @Test
    void theRatePerSecondStillApplies() {
        RateLimiter gate = new CheckpointGatedRate(1_000_000, 5).createRateLimiter(1);
        for (int i = 0; i < 5; i++) {
            assertThat(acquire(gate).toCompletableFuture().join()).isNull();
        }
        assertThat(acquire(gate).toCompletableFuture()).isNotDone();
    }

    @Test
    void aShareBelowOneIsRefused() {
        assertThatThrownBy(() -> new CheckpointGatedRate(10, 0)).hasMessageContaining("recordsPerCheckpoint");
    }

    /** The no-argument acquire both Flink lines' source reader calls. */
    private static CompletionStage<?> acquire(RateLimiter gate) {
        return gate.acquire();
    }
}
