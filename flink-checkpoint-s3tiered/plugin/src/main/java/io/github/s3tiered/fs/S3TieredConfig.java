package io.github.s3tiered.fs;

import io.github.s3tiered.s3.RetryPolicy;
import io.github.s3tiered.s3.S3ClientSettings;
import io.github.s3tiered.s3.ServerSideEncryptionMode;
import io.github.s3tiered.s3.TrustStores;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.FallbackKey;
import org.apache.flink.configuration.IllegalConfigurationException;

import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.List;
import java.util.Locale;

/**
 * The validated configuration of the file system, read once from Flink's configuration. Every
 * error names the key the user set (the {@code s3tiered.} key or the Flink S3 key it fell back to).
 */
public record S3TieredConfig(
        S3ClientSettings client,
        RetryPolicy retryPolicy,
        long multipartThreshold,
        long partSize,
        long downloadPartSize,
        int transferThreads,
        int readReopenAttempts,
        long readWholeFirstMaxBytes,
        boolean localEnabled,
        Path localDir,
        long localMaxBytes,
        boolean cacheOnRead,
        String entropyKey,
        int entropyLength) {

    static final long MIN_PART_SIZE = 5L * 1024 * 1024;
    /** S3's largest part, and its largest single PUT. */
    static final long MAX_PART_SIZE = 5L * 1024 * 1024 * 1024;
    /** S3's most parts in one multipart upload. */
    static final int MAX_PARTS = 10_000;

    public static S3TieredConfig from(Configuration conf) {
        warnWhereBlank(conf);
        URI endpoint = null;
        String endpointValue = trimToNull(get(conf, S3TieredOptions.ENDPOINT));
        if (endpointValue != null) {
            String url = endpointValue;
            if (!url.contains("://")) {
                // as Flink's S3 file systems take it (Hadoop's S3A, Presto): a bare host[:port], over TLS
                // unless their key switches it off
                url = (tlsSwitchedOff(conf) ? "http://" : "https://") + url;
            }
            try {
                endpoint = URI.create(url);
            } catch (IllegalArgumentException e) {
                throw invalid(conf, S3TieredOptions.ENDPOINT, endpointValue, e.getMessage());
            }
            if (endpoint.getScheme() == null || !(endpoint.getScheme().equals("http") || endpoint.getScheme().equals("https"))) {
                throw invalid(conf, S3TieredOptions.ENDPOINT, endpointValue, "expected http(s)://host[:port] or host[:port]");
            }
            if (endpoint.getHost() == null) {
                String authority = endpoint.getRawAuthority();
                throw invalid(conf, S3TieredOptions.ENDPOINT, endpointValue, authority != null && authority.contains("_")
                        ? "'_' is not allowed in a host name (a URI's host has letters, digits, '-' and '.'); use the"
                                + " host's IP address or another name for it"
                        : "expected http(s)://host[:port] or host[:port]");
            }
        }
        boolean custom = endpoint != null;

        String region = trimToNull(get(conf, S3TieredOptions.REGION));
        if (region == null) {
            if (custom) {
                region = "us-east-1";
            } else {
                try {
                    region = DefaultAwsRegionProviderChain.builder().build().getRegion().id();
                } catch (RuntimeException e) {
                    throw new IllegalConfigurationException("No AWS region for s3tiered://: set "
                            + S3TieredOptions.REGION.key() + " (or s3.region), or AWS_REGION. " + e.getMessage());
                }
            }
        }

        Boolean pathStyle = get(conf, S3TieredOptions.PATH_STYLE_ACCESS);
        String accessKey = trimToNull(get(conf, S3TieredOptions.ACCESS_KEY));
        String secretKey = trimToNull(get(conf, S3TieredOptions.SECRET_KEY));
        if ((accessKey == null) != (secretKey == null)) {
            throw new IllegalConfigurationException(
                    (accessKey == null ? keyUsed(conf, S3TieredOptions.SECRET_KEY) : keyUsed(conf, S3TieredOptions.ACCESS_KEY))
                            + " is set but " + (accessKey == null ? S3TieredOptions.ACCESS_KEY.key() : S3TieredOptions.SECRET_KEY.key())
                            + " is not: set both, or neither to use the default credentials chain");
        }

        String checksum = trimToNull(get(conf, S3TieredOptions.CHECKSUM_MODE));
        boolean whenRequired;
        if (checksum == null) {
            whenRequired = custom;
        } else {
            switch (checksum.toLowerCase(Locale.ROOT).replace('-', '_')) {
                case "when_required" -> whenRequired = true;
                case "when_supported" -> whenRequired = false;
                default -> throw invalid(conf, S3TieredOptions.CHECKSUM_MODE, checksum, "expected when_supported or when_required");
            }
        }

        String sseValue = get(conf, S3TieredOptions.SSE_TYPE);
        ServerSideEncryptionMode sse = ServerSideEncryptionMode.fromConfigValue(sseValue);
        if (sse == null) {
            throw invalid(conf, S3TieredOptions.SSE_TYPE, sseValue, "expected none, sse-s3 or sse-kms");
        }
        String kmsKey = trimToNull(get(conf, S3TieredOptions.SSE_KMS_KEY_ID));
        if (!conf.containsKey(S3TieredOptions.SSE_TYPE.key())) {
            // what Flink's own S3 file systems' keys ask for, never dropped in silence
            ForeignS3Keys.Encryption asked = ForeignS3Keys.encryption(conf);
            if (asked != null) {
                sse = asked.mode();
                if (kmsKey == null) {
                    kmsKey = asked.kmsKeyId();
                }
            }
        }
        if (kmsKey != null && sse != ServerSideEncryptionMode.SSE_KMS) {
            throw new IllegalConfigurationException(S3TieredOptions.SSE_KMS_KEY_ID.key() + " is set but "
                    + S3TieredOptions.SSE_TYPE.key() + " is '" + sse + "', not 'sse-kms'");
        }

        String trustStoreValue = trimToNull(get(conf, S3TieredOptions.TRUST_STORE_PATH));
        String trustStorePassword = get(conf, S3TieredOptions.TRUST_STORE_PASSWORD);
        String trustStoreType = trimToNull(get(conf, S3TieredOptions.TRUST_STORE_TYPE));
        Path trustStore = null;
        if (trustStoreValue != null) {
            trustStore = Path.of(trustStoreValue).toAbsolutePath();
            if (!Files.isRegularFile(trustStore) || !Files.isReadable(trustStore)) {
                throw invalid(conf, S3TieredOptions.TRUST_STORE_PATH, trustStoreValue, "no readable file there");
            }
            try {
                TrustStores.load(trustStore, trustStorePassword, trustStoreType);
            } catch (IOException | GeneralSecurityException e) {
                // Never the password: a wrong one shows as an IOException about integrity.
                throw invalid(conf, S3TieredOptions.TRUST_STORE_PATH, trustStoreValue, "cannot read it as a "
                        + (trustStoreType != null ? trustStoreType : KeyStore.getDefaultType())
                        + " trust store with the password of " + S3TieredOptions.TRUST_STORE_PASSWORD.key()
                        + (trustStorePassword == null ? " (unset)" : "") + " (" + e.getMessage() + ")");
            }
        } else if (trustStorePassword != null || trustStoreType != null) {
            throw new IllegalConfigurationException((trustStorePassword != null ? S3TieredOptions.TRUST_STORE_PASSWORD.key()
                    : S3TieredOptions.TRUST_STORE_TYPE.key()) + " is set but " + S3TieredOptions.TRUST_STORE_PATH.key()
                    + " is not");
        }

        Boolean contentMd5 = get(conf, S3TieredOptions.CONTENT_MD5);
        int maxConnections = atLeast(conf, S3TieredOptions.MAX_CONNECTIONS, 1);
        S3ClientSettings client =
                new S3ClientSettings(
                        endpoint,
                        region,
                        pathStyle != null ? pathStyle : custom,
                        accessKey,
                        secretKey,
                        whenRequired,
                        get(conf, S3TieredOptions.SIGN_PAYLOAD),
                        contentMd5 != null ? contentMd5 : endpoint != null && "http".equalsIgnoreCase(endpoint.getScheme()),
                        sse,
                        kmsKey,
                        maxConnections,
                        positive(conf, S3TieredOptions.CONNECTION_TIMEOUT),
                        atLeastOneSecond(conf, S3TieredOptions.SOCKET_TIMEOUT),
                        atLeastOneSecond(conf, S3TieredOptions.REQUEST_TIMEOUT),
                        trustStore,
                        trustStorePassword,
                        trustStoreType);

        RetryPolicy retry =
                new RetryPolicy(
                        atLeast(conf, S3TieredOptions.RETRY_MAX_ATTEMPTS, 1),
                        positive(conf, S3TieredOptions.RETRY_BASE_DELAY),
                        positive(conf, S3TieredOptions.RETRY_MAX_DELAY),
                        atLeast(conf, S3TieredOptions.THROTTLE_MAX_RETRIES, 0),
                        positive(conf, S3TieredOptions.THROTTLE_BASE_DELAY),
                        positive(conf, S3TieredOptions.THROTTLE_MAX_DELAY));

        long partSize = get(conf, S3TieredOptions.PART_SIZE).getBytes();
        if (partSize < MIN_PART_SIZE) {
            throw invalid(conf, S3TieredOptions.PART_SIZE, String.valueOf(partSize), "S3 parts must be at least 5 MiB");
        }
        if (partSize > MAX_PART_SIZE) {
            throw invalid(conf, S3TieredOptions.PART_SIZE, String.valueOf(partSize), "S3 parts must be at most 5 GiB");
        }
        long threshold = get(conf, S3TieredOptions.MULTIPART_THRESHOLD).getBytes();
        if (threshold < MIN_PART_SIZE) {
            throw invalid(conf, S3TieredOptions.MULTIPART_THRESHOLD, String.valueOf(threshold), "must be at least 5 MiB");
        }
        if (threshold > MAX_PART_SIZE) {
            throw invalid(conf, S3TieredOptions.MULTIPART_THRESHOLD, String.valueOf(threshold),
                    "must be at most 5 GiB, S3's limit for one PUT");
        }
        long downloadPart = get(conf, S3TieredOptions.DOWNLOAD_PART_SIZE).getBytes();
        if (downloadPart < 64 * 1024) {
            throw invalid(conf, S3TieredOptions.DOWNLOAD_PART_SIZE, String.valueOf(downloadPart), "must be at least 64 KiB");
        }

        String dir = trimToNull(get(conf, S3TieredOptions.LOCAL_DIR));
        Path localDir = dir != null ? Path.of(dir) : Path.of(System.getProperty("java.io.tmpdir"), "s3tiered-local-tier");
        long maxBytes = get(conf, S3TieredOptions.LOCAL_MAX_BYTES).getBytes();
        if (maxBytes <= 0) {
            throw invalid(conf, S3TieredOptions.LOCAL_MAX_BYTES, String.valueOf(maxBytes), "must be positive");
        }
        String entropyKey = trimToNull(get(conf, S3TieredOptions.ENTROPY_KEY));
        int entropyLength = atLeast(conf, S3TieredOptions.ENTROPY_LENGTH, 1);

        return new S3TieredConfig(
                client,
                retry,
                threshold,
                partSize,
                downloadPart,
                atLeast(conf, S3TieredOptions.TRANSFER_THREADS, 1),
                atLeast(conf, S3TieredOptions.READ_REOPEN_ATTEMPTS, 0),
                get(conf, S3TieredOptions.READ_WHOLE_FIRST_MAX_SIZE).getBytes(),
                get(conf, S3TieredOptions.LOCAL_ENABLED),
                localDir,
                maxBytes,
                get(conf, S3TieredOptions.LOCAL_CACHE_ON_READ),
                entropyKey,
                entropyLength);
    }

    /** Reads an option, turning Flink's parse errors into messages that name the key. */
    /**
     * TLS switched off by the key of Flink's S3 file systems: Hadoop's S3A ({@code
     * s3.connection.ssl.enabled}, also as {@code s3a.} and {@code fs.s3a.}) or Presto's ({@code
     * s3.ssl.enabled}, also as {@code presto.s3.}).
     */
    private static boolean tlsSwitchedOff(Configuration conf) {
        java.util.Map<String, String> all = conf.toMap();
        for (String key : List.of("s3.connection.ssl.enabled", "s3a.connection.ssl.enabled", "fs.s3a.connection.ssl.enabled",
                "s3.ssl.enabled", "presto.s3.ssl.enabled")) {
            if ("false".equalsIgnoreCase(String.valueOf(all.get(key)).trim())) {
                return true;
            }
        }
        return false;
    }

    private static <T> T get(Configuration conf, ConfigOption<T> option) {
        io.github.s3tiered.bridge.UnitlessValues.check(conf, option);
        try {
            return conf.get(option);
        } catch (IllegalArgumentException e) {
            throw new IllegalConfigurationException("Invalid value for " + keyUsed(conf, option) + ": " + e.getMessage(), e);
        }
    }

    private static int atLeast(Configuration conf, ConfigOption<Integer> option, int min) {
        int v = get(conf, option);
        if (v < min) {
            throw invalid(conf, option, String.valueOf(v), "must be at least " + min);
        }
        return v;
    }

    private static java.time.Duration positive(Configuration conf, ConfigOption<java.time.Duration> option) {
        java.time.Duration d = get(conf, option);
        if (d.isNegative() || d.isZero()) {
            throw invalid(conf, option, d.toString(), "must be positive");
        }
        return d;
    }

    /**
     * A socket or request timeout below a second fails every transfer of a part (a number without a
     * unit is milliseconds to Flink: "s3tiered.request.timeout: 300" is 300 ms).
     */
    private static java.time.Duration atLeastOneSecond(Configuration conf, ConfigOption<java.time.Duration> option) {
        java.time.Duration d = positive(conf, option);
        if (d.compareTo(java.time.Duration.ofSeconds(1)) < 0) {
            throw invalid(conf, option, d.toMillis() + " ms", "must be at least 1 s (a number without a unit is"
                    + " milliseconds; write e.g. 30 s or 5 min)");
        }
        return d;
    }

    private static IllegalConfigurationException invalid(Configuration conf, ConfigOption<?> option, String value, String why) {
        return new IllegalConfigurationException("Invalid value '" + value + "' for " + keyUsed(conf, option) + ": " + why);
    }

    /** The key the user actually set: the option's own key or the fallback key it used. */
    static String keyUsed(Configuration conf, ConfigOption<?> option) {
        if (conf.containsKey(option.key())) {
            return option.key();
        }
        for (FallbackKey fk : option.fallbackKeys()) {
            if (conf.containsKey(fk.getKey())) {
                return fk.getKey();
            }
        }
        return option.key();
    }

    /**
     * A key present with an empty value is taken as unset, and what unset means is not what an
     * empty placeholder (an unset variable in a deployment's template) meant: AWS S3 instead of
     * the store, the default credentials chain, a tier under the temporary directory. Said once
     * per key, naming it.
     */
    private static void warnWhereBlank(Configuration conf) {
        java.util.Map<String, String> all = conf.toMap();
        java.util.Map<ConfigOption<String>, String> unsetMeans = new java.util.LinkedHashMap<>();
        unsetMeans.put(S3TieredOptions.ENDPOINT, "requests go to AWS S3 of the region");
        unsetMeans.put(S3TieredOptions.REGION, "the AWS SDK's region chain applies (us-east-1 with a custom endpoint)");
        unsetMeans.put(S3TieredOptions.ACCESS_KEY, "the AWS SDK's default credentials chain applies");
        unsetMeans.put(S3TieredOptions.SECRET_KEY, "the AWS SDK's default credentials chain applies");
        unsetMeans.put(S3TieredOptions.LOCAL_DIR, "the local tier goes under java.io.tmpdir (s3tiered-local-tier)");
        unsetMeans.forEach((option, meaning) -> {
            String key = keyUsed(conf, option);
            String value = all.get(key);
            if (value != null && value.isBlank() && BLANK_WARNED.add(key)) {
                LOG.warn("{} is set but empty, and taken as unset: {}", key, meaning);
            }
        });
    }

    private static final java.util.Set<String> BLANK_WARNED = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(S3TieredConfig.class);

    private static String trimToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
