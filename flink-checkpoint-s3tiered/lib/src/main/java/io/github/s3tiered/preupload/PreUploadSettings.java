package io.github.s3tiered.preupload;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;

import java.io.Serializable;
import java.time.Duration;

/**
 * The pre-upload options as the checkpoint storage carries them to the TaskManagers.
 *
 * @param minFileSize files smaller than this end up inside the checkpoint's {@code _metadata}
 *     (Flink's file-state threshold), so they are never pre-uploaded
 */
public record PreUploadSettings(boolean enabled, long reuseWindowMillis, int maxConcurrent, long maxQueuedBytes,
        long minFileSize) implements Serializable {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PreUploadSettings.class);

    /** Flink's keys (the same in 1.20 and 2.x, whose option classes differ). */
    private static final ConfigOption<Duration> CHECKPOINT_INTERVAL =
            ConfigOptions.key("execution.checkpointing.interval").durationType().noDefaultValue();
    private static final ConfigOption<Duration> CHECKPOINT_INTERVAL_DURING_BACKLOG =
            ConfigOptions.key("execution.checkpointing.interval-during-backlog").durationType().noDefaultValue();

    /** Keeps twice the window (the orphan grace) and its nanoseconds from overflowing. */
    private static final long MAX_WINDOW_MILLIS = Long.MAX_VALUE / 4_000_000L;

    public static PreUploadSettings from(ReadableConfig config, long minFileSize) {
        long longestInterval = longestCheckpointInterval(config);
        long window = config.getOptional(PreUploadOptions.REUSE_WINDOW).map(Duration::toMillis)
                .orElseGet(() -> defaultReuseWindowMillis(longestInterval));
        if (config.get(PreUploadOptions.ENABLED) && window < longestInterval) {
            LOG.warn("{} ({} ms) is shorter than the checkpoint interval ({} ms): most SST files uploaded ahead of a"
                    + " checkpoint will expire before it and be uploaded again by it; unset it to have twice the interval",
                    PreUploadOptions.REUSE_WINDOW.key(), window, longestInterval);
        }
        PreUploadSettings s = new PreUploadSettings(config.get(PreUploadOptions.ENABLED),
                Math.min(window, MAX_WINDOW_MILLIS), config.get(PreUploadOptions.MAX_CONCURRENT),
                config.get(PreUploadOptions.MAX_QUEUED_BYTES).getBytes(), minFileSize);
        if (s.enabled && (s.maxConcurrent < 1 || s.reuseWindowMillis < 1)) {
            throw new org.apache.flink.configuration.IllegalConfigurationException(PreUploadOptions.MAX_CONCURRENT.key()
                    + " must be at least 1 and " + PreUploadOptions.REUSE_WINDOW.key() + " positive; are "
                    + s.maxConcurrent + " and " + s.reuseWindowMillis + " ms");
        }
        return s;
    }

    /**
     * A file RocksDB writes just after one checkpoint is referenced by the next, an interval
     * later: with the window shorter than the interval, most pre-uploads would expire unused and
     * every such file be uploaded twice. Twice the longest interval also covers one checkpoint
     * that failed or was declined in between.
     */
    static long defaultReuseWindowMillis(long longestInterval) {
        return Math.max(PreUploadOptions.REUSE_WINDOW.defaultValue().toMillis(),
                longestInterval > MAX_WINDOW_MILLIS / 2 ? MAX_WINDOW_MILLIS : 2 * longestInterval);
    }

    private static long longestCheckpointInterval(ReadableConfig config) {
        return Math.max(positiveMillis(config, CHECKPOINT_INTERVAL), positiveMillis(config, CHECKPOINT_INTERVAL_DURING_BACKLOG));
    }

    private static long positiveMillis(ReadableConfig config, ConfigOption<Duration> option) {
        try {
            return config.getOptional(option).map(Duration::toMillis).filter(m -> m > 0).orElse(0L);
        } catch (IllegalArgumentException | ArithmeticException e) {
            return 0; // Flink reports its own malformed option; the window keeps its plain default
        }
    }

    /** Unreferenced pre-uploaded objects younger than this before the newest checkpoint are kept. */
    public long orphanGraceMillis() {
        return 2 * reuseWindowMillis;
    }

    /** Whether an object name in {@code shared/} is that of a pre-uploaded file: {@code <sha256 hex>.sst}. */
    public static boolean isPreUploadedName(String name) {
        return io.github.s3tiered.inspector.discovery.CheckpointNames.isPreUploadedName(name);
    }
}
