package io.github.s3tiered.preupload;

import io.github.s3tiered.bridge.DaemonThreads;
import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The TaskManager's queue of SST files to upload ahead of checkpoints: at most
 * {@code maxConcurrent} uploads at once and {@code maxQueuedBytes} of files waiting or in upload;
 * a file beyond that is skipped (its checkpoint uploads it). One per process: RocksDB instances
 * of every slot share the bound, as they share the disk and the network.
 */
public final class SstPreUploader {

    private static final Logger LOG = LoggerFactory.getLogger(SstPreUploader.class);
    private static SstPreUploader instance;

    private final ThreadPoolExecutor pool;
    /**
     * The withdrawals of closed RocksDB instances, one at a time on a thread of their own: on the
     * upload threads, a failover's withdrawals (one DELETE each, with every retry while S3 is slow)
     * kept the restarted job's files from being uploaded ahead for minutes.
     */
    private final ThreadPoolExecutor withdrawals;
    private final long maxQueuedBytes;
    private final int maxConcurrent;
    private final AtomicLong queuedBytes = new AtomicLong();
    /**
     * Tasks handed to the pool and not yet ended. The pool's own counts miss a task a worker has
     * taken from the queue but not yet started, so idleness is judged by this.
     */
    private final AtomicInteger inFlight = new AtomicInteger();
    private final PreUploadBackoff backoff;
    public final LongAdder skippedOverBound = new LongAdder();
    public final LongAdder skippedWhilePaused = new LongAdder();
    public final LongAdder failed = new LongAdder();
    public final LongAdder submitted = new LongAdder();

    private SstPreUploader(int maxConcurrent, long maxQueuedBytes) {
        this(maxConcurrent, maxQueuedBytes, System::nanoTime);
    }

    /** For tests: an uploader of their own (the process's is shared by every test), on their clock. */
    SstPreUploader(int maxConcurrent, long maxQueuedBytes, java.util.function.LongSupplier nanoClock) {
        this.backoff = new PreUploadBackoff(nanoClock);
        // not the job's user-code class loader (nor its access control context), which Flink closes
        // when the job ends: the threads are started from a task's thread
        ClassLoader own = SstPreUploader.class.getClassLoader();
        this.pool = new ThreadPoolExecutor(maxConcurrent, maxConcurrent, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                DaemonThreads.named("s3tiered-preupload", own));
        pool.allowCoreThreadTimeOut(true);
        this.withdrawals = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> DaemonThreads.newThread(r, "s3tiered-preupload-withdrawals", own));
        withdrawals.allowCoreThreadTimeOut(true);
        this.maxQueuedBytes = maxQueuedBytes;
        this.maxConcurrent = maxConcurrent;
    }

    /**
     * The process's uploader; the first settings seen fix its bounds. A later job that asks for
     * other bounds (set in its own configuration) is told once per value that they do not apply.
     */
    public static synchronized SstPreUploader shared(PreUploadSettings settings) {
        if (instance == null) {
            instance = new SstPreUploader(settings.maxConcurrent(), settings.maxQueuedBytes());
            return instance;
        }
        String ignored = boundsNotApplied(settings, instance.maxConcurrent, instance.maxQueuedBytes);
        if (ignored != null && BOUNDS_TOLD.add(ignored)) {
            LOG.warn(ignored);
        }
        return instance;
    }

    /** The values told about already: one WARN per value, not per task. */
    private static final java.util.Set<String> BOUNDS_TOLD = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** What of {@code settings} this process's uploader (with these bounds) does not apply; null when all. */
    static String boundsNotApplied(PreUploadSettings settings, int maxConcurrent, long maxQueuedBytes) {
        List<String> differing = new java.util.ArrayList<>();
        if (settings.maxConcurrent() != maxConcurrent) {
            differing.add(PreUploadOptions.MAX_CONCURRENT.key() + ": " + settings.maxConcurrent() + " (in use: "
                    + maxConcurrent + ")");
        }
        if (settings.maxQueuedBytes() != maxQueuedBytes) {
            differing.add(PreUploadOptions.MAX_QUEUED_BYTES.key() + ": " + settings.maxQueuedBytes() + " bytes (in use: "
                    + maxQueuedBytes + ")");
        }
        return differing.isEmpty() ? null : "Not applied: " + String.join(", ", differing) + ". The uploads ahead of"
                + " checkpoints of a TaskManager share one pool for all its jobs, bounded by the first job's values; set"
                + " these keys in the TaskManager's configuration file, not a job's.";
    }

    /**
     * Waits until this process's uploader has nothing queued or running: pre-uploads, and the
     * withdrawals after a RocksDB instance closed, run on after the job ended and write into the
     * local tier. For tests that remove a tier directory after a job (see
     * {@code CheckpointBackgroundWork}). True when idle in time.
     */
    public static boolean awaitIdle(java.time.Duration timeout) throws InterruptedException {
        SstPreUploader u;
        synchronized (SstPreUploader.class) {
            u = instance;
        }
        return u == null || u.idleWithin(timeout);
    }

    /** Waits until this uploader has nothing queued or running; true when idle in time. */
    boolean idleWithin(java.time.Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (inFlight.get() > 0) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /** Runs a withdrawal, apart from the uploads (see {@link #withdrawals}). */
    void execute(Runnable task) {
        try {
            run(withdrawals, task);
        } catch (RuntimeException rejected) {
            LOG.warn("Could not run {}: {}", task, rejected.toString());
        }
    }

    private void run(Runnable task) {
        run(pool, task);
    }

    private void run(ThreadPoolExecutor executor, Runnable task) {
        inFlight.incrementAndGet();
        try {
            executor.execute(() -> {
                try {
                    task.run();
                } finally {
                    inFlight.decrementAndGet();
                }
            });
        } catch (RuntimeException | Error notStarted) { // rejected, or no thread could be started
            inFlight.decrementAndGet();
            throw notStarted;
        }
    }

    /** Queues a file RocksDB just wrote; never blocks (RocksDB calls this from its own threads). */
    void submit(SstPreUploadListener owner, java.nio.file.Path file, long size) {
        if (!backoff.mayUpload()) {
            skippedWhilePaused.increment();
            return;
        }
        if (queuedBytes.addAndGet(size) > maxQueuedBytes) {
            queuedBytes.addAndGet(-size);
            skippedOverBound.increment();
            return;
        }
        submitted.increment();
        long queuedAt = System.nanoTime();
        try {
            run(() -> {
                try {
                    if (owner.isClosed()) {
                        return; // its RocksDB instance is gone: no checkpoint will stream the file
                    }
                    if (!backoff.mayUpload()) {
                        skippedWhilePaused.increment(); // queued before the pause began
                        return;
                    }
                    long startedAt = System.nanoTime();
                    S3TieredBridge.PreUploaded r = owner.bridge().preUpload(owner.sharedDirectory(), file,
                            owner.reuseWindowMillis());
                    if (r.outcome() == S3TieredBridge.PreUploaded.Outcome.UPLOADED) {
                        backoff.succeeded(); // a file gone, or already durable, sent nothing: it proves nothing of S3
                    }
                    LOG.debug("Pre-upload of {} ({} bytes): {} {}, {} ms queued, {} ms to run", file, size, r.outcome(),
                            r.object(), (startedAt - queuedAt) / 1_000_000, (System.nanoTime() - startedAt) / 1_000_000);
                    if (r.outcome() == S3TieredBridge.PreUploaded.Outcome.UPLOADED) {
                        owner.uploaded(r.object());
                    }
                } catch (IOException | RuntimeException e) {
                    failed.increment();
                    // The checkpoint uploads the file itself; nothing is lost.
                    LOG.info("Could not upload {} ahead of the checkpoint to {} (its checkpoint uploads it): {}", file,
                            owner.sharedDirectory(), e.toString());
                    long pauseMillis = backoff.failed();
                    if (pauseMillis > 0) {
                        LOG.warn("Uploads ahead of checkpoints pause for {} s on this TaskManager: they failed {} times in a"
                                        + " row, the last to {} with {}; checkpoints upload their files themselves meanwhile",
                                pauseMillis / 1000, PreUploadBackoff.FAILURES_IN_A_ROW, owner.sharedDirectory(), e.toString());
                    }
                } finally {
                    queuedBytes.addAndGet(-size);
                }
            });
        } catch (RuntimeException rejected) {
            queuedBytes.addAndGet(-size);
            failed.increment();
        }
    }
}
