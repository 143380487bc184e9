package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.DaemonThreads;
import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Whether a file is already at a checkpoint's {@code _metadata} path on s3tiered, asked with one
 * HEAD when the checkpoint starts rather than when the JobManager creates the file at its end: the
 * answer is in by then, and the completion is a PUT alone ({@link MetadataFileOutputStream}).
 *
 * <p>What the check is for, a file left by an earlier run under the same job id whose checkpoint
 * counter began again, is there before the checkpoint starts, so asking then catches it as asking
 * at the end did. A writer racing this one during the checkpoint is not caught; a HEAD before the
 * PUT never caught one racing within its round trip either (an atomic create needs conditional
 * writes, which not every S3 implementation honours). A file found fails the checkpoint, whose
 * disposal by Flink then deletes its directory, as after Flink's own check. When
 * the HEAD failed or gave no answer within {@link #WAIT}, the file is created as before, with the
 * check.
 */
final class MetadataPrecheck {

    private static final Logger LOG = LoggerFactory.getLogger(MetadataPrecheck.class);

    /** How long the creation of {@code _metadata} waits for an answer not yet in, before it asks again itself. */
    static final Duration WAIT = Duration.ofSeconds(10);

    /** A few daemon threads of the JobManager's; checkpoints start at most a few per second. */
    private static final Executor SHARED = sharedExecutor();

    private final Path metadataFile;
    /** Completes with whether a file was there, or exceptionally when the HEAD failed. */
    private final CompletableFuture<Boolean> present = new CompletableFuture<>();

    private MetadataPrecheck(Path metadataFile) {
        this.metadataFile = metadataFile;
    }

    /** The check of the location's {@code _metadata}, started; null where it does not apply (not s3tiered). */
    static MetadataPrecheck startFor(CheckpointStorageLocation location) {
        return startFor(location, SHARED);
    }

    static MetadataPrecheck startFor(CheckpointStorageLocation location, Executor executor) {
        if (!MetadataFileOutputStream.appliesTo(location)) {
            return null;
        }
        Path file = ((FsCheckpointStorageLocation) location).getMetadataFilePath();
        S3TieredBridge bridge;
        try {
            bridge = S3TieredBridge.of(file).orElse(null);
        } catch (IOException | RuntimeException e) {
            LOG.debug("No early check of {}: {}", file, e.toString());
            return null;
        }
        if (bridge == null) {
            return null;
        }
        MetadataPrecheck check = new MetadataPrecheck(file);
        try {
            executor.execute(() -> check.run(bridge));
        } catch (RuntimeException rejected) {
            return null; // the file is checked when it is created
        }
        return check;
    }

    private void run(S3TieredBridge bridge) {
        try {
            bridge.recordedChecksum(metadataFile); // one HEAD
            present.complete(true);
        } catch (FileNotFoundException absent) {
            present.complete(false);
        } catch (Throwable e) { // whatever it is, the creation must not wait for an answer that never comes
            LOG.debug("Early check of {} failed; it is checked when it is created: {}", metadataFile, e.toString());
            present.completeExceptionally(e);
            if (e instanceof VirtualMachineError fatal) {
                throw fatal;
            }
        }
    }

    Path metadataFile() {
        return metadataFile;
    }

    /**
     * TRUE or FALSE when the HEAD answered within {@code wait} (it is waited for rather than sent
     * again: it left when the checkpoint started); null when it did not or failed.
     */
    Boolean answer(Duration wait) {
        try {
            return present.get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static Executor sharedExecutor() {
        // bounded: when S3 stalls, checks of later checkpoints are refused (and made at creation)
        // rather than queued behind stalled ones; not the class loader of whichever job's thread started it first
        ThreadPoolExecutor pool = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(16),
                DaemonThreads.named("s3tiered-metadata-check", MetadataPrecheck.class.getClassLoader()));
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }
}
