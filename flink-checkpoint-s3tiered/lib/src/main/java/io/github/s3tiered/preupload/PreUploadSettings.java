package io.github.s3tiered.preupload;

import org.apache.flink.configuration.ReadableConfig;

import java.io.Serializable;

/**
 * The pre-upload options as the checkpoint storage carries them to the TaskManagers.
 *
 * @param minFileSize files smaller than this end up inside the checkpoint's {@code _metadata}
 *     (Flink's file-state threshold), so they are never pre-uploaded
 */
public record PreUploadSettings(boolean enabled, long reuseWindowMillis, int maxConcurrent, long maxQueuedBytes,
        long minFileSize) implements Serializable {

    public static PreUploadSettings from(ReadableConfig config, long minFileSize) {
        PreUploadSettings s = new PreUploadSettings(config.get(PreUploadOptions.ENABLED),
                config.get(PreUploadOptions.REUSE_WINDOW).toMillis(), config.get(PreUploadOptions.MAX_CONCURRENT),
                config.get(PreUploadOptions.MAX_QUEUED_BYTES).getBytes(), minFileSize);
        if (s.enabled && (s.maxConcurrent < 1 || s.reuseWindowMillis < 1)) {
            throw new org.apache.flink.configuration.IllegalConfigurationException(PreUploadOptions.MAX_CONCURRENT.key()
                    + " must be at least 1 and " + PreUploadOptions.REUSE_WINDOW.key() + " positive; are "
                    + s.maxConcurrent + " and " + s.reuseWindowMillis + " ms");
        }
        return s;
    }

    /** Unreferenced pre-uploaded objects younger than this before the newest checkpoint are kept. */
    public long orphanGraceMillis() {
        return 2 * reuseWindowMillis;
    }

    /** Whether an object name in {@code shared/} is that of a pre-uploaded file: {@code <sha256 hex>.sst}. */
    public static boolean isPreUploadedName(String name) {
        if (name.length() != 68 || !name.endsWith(".sst")) {
            return false;
        }
        for (int i = 0; i < 64; i++) {
            char c = name.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }
}
