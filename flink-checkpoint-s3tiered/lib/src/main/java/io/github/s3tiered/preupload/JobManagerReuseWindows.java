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
     * RocksDB instances go on uploading ahead for the next.
     */
    public static final long HELD = -2;

    private static final Map<String, Long> BY_SHARED_DIRECTORY = new ConcurrentHashMap<>();

    private JobManagerReuseWindows() {}

    public static void received(String sharedDirectoryKey, long windowMillis) {
        BY_SHARED_DIRECTORY.put(sharedDirectoryKey, windowMillis > 0 || windowMillis == HELD ? windowMillis : NONE);
    }

    /** The window last received for the job, {@link #HELD}, or {@link #NONE}. */
    public static long last(String sharedDirectoryKey) {
        return BY_SHARED_DIRECTORY.getOrDefault(sharedDirectoryKey, NONE);
    }

    /** True once the job's JobManager said it has pre-upload off. */
    static boolean preUploadOff(String sharedDirectoryKey) {
        Long w = BY_SHARED_DIRECTORY.get(sharedDirectoryKey);
        return w != null && w == NONE;
    }
}
