package io.github.s3tiered.preupload;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reuse window each job's JobManager last sent this TaskManager with a checkpoint, by the
 * job's {@code shared/} directory ({@code PathKey} form). A checkpoint whose barrier carries Flink's
 * default location reference instead (a legacy source that triggers its own checkpoints) brings
 * none: the tasks then go by the last one received, and reuse nothing before any came. With the
 * JobManager's pre-upload off, this TaskManager's RocksDB instances stop uploading ahead, since no
 * checkpoint may take such an upload.
 */
public final class JobManagerReuseWindows {

    /** What {@link #last} answers when the JobManager has pre-upload off or sent nothing yet. */
    public static final long NONE = -1;
    /**
     * The JobManager has pre-upload on but has not yet made durable the grace it records for the
     * recovery inspector ({@code s3tiered-preupload.json}): this checkpoint reuses nothing, and the
     * RocksDB instances upload nothing ahead until a window comes (what they uploaded would not be
     * reused).
     */
    public static final long HELD = -2;

    private static final Map<String, Long> BY_SHARED_DIRECTORY = new ConcurrentHashMap<>();
    /**
     * Since when ({@link System#nanoTime}) the job's uploads ahead may be reused, by shared
     * directory; absent when any may. An upload made while the JobManager held reuse back could
     * already have passed the grace of a record an earlier run left, which the inspector then went
     * by: only uploads begun after the window came are reused. {@link #SINCE_WINDOW_COMES} while
     * reuse is held.
     */
    private static final Map<String, Long> REUSABLE_SINCE = new ConcurrentHashMap<>();
    private static final long SINCE_WINDOW_COMES = Long.MAX_VALUE;

    /**
     * The open RocksDB instances uploading ahead for each shared directory on this TaskManager
     * (guarded by the class). When the last closes, the job's tasks here ended, failed over or were
     * cancelled; the next may be a later run of the same job id (a session JobManager taking the
     * job again, a JobManager failover). Without it, the maps would keep every job directory ever
     * checkpointed here for the life of the process.
     */
    private static final Map<String, Integer> LISTENERS = new java.util.HashMap<>();

    private JobManagerReuseWindows() {}

    /** A RocksDB instance that uploads ahead for the shared directory opened. */
    static synchronized void listenerOpened(String sharedDirectoryKey) {
        LISTENERS.merge(sharedDirectoryKey, 1, Integer::sum);
    }

    /**
     * A RocksDB instance that uploaded ahead for the shared directory closed. After the last, a
     * window received is forgotten, as if this TaskManager had never heard of the job: the next
     * instance uploads ahead at once (a failover's restarted task), and a later run of the same
     * job id does not start from the earlier run's window (what its own checkpoints bring holds).
     * A JobManager holding reuse back, or with pre-upload off, stays so: an upload ahead begun
     * before the next checkpoint says otherwise would not be reused.
     */
    static synchronized void listenerClosed(String sharedDirectoryKey) {
        Integer open = LISTENERS.get(sharedDirectoryKey);
        if (open == null) {
            return;
        }
        if (open > 1) {
            LISTENERS.put(sharedDirectoryKey, open - 1);
            return;
        }
        LISTENERS.remove(sharedDirectoryKey);
        Long window = BY_SHARED_DIRECTORY.get(sharedDirectoryKey);
        if (window != null && window > 0) {
            // a window came after any hold, so uploads begun from now on were reusable anyway
            BY_SHARED_DIRECTORY.remove(sharedDirectoryKey);
            REUSABLE_SINCE.remove(sharedDirectoryKey);
        }
    }

    /** Takes what a checkpoint brought; returns it as {@link #last} will answer it. */
    public static long received(String sharedDirectoryKey, long windowMillis) {
        long window = windowMillis > 0 || windowMillis == HELD ? windowMillis : NONE;
        if (window == HELD) {
            REUSABLE_SINCE.put(sharedDirectoryKey, SINCE_WINDOW_COMES);
        } else if (window > 0) {
            long now = System.nanoTime();
            REUSABLE_SINCE.computeIfPresent(sharedDirectoryKey, (k, since) -> since == SINCE_WINDOW_COMES ? now : since);
        }
        BY_SHARED_DIRECTORY.put(sharedDirectoryKey, window);
        return window;
    }

    /**
     * The {@link System#nanoTime} before which no upload ahead of the job may be reused (it began
     * while the JobManager held reuse back), or {@link Long#MIN_VALUE} when any may.
     */
    public static long reusableSinceNanos(String sharedDirectoryKey) {
        Long since = REUSABLE_SINCE.get(sharedDirectoryKey);
        return since == null ? Long.MIN_VALUE : since;
    }

    /** The window last received for the job, {@link #HELD}, or {@link #NONE}. */
    public static long last(String sharedDirectoryKey) {
        return BY_SHARED_DIRECTORY.getOrDefault(sharedDirectoryKey, NONE);
    }

    /**
     * True once the job's JobManager said it has pre-upload off, and while it holds reuse back: an
     * upload begun then is never reused ({@link #reusableSinceNanos}), so it would only double the
     * requests, while the JobManager's record fails to be written, on an S3 that is failing.
     */
    static boolean preUploadOff(String sharedDirectoryKey) {
        Long w = BY_SHARED_DIRECTORY.get(sharedDirectoryKey);
        return w != null && (w == NONE || w == HELD);
    }
}
