package io.github.s3tiered.s3;

import java.net.URI;
import java.time.Duration;

/**
 * Resolved, validated settings of the S3 client. {@link #toString()} never shows the secret key
 * and only the first characters of the access key.
 */
public record S3ClientSettings(
        URI endpoint,
        String region,
        boolean pathStyleAccess,
        String accessKey,
        String secretKey,
        boolean checksumWhenRequired,
        boolean signPayload,
        ServerSideEncryptionMode sse,
        String kmsKeyId,
        int maxConnections,
        Duration connectionTimeout,
        Duration socketTimeout,
        Duration requestTimeout) {

    /** Where requests go, for error messages: the custom endpoint or "AWS S3 (region)". */
    public String endpointDescription() {
        return endpoint != null ? endpoint.toString() : "AWS S3" + (region != null ? " (" + region + ")" : "");
    }

    public boolean hasStaticCredentials() {
        return accessKey != null;
    }

    @Override
    public String toString() {
        return "S3ClientSettings{endpoint="
                + endpointDescription()
                + ", region="
                + region
                + ", pathStyleAccess="
                + pathStyleAccess
                + ", credentials="
                + (accessKey == null ? "default-chain" : "static(" + maskedAccessKey() + ")")
                + ", checksum="
                + (checksumWhenRequired ? "when_required" : "when_supported")
                + ", signPayload="
                + signPayload
                + ", sse="
                + sse
                + (kmsKeyId != null ? "(" + kmsKeyId + ")" : "")
                + ", maxConnections="
                + maxConnections
                + ", connectionTimeout="
                + connectionTimeout
                + ", socketTimeout="
                + socketTimeout
                + ", requestTimeout="
                + requestTimeout
                + '}';
    }

    private String maskedAccessKey() {
        return accessKey.length() <= 4 ? "****" : accessKey.substring(0, 4) + "****";
    }
}
