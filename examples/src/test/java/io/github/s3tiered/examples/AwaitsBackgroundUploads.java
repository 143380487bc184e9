package io.github.s3tiered.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.preupload.SstPreUploader;

import org.junit.jupiter.api.AfterEach;

import java.time.Duration;

/**
 * For test classes whose local tier lives in a JUnit temporary directory: uploads ahead of
 * checkpoints (and the withdrawals after a RocksDB instance closed) run on after a job ends and
 * write into the tier, so each test waits for them before JUnit deletes the directory.
 */
interface AwaitsBackgroundUploads {

    @AfterEach
    default void awaitBackgroundUploads() throws InterruptedException {
        assertThat(SstPreUploader.awaitIdle(Duration.ofSeconds(60))).as("background uploads ended within 60 s").isTrue();
    }
}
