package io.github.s3tiered.s3;

import java.util.Locale;

/** Server-side encryption applied to every uploaded object. */
public enum ServerSideEncryptionMode {
    NONE("none"),
    SSE_S3("sse-s3"),
    SSE_KMS("sse-kms");

    private final String configValue;

    ServerSideEncryptionMode(String configValue) {
        this.configValue = configValue;
    }

    /** Parses a configuration value; null when it is none of the known ones. */
    public static ServerSideEncryptionMode fromConfigValue(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        // flink-s3-fs-native's names for the same
        if (v.equals("aes256")) {
            return SSE_S3;
        }
        if (v.equals("aws:kms")) {
            return SSE_KMS;
        }
        for (ServerSideEncryptionMode m : values()) {
            if (m.configValue.equals(v)) {
                return m;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return configValue;
    }
}
