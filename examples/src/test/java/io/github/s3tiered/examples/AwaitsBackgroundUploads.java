package io.github.s3tiered.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.checkpoint.CheckpointBackgroundWork;

import org.junit.jupiter.api.AfterEach;

import java.time.Duration;

/**
 * For test classes whose local tier lives in a JUnit temporary directory: uploads ahead of
 * checkpoints (and the withdrawals after a RocksDB instance closed) and the verification of the
 * last completed checkpoint (its status file, the orphan removal) run on after a job ends and
 * write into the tier, so each test waits for them before JUnit deletes the directory.
 */
interface AwaitsBackgroundUploads {

    @AfterEach
    default void awaitBackgroundUploads() throws InterruptedException {
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(60)))
                .as("background uploads and checkpoint verification ended within 60 s").isTrue();
    }
}
