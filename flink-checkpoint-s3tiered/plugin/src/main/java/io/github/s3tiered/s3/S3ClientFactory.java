package io.github.s3tiered.s3;

import io.github.s3tiered.bridge.DaemonThreads;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.scheme.AuthSchemeOption;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.auth.scheme.S3AuthSchemeProvider;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/** Builds the SDK v2 client; retries are off there because {@link Retrier} does them. */
public final class S3ClientFactory {

    private S3ClientFactory() {}

    /** The object store over a new client, whose requests a cancellation can abort. */
    public static SdkObjectStore store(S3ClientSettings settings, S3Statistics stats) {
        AbortableRequests http = new AbortableRequests(httpClient(settings).build(),
                new UploadBodyWatchdog(settings.socketTimeout(), settings.requestTimeout()));
        ScheduledThreadPoolExecutor timeouts = attemptTimeouts();
        return new SdkObjectStore(create(settings, stats, http, timeouts), settings, http, timeouts);
    }

    /**
     * The SDK's timers of attempt timeouts. Its own pool keeps a cancelled timer queued until it
     * would have fired: an upload's, a day ahead ({@link SdkObjectStore}), would hold about 100
     * bytes per attempt for a day; here it leaves the queue when cancelled.
     */
    private static ScheduledThreadPoolExecutor attemptTimeouts() {
        ScheduledThreadPoolExecutor timeouts = new ScheduledThreadPoolExecutor(2,
                DaemonThreads.named("s3tiered-attempt-timeouts", S3ClientFactory.class.getClassLoader()));
        timeouts.setRemoveOnCancelPolicy(true);
        return timeouts;
    }

    private static ApacheHttpClient.Builder httpClient(S3ClientSettings settings) {
        ApacheHttpClient.Builder http =
                ApacheHttpClient.builder()
                        .maxConnections(settings.maxConnections())
                        .connectionTimeout(settings.connectionTimeout())
                        .socketTimeout(settings.socketTimeout())
                        .connectionAcquisitionTimeout(settings.requestTimeout())
                        // Expect: 100-continue only where the S3 client asks for it (uploads of 1 MiB
                        // or more); the HTTP client's own put it on every request with a body, so
                        // each small file of a checkpoint waited a round trip more before its body
                        // (3 s where a proxy never answers 100 Continue)
                        .expectContinueEnabled(false)
                        .tcpKeepAlive(true);
        if (settings.trustStorePath() != null) {
            // Otherwise the HTTP client uses the JVM's default trust managers (javax.net.ssl.trustStore).
            http.tlsTrustManagersProvider(TrustStores.provider(settings));
        }
        return http;
    }

    /**
     * The client; closing it leaves {@code http} and {@code timeouts} open (the SDK closes only what
     * it built).
     */
    static S3Client create(S3ClientSettings settings, S3Statistics stats, software.amazon.awssdk.http.SdkHttpClient http,
            ScheduledExecutorService timeouts) {
        S3ClientBuilder builder =
                S3Client.builder()
                        .httpClient(http)
                        .overrideConfiguration(
                                ClientOverrideConfiguration.builder()
                                        .retryStrategy(AwsRetryStrategy.doNotRetry())
                                        .apiCallAttemptTimeout(settings.requestTimeout())
                                        .scheduledExecutorService(timeouts)
                                        .addExecutionInterceptor(stats)
                                        .build())
                        .serviceConfiguration(
                                S3Configuration.builder()
                                        .pathStyleAccessEnabled(settings.pathStyleAccess())
                                        .build())
                        .credentialsProvider(credentials(settings));
        if (!settings.signPayload()) {
            // UNSIGNED-PAYLOAD, as the SDK already does over https: no SHA-256 pass over every
            // byte on the client (and on servers that check it). Integrity comes from TCP/TLS,
            // Content-MD5 over http, S3's own checksums (when_supported) and the CRC32C recorded
            // with every object. The property alone is ignored over http, hence the signer.
            builder.putAuthScheme(UnsignedPayloadSigner.authScheme());
            builder.authSchemeProvider(params -> {
                List<AuthSchemeOption> options = new ArrayList<>();
                for (AuthSchemeOption o : S3AuthSchemeProvider.defaultProvider().resolveAuthScheme(params)) {
                    options.add(o.toBuilder()
                            .putSignerProperty(AwsV4HttpSigner.PAYLOAD_SIGNING_ENABLED, false)
                            .build());
                }
                return options;
            });
        }
        if (settings.checksumWhenRequired()) {
            builder.requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                    .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
        } else {
            builder.requestChecksumCalculation(RequestChecksumCalculation.WHEN_SUPPORTED)
                    .responseChecksumValidation(ResponseChecksumValidation.WHEN_SUPPORTED);
        }
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        if (settings.region() != null) {
            builder.region(Region.of(settings.region()));
        }
        return builder.build();
    }

    private static AwsCredentialsProvider credentials(S3ClientSettings settings) {
        if (settings.hasStaticCredentials()) {
            return StaticCredentialsProvider.create(
                    AwsBasicCredentials.create(settings.accessKey(), settings.secretKey()));
        }
        return DefaultCredentialsProvider.builder().build();
    }
}
