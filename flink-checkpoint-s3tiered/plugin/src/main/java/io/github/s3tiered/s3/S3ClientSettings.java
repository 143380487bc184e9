package io.github.s3tiered.s3;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Resolved, validated settings of the S3 client. {@link #toString()} never shows the secret key or
 * the trust store's password, and only the first characters of the access key. A null trust store
 * means the JVM's default one.
 */
public record S3ClientSettings(
        URI endpoint,
        String region,
        boolean pathStyleAccess,
        String accessKey,
        String secretKey,
        boolean checksumWhenRequired,
        boolean signPayload,
        boolean contentMd5,
        ServerSideEncryptionMode sse,
        String kmsKeyId,
        int maxConnections,
        Duration connectionTimeout,
        Duration socketTimeout,
        Duration requestTimeout,
        Path trustStorePath,
        String trustStorePassword,
        String trustStoreType) {

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
                + ", contentMd5="
                + contentMd5
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
                + ", trustStore="
                + (trustStorePath == null ? "jvm-default" : trustStorePath + (trustStoreType != null ? " (" + trustStoreType + ")" : ""))
                + '}';
    }

    private String maskedAccessKey() {
        return accessKey.length() <= 4 ? "****" : accessKey.substring(0, 4) + "****";
    }
}
