package io.github.s3tiered.fs;

import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.S3Statistics;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.util.Map;

/**
 * A test of the file system over the in-memory S3 fake with the default configuration: a fresh
 * store, statistics, local tier and file system for each test method, closed after it.
 */
abstract class FakeS3FileSystemTest {

    @TempDir java.nio.file.Path tierDir;

    final S3Statistics stats = new S3Statistics();
    final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    S3TieredFileSystem fs;

    @BeforeEach
    void createFileSystem() throws IOException {
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, Map.of()));
    }

    @AfterEach
    void closeRuntime() {
        fs.runtime().close();
    }

    /**
     * The file system again, streaming every read from S3 (no file downloaded and checked before it
     * is served): for tests of the streaming read itself.
     */
    void streamingReads() throws IOException {
        fs.runtime().close();
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, STREAMING_READS));
    }

    static final Map<String, String> STREAMING_READS = Map.of(S3TieredOptions.READ_WHOLE_FIRST_MAX_SIZE.key(), "0");
}
