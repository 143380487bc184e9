package io.github.s3tiered.checkpoint;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The verification status each TaskManager last received, per job checkpoint directory: what the
 * {@code s3tiered} metric group shows as {@code verifiedCheckpoint} and {@code verificationMissingObjects}.
 */
public final class TaskManagerVerificationStatus {

    /**
     * The most recently received {@link #MAX_JOBS}: a session cluster's TaskManager runs job after
     * job, each entry holding up to {@link VerificationStatus#MAX_MISSING_SENT} fingerprints. A job
     * whose entry went still gets its status with its next checkpoint's barriers.
     */
    static final int MAX_JOBS = 256;
    private static final Map<String, VerificationStatus.Received> BY_JOB_DIRECTORY = Collections.synchronizedMap(
            new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<String, VerificationStatus.Received> eldest) {
                    return size() > MAX_JOBS;
                }
            });
    private static final java.util.concurrent.atomic.LongAdder VETOED_REUSES = new java.util.concurrent.atomic.LongAdder();

    private TaskManagerVerificationStatus() {}

    static void received(String jobDirectory, VerificationStatus.Received status) {
        BY_JOB_DIRECTORY.put(jobDirectory, status);
    }

    static void vetoedReuse() {
        VETOED_REUSES.increment();
    }

    /** Files this process uploaded again instead of reusing an object found missing from S3. */
    public static long vetoedReuses() {
        return VETOED_REUSES.sum();
    }

    /**
     * The key under which a task's checkpoint storage records the status it receives (its job
     * directory, which {@code execution.checkpointing.create-subdir: false} makes the checkpoint
     * directory itself); empty when the storage is not the tiered one.
     */
    public static java.util.Optional<String> jobDirectoryOf(org.apache.flink.runtime.state.CheckpointStorageAccess access) {
        return access instanceof TieredCheckpointStorageAccess tiered
                ? java.util.Optional.of(io.github.s3tiered.inspector.PathKey.of(tiered.jobDirectory()))
                : java.util.Optional.empty();
    }

    /** The newest status received for a job's checkpoint directory, or {@link VerificationStatus.Received#NONE}. */
    public static VerificationStatus.Received of(String jobDirectory) {
        return BY_JOB_DIRECTORY.getOrDefault(jobDirectory, VerificationStatus.Received.NONE);
    }
}
