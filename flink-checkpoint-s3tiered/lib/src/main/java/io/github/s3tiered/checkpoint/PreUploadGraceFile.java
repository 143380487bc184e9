package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.preupload.PreUploadSettings;

import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;

/**
 * {@code <checkpoint-dir>/<job-id>/s3tiered-preupload.json}: how long an unreferenced upload ahead
 * of a checkpoint ({@code shared/<sha256>-<id>.sst}) may still come to be referenced, for the recovery
 * inspector's {@code orphans}, which sees neither the TaskManagers nor the checkpoints in progress.
 * The reuse window follows each job's checkpoint interval, so no fixed minimum age covers every job.
 * Written by the JobManager when its checkpoint coordinator starts, in the background (a slow or
 * throttling S3 must not hold the job's start; until the record is there, or when it could not be
 * written, the inspector keeps every such file); beside the checkpoints, so Flink ignores it.
 *
 * <p>A job id can be used again (an application cluster with HA keeps its job's), so a record an
 * earlier run left may be in place, with a shorter grace than this run's. No checkpoint reuses an
 * upload made ahead of it until this run's record is durable: the JobManager holds reuse back
 * until then and writes it again with each checkpoint while it fails
 * ({@code TieredCheckpointStorageAccess}). The record:
 *
 * <pre>{@code
 * {"schemaVersion": 1, "enabled": true, "reuseWindowMillis": 600000, "orphanSearchGraceMillis": 1800000,
 *  "checkpointTimeoutMillis": 600000, "written": "2026-12-05T10:00:00Z"}
 * }</pre>
 */
final class PreUploadGraceFile {

    static final String NAME = CheckpointNames.PRE_UPLOAD_RECORD_FILE;
    private static final Logger LOG = LoggerFactory.getLogger(PreUploadGraceFile.class);

    private PreUploadGraceFile() {}

    /** Writes started and not yet ended (they stage in the local tier). */
    private static final RunningCount RUNNING = new RunningCount();

    /** Writes the record on a thread of its own, then tells {@code written} whether it is durable. */
    static void writeInBackground(Path jobDir, PreUploadSettings settings, java.util.function.Consumer<Boolean> written) {
        Thread t = new Thread(() -> {
            boolean durable = false;
            try {
                durable = write(jobDir, settings);
            } finally {
                try {
                    written.accept(durable);
                } finally {
                    ended(); // after: who waits for the write finds its outcome taken
                }
            }
        }, "s3tiered-preupload-grace-record");
        t.setDaemon(true);
        // not the caller's (possibly a job's) class loader, which the thread would otherwise keep reachable
        t.setContextClassLoader(PreUploadGraceFile.class.getClassLoader());
        RUNNING.started();
        try {
            t.start();
        } catch (Throwable notStarted) {
            LOG.warn("Could not start writing {} (no checkpoint reuses an upload made ahead of it until it is written): {}",
                    new Path(jobDir, NAME), notStarted.toString());
            try {
                written.accept(false);
            } finally {
                ended();
            }
        }
    }

    private static void ended() {
        RUNNING.ended();
    }

    /** True when every write started has ended within the timeout. */
    static boolean awaitIdle(Duration timeout) throws InterruptedException {
        return RUNNING.awaitIdle(timeout);
    }

    /**
     * Writes the record; true once it is durable. A failure is logged, not thrown: the job need not
     * fail for it, and no checkpoint reuses an upload made ahead of it meanwhile.
     */
    static boolean write(Path jobDir, PreUploadSettings settings) {
        Path file;
        try {
            // where the operator points the inspector: the path Flink's _metadata has, without the entropy marker
            file = new Path(EntropyInjector.removeEntropyMarkerIfPresent(jobDir.getFileSystem(), jobDir), NAME);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not resolve {} (no checkpoint reuses an upload made ahead of it until it is written): {}",
                    new Path(jobDir, NAME), e.toString());
            return false;
        }
        String json = "{\n"
                + "  \"schemaVersion\": 1,\n"
                + "  \"enabled\": " + settings.enabled() + ",\n"
                + "  \"reuseWindowMillis\": " + settings.reuseWindowMillis() + ",\n"
                + "  \"orphanSearchGraceMillis\": " + (settings.enabled() ? settings.orphanSearchGraceMillis() : 0) + ",\n"
                + "  \"checkpointTimeoutMillis\": " + settings.checkpointTimeoutMillis() + ",\n"
                + "  \"written\": \"" + Instant.now() + "\"\n"
                + "}\n";
        try {
            FileSystem fs = file.getFileSystem();
            try (FSDataOutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
                out.write(json.getBytes(StandardCharsets.UTF_8));
            }
            return true;
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not write {} (no checkpoint reuses an upload made ahead of it until it is written; tried"
                    + " again with the next checkpoint): {}", file, e.toString());
            return false;
        }
    }
}
