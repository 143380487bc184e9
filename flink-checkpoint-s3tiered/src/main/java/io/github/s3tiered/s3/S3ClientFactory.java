package io.github.s3tiered.s3;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;

/** Builds the SDK v2 client; retries are off there because {@link Retrier} does them. */
public final class S3ClientFactory {

    private S3ClientFactory() {}

    public static S3Client create(S3ClientSettings settings, S3Statistics stats) {
        S3ClientBuilder builder =
                S3Client.builder()
                        .httpClientBuilder(
                                ApacheHttpClient.builder()
                                        .maxConnections(settings.maxConnections())
                                        .connectionTimeout(settings.connectionTimeout())
                                        .socketTimeout(settings.socketTimeout())
                                        .connectionAcquisitionTimeout(settings.requestTimeout())
                                        .tcpKeepAlive(true))
                        .overrideConfiguration(
                                ClientOverrideConfiguration.builder()
                                        .retryStrategy(AwsRetryStrategy.doNotRetry())
                                        .apiCallAttemptTimeout(settings.requestTimeout())
                                        .addExecutionInterceptor(stats)
                                        .build())
                        .serviceConfiguration(
                                S3Configuration.builder()
                                        .pathStyleAccessEnabled(settings.pathStyleAccess())
                                        .build())
                        .credentialsProvider(credentials(settings));
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
