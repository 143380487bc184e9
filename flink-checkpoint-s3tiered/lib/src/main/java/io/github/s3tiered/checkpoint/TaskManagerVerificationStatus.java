package io.github.s3tiered.checkpoint;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The verification status each TaskManager last received, per job checkpoint directory: what the
 * {@code s3tiered} metric group shows as {@code verifiedCheckpoint} and {@code verificationMissingObjects}.
 */
public final class TaskManagerVerificationStatus {

    private static final Map<String, VerificationStatus.Received> BY_JOB_DIRECTORY = new ConcurrentHashMap<>();
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

    /** The newest status received for a job's checkpoint directory, or {@link VerificationStatus.Received#NONE}. */
    public static VerificationStatus.Received of(String jobDirectory) {
        return BY_JOB_DIRECTORY.getOrDefault(jobDirectory, VerificationStatus.Received.NONE);
    }
}
