package io.github.s3tiered.backend;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.checkpoint.TaskManagerVerificationStatus;
import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.Path;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.execution.Environment;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Publishes the {@code s3tiered://} file system's figures as gauges in a metric group. The file
 * system lives in Flink's plugin class loader; its figures come through the {@link S3TieredBridge}.
 */
public final class TransferMetrics {

    private static final Logger LOG = LoggerFactory.getLogger(TransferMetrics.class);

    /** Newest checkpoint the JobManager found entirely in S3, as this TaskManager last heard (-1: none yet). */
    public static final String VERIFIED_CHECKPOINT = "verifiedCheckpoint";
    /** Referenced objects the JobManager found missing from S3, as this TaskManager last heard. */
    public static final String VERIFICATION_MISSING_OBJECTS = "verificationMissingObjects";

    /** Every gauge registered in a keyed operator's group {@code s3tiered}: what a dashboard may show. */
    public static final List<String> GAUGE_NAMES = java.util.stream.Stream.concat(BridgeContract.METRIC_NAMES.stream(),
            java.util.stream.Stream.of(VERIFIED_CHECKPOINT, VERIFICATION_MISSING_OBJECTS)).toList();

    private TransferMetrics() {}

    /** Registers the gauges; returns the figures' supplier, or null without an s3tiered:// directory. */
    static Supplier<Map<String, Long>> register(MetricGroup group, Environment env) {
        String dir = env.getJobConfiguration().get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        if (dir == null) {
            dir = env.getTaskManagerInfo().getConfiguration().get(CheckpointingOptions.CHECKPOINTS_DIRECTORY);
        }
        if (!S3TieredBridge.isTieredPath(dir)) {
            return null;
        }
        Supplier<Map<String, Long>> snapshot = snapshotOf(new Path(dir));
        if (snapshot == null) {
            return null;
        }
        MetricGroup g = group.addGroup(BridgeContract.SCHEME);
        for (String name : BridgeContract.METRIC_NAMES) {
            g.gauge(name, (Gauge<Long>) () -> snapshot.get().getOrDefault(name, 0L));
        }
        // what the JobManager's verification of completed checkpoints last told this TaskManager
        String jobDir = jobDirectoryKey(env, dir);
        g.gauge(VERIFIED_CHECKPOINT, (Gauge<Long>) () -> TaskManagerVerificationStatus.of(jobDir).newestVerified());
        g.gauge(VERIFICATION_MISSING_OBJECTS, (Gauge<Long>) () -> (long) TaskManagerVerificationStatus.of(jobDir).missingObjects());
        return snapshot;
    }

    /**
     * Where the task's checkpoint storage records the verification status it receives: its own job
     * directory (with {@code execution.checkpointing.create-subdir: false}, the checkpoint
     * directory itself; with a storage set in code, its directory rather than the configuration's).
     */
    private static String jobDirectoryKey(Environment env, String configuredDir) {
        try {
            java.util.Optional<String> key = TaskManagerVerificationStatus.jobDirectoryOf(env.getCheckpointStorageAccess());
            if (key.isPresent()) {
                return key.get();
            }
        } catch (RuntimeException noCheckpointStorage) {
            // the State Processor API's environment throws, a test harness's may have none set:
            // the configured directory's key then
        }
        return PathKey.of(new Path(new Path(configuredDir), env.getJobID().toString()));
    }

    /** A supplier of the file system's figures, or null when it is not the s3tiered one. */
    static Supplier<Map<String, Long>> snapshotOf(Path dir) {
        Optional<S3TieredBridge> bridge;
        try {
            bridge = S3TieredBridge.of(dir);
        } catch (IOException e) {
            LOG.debug("No s3tiered metrics for {}: {}", dir, e.toString());
            return null;
        }
        if (bridge.isEmpty()) {
            return null;
        }
        S3TieredBridge b = bridge.get();
        return () -> {
            try {
                return b.transferMetrics().figures();
            } catch (IOException e) {
                LOG.debug("s3tiered metrics of {} unavailable: {}", dir, e.toString());
                return Map.of();
            }
        };
    }
}
