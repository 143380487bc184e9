package io.github.s3tiered.preupload;

import io.github.s3tiered.inspector.discovery.CheckpointNames;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Serializable;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pre-upload options as the checkpoint storage carries them to the TaskManagers.
 *
 * @param minFileSize files smaller than this end up inside the checkpoint's {@code _metadata}
 *     (Flink's file-state threshold), so they are never pre-uploaded
 * @param checkpointTimeoutMillis how long a checkpoint that was handed a pre-upload may still take
 *     to complete ({@code execution.checkpointing.timeout})
 */
public record PreUploadSettings(boolean enabled, long reuseWindowMillis, int maxConcurrent, long maxQueuedBytes,
        long minFileSize, long checkpointTimeoutMillis) implements Serializable {

    private static final Logger LOG = LoggerFactory.getLogger(PreUploadSettings.class);
    /** What was logged in this process: the storage is configured for every task, and once is enough. */
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    // Flink's keys, the same in 1.20 and 2.x, whose option classes differ
    private static final ConfigOption<Duration> CHECKPOINT_INTERVAL =
            ConfigOptions.key("execution.checkpointing.interval").durationType().noDefaultValue();
    private static final ConfigOption<Duration> CHECKPOINT_INTERVAL_DURING_BACKLOG =
            ConfigOptions.key("execution.checkpointing.interval-during-backlog").durationType().noDefaultValue();
    private static final ConfigOption<Duration> MIN_PAUSE =
            ConfigOptions.key("execution.checkpointing.min-pause").durationType().noDefaultValue();
    private static final ConfigOption<Duration> CHECKPOINT_TIMEOUT =
            ConfigOptions.key("execution.checkpointing.timeout").durationType().defaultValue(Duration.ofMinutes(10));

    /** Keeps the graces (sums of windows and the timeout) and their nanoseconds from overflowing. */
    private static final long MAX_MILLIS = Long.MAX_VALUE / 8_000_000L;

    public static PreUploadSettings from(ReadableConfig config, long minFileSize) {
        // without checkpoints (no interval: Flink's test for checkpointing), nothing would refer to
        // the uploads, and every file RocksDB writes would go to S3 for as long as the job runs
        boolean checkpointing = positiveMillis(config, CHECKPOINT_INTERVAL) > 0;
        boolean requested = config.get(PreUploadOptions.ENABLED);
        boolean enabled = requested && checkpointing;
        if (requested && !checkpointing) {
            // debug only: Flink makes a storage of the cluster's configuration alone first, then one
            // with the job's, which may set the interval
            LOG.debug("Uploads ahead of checkpoints: off, as checkpointing is not enabled ({} not set)",
                    CHECKPOINT_INTERVAL.key());
        }
        io.github.s3tiered.bridge.UnitlessValues.check(config, PreUploadOptions.REUSE_WINDOW);
        io.github.s3tiered.bridge.UnitlessValues.check(config, PreUploadOptions.MAX_QUEUED_BYTES);
        long longestGap = longestGapBetweenCheckpoints(config);
        boolean explicit = config.getOptional(PreUploadOptions.REUSE_WINDOW).isPresent();
        long window = Math.min(MAX_MILLIS, explicit
                ? config.get(PreUploadOptions.REUSE_WINDOW).toMillis()
                : defaultReuseWindowMillis(longestGap));
        PreUploadSettings s = new PreUploadSettings(enabled, window, config.get(PreUploadOptions.MAX_CONCURRENT),
                config.get(PreUploadOptions.MAX_QUEUED_BYTES).getBytes(), minFileSize,
                Math.min(MAX_MILLIS, positiveMillis(config, CHECKPOINT_TIMEOUT)));
        if (requested && (s.maxConcurrent < 1 || s.reuseWindowMillis < 1)) { // a wrong value is wrong either way
            throw new IllegalConfigurationException(PreUploadOptions.MAX_CONCURRENT.key()
                    + " must be at least 1 and " + PreUploadOptions.REUSE_WINDOW.key() + " positive; are "
                    + s.maxConcurrent + " and " + s.reuseWindowMillis + " ms");
        }
        if (enabled && explicit && window < longestGap) {
            logOnce(true, "{} ({} ms) is shorter than the time between checkpoints ({} ms): most SST files uploaded ahead of a"
                    + " checkpoint will expire before it and be uploaded again by it; unset it to have twice that time",
                    PreUploadOptions.REUSE_WINDOW.key(), window, longestGap);
        } else if (enabled) {
            logOnce(false, "Uploads ahead of checkpoints (by the tiered RocksDB state backend; other backends upload"
                    + " nothing ahead): reuse window {} ms{}; unreferenced ones are kept {} ms by the orphan"
                    + " removal and {} ms by the recovery inspector's orphans", window,
                    explicit ? "" : " (twice the time between checkpoints, at least 10 min)", s.orphanGraceMillis(),
                    s.orphanSearchGraceMillis());
        }
        return s;
    }

    /**
     * A file RocksDB writes just after one checkpoint is referenced by the next, at least an
     * interval (or the minimum pause) later: with the window shorter than that, most pre-uploads
     * would expire unused and every such file be uploaded twice. Twice the longest gap also covers
     * one checkpoint that failed or was declined in between.
     */
    static long defaultReuseWindowMillis(long longestGap) {
        return Math.max(PreUploadOptions.REUSE_WINDOW.defaultValue().toMillis(),
                longestGap > MAX_MILLIS / 2 ? MAX_MILLIS : 2 * longestGap);
    }

    private static long longestGapBetweenCheckpoints(ReadableConfig config) {
        return Math.max(positiveMillis(config, MIN_PAUSE), Math.max(positiveMillis(config, CHECKPOINT_INTERVAL),
                positiveMillis(config, CHECKPOINT_INTERVAL_DURING_BACKLOG)));
    }

    private static long positiveMillis(ReadableConfig config, ConfigOption<Duration> option) {
        try {
            Duration d = option.hasDefaultValue() ? config.get(option) : config.getOptional(option).orElse(null);
            return d == null ? 0 : Math.max(0, d.toMillis());
        } catch (IllegalArgumentException | ArithmeticException e) {
            return 0; // Flink reports its own malformed option; the window keeps its plain default
        }
    }

    /** Logs at warn ({@code warn}) or info, the first time this process sees the message. */
    private static void logOnce(boolean warn, String format, Object... args) {
        if (LOGGED.add(format + Arrays.toString(args))) {
            if (warn) {
                LOG.warn(format, args);
            } else {
                LOG.info(format, args);
            }
        }
    }

    /**
     * These settings as a task applies them to one checkpoint: uploads ahead of it are reused
     * within the shorter of this (the TaskManager's) window and the JobManager's, sent with the
     * checkpoint. The JobManager's orphan removal, and the grace it records for the inspector's
     * {@code orphans}, keep an unreferenced upload only as long as its own window allows: a task
     * reusing one for longer (a window, interval or minimum pause set only in the TaskManagers'
     * configuration) could hand a checkpoint an object already deleted.
     *
     * @param jobManagerWindowMillis the JobManager's window; not positive when it has pre-upload off,
     *     sent none yet, or holds reuse back ({@link JobManagerReuseWindows#HELD}), and then nothing is
     *     reused
     */
    public PreUploadSettings reusedWithin(long jobManagerWindowMillis) {
        if (!enabled || jobManagerWindowMillis >= reuseWindowMillis) {
            return this;
        }
        if (jobManagerWindowMillis == JobManagerReuseWindows.HELD) {
            LOG.debug("The JobManager has not yet recorded how long the recovery inspector must keep unreferenced uploads"
                    + " made ahead of checkpoints: this checkpoint reuses none");
            return new PreUploadSettings(false, reuseWindowMillis, maxConcurrent, maxQueuedBytes, minFileSize,
                    checkpointTimeoutMillis);
        }
        if (jobManagerWindowMillis <= 0) {
            logOnce(true, "Uploads ahead of checkpoints are on in this TaskManager ({}) but off in the JobManager, or the"
                    + " JobManager's window has not reached this TaskManager yet: no checkpoint reuses an upload made ahead"
                    + " of it (the JobManager's orphan removal would not keep it), and with the JobManager's off none is"
                    + " made; set the option alike on both", PreUploadOptions.ENABLED.key());
            return new PreUploadSettings(false, reuseWindowMillis, maxConcurrent, maxQueuedBytes, minFileSize,
                    checkpointTimeoutMillis);
        }
        logOnce(true, "Uploads ahead of checkpoints are reused within the JobManager's window ({} ms), shorter than this"
                + " TaskManager's ({} ms): the JobManager keeps unreferenced uploads by its own; set {} and the checkpoint"
                + " interval alike on both", jobManagerWindowMillis, reuseWindowMillis, PreUploadOptions.REUSE_WINDOW.key());
        return new PreUploadSettings(true, jobManagerWindowMillis, maxConcurrent, maxQueuedBytes, minFileSize,
                checkpointTimeoutMillis);
    }

    /**
     * These settings reusing only uploads begun at or after {@code sinceNanos}
     * ({@link JobManagerReuseWindows#reusableSinceNanos}): the window shortened to the time since,
     * which a stream checks again when it closes, later, so never longer.
     */
    public PreUploadSettings reusedSince(long sinceNanos) {
        if (!enabled || sinceNanos == Long.MIN_VALUE) {
            return this;
        }
        long elapsedMillis = (System.nanoTime() - sinceNanos) / 1_000_000;
        if (elapsedMillis >= reuseWindowMillis) {
            return this;
        }
        return new PreUploadSettings(elapsedMillis > 0, Math.max(1, elapsedMillis), maxConcurrent, maxQueuedBytes,
                minFileSize, checkpointTimeoutMillis);
    }

    /**
     * How long the storage's own orphan removal keeps an unreferenced pre-uploaded object, counted
     * back from the newest completed checkpoint; it removes nothing while a checkpoint is pending.
     */
    public long orphanGraceMillis() {
        return 2 * reuseWindowMillis;
    }

    /**
     * How long an unreferenced pre-uploaded object must be kept by a search that sees neither the
     * pending checkpoints nor the TaskManagers (the recovery inspector's {@code orphans}), counted
     * from the time S3 stamped it: a checkpoint may be handed it up to a window after its upload
     * ended, and that checkpoint may then run up to its timeout before its {@code _metadata}
     * references it. One more window covers the upload's own duration (S3 stamps its start) and
     * clock skew, as the storage's own orphan removal keeps a window of slack.
     */
    public long orphanSearchGraceMillis() {
        return 2 * reuseWindowMillis + checkpointTimeoutMillis;
    }

    /**
     * Whether an object name in {@code shared/} is that of a pre-uploaded file: {@code <sha256
     * hex>-<16 hex digits>.sst}, or {@code <sha256 hex>.sst} as 0.2.0 named them.
     */
    public static boolean isPreUploadedName(String name) {
        return CheckpointNames.isPreUploadedName(name);
    }

    /**
     * An upload ahead named for that upload alone ({@code <sha256>-<16 hex>.sst}): handed to one
     * checkpoint at most, which owns it from then on. A content-named one ({@code <sha256>.sst},
     * a 0.2.0 plugin's) may be the object of several checkpoints.
     */
    public static boolean isNameOfOneUpload(String name) {
        return isPreUploadedName(name) && name.indexOf('-') == 64;
    }
}
