package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.ServerSideEncryptionMode;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;

import org.junit.jupiter.api.Test;

class S3TieredConfigTest {

    private static Configuration withEndpoint() {
        Configuration c = new Configuration();
        c.setString("s3.endpoint", "http://minio:9000");
        return c;
    }

    @Test
    void flinksStandardS3KeysAreUsedAsFallbacks() {
        Configuration c = withEndpoint();
        c.setString("s3.access-key", "AKIAEXAMPLE");
        c.setString("s3.secret-key", "very-secret");
        c.setString("s3.region", "eu-west-1");
        c.setString("s3.path.style.access", "false");
        S3TieredConfig config = S3TieredConfig.from(c);
        assertThat(config.client().endpoint()).hasToString("http://minio:9000");
        assertThat(config.client().accessKey()).isEqualTo("AKIAEXAMPLE");
        assertThat(config.client().region()).isEqualTo("eu-west-1");
        assertThat(config.client().pathStyleAccess()).isFalse();
    }

    @Test
    void aBareHostIsTakenAsFlinksS3FileSystemsTakeIt() {
        Configuration c = new Configuration();
        c.setString("s3.endpoint", "minio:9000");
        assertThat(S3TieredConfig.from(c).client().endpoint()).hasToString("https://minio:9000");

        c.setString("s3.connection.ssl.enabled", "false"); // Hadoop's S3A key
        assertThat(S3TieredConfig.from(c).client().endpoint()).hasToString("http://minio:9000");

        Configuration presto = new Configuration();
        presto.setString("s3.endpoint", "s3.eu-central-1.amazonaws.com");
        presto.setString("s3.ssl.enabled", "false");
        assertThat(S3TieredConfig.from(presto).client().endpoint()).hasToString("http://s3.eu-central-1.amazonaws.com");
    }

    @Test
    void ownKeysWinOverFallbacks() {
        Configuration c = withEndpoint();
        c.setString("s3tiered.endpoint", "https://s3.example.com");
        assertThat(S3TieredConfig.from(c).client().endpoint()).hasToString("https://s3.example.com");
    }

    @Test
    void aCustomEndpointDefaultsToPathStyleAndChecksumsWhenRequired() {
        S3TieredConfig config = S3TieredConfig.from(withEndpoint());
        assertThat(config.client().pathStyleAccess()).isTrue();
        assertThat(config.client().checksumWhenRequired()).isTrue();
        assertThat(config.client().region()).isEqualTo("us-east-1");
        assertThat(config.client().hasStaticCredentials()).isFalse();
    }

    @Test
    void uploadsCarryTheirMd5WhereNothingElseChecksTheBytesInFlight() {
        Configuration http = new Configuration();
        http.setString("s3tiered.endpoint", "http://minio:9000");
        assertThat(S3TieredConfig.from(http).client().contentMd5()).as("plain http").isTrue();
        Configuration https = new Configuration();
        https.setString("s3tiered.endpoint", "https://minio:9000");
        assertThat(S3TieredConfig.from(https).client().contentMd5()).as("TLS").isFalse();
        Configuration aws = new Configuration();
        aws.setString("s3.region", "us-west-2");
        assertThat(S3TieredConfig.from(aws).client().contentMd5()).as("AWS: https, and the SDK's checksums").isFalse();
        https.setString(S3TieredOptions.CONTENT_MD5.key(), "true");
        assertThat(S3TieredConfig.from(https).client().contentMd5()).isTrue();
        http.setString(S3TieredOptions.CONTENT_MD5.key(), "maybe");
        assertThatThrownBy(() -> S3TieredConfig.from(http)).hasMessageContaining(S3TieredOptions.CONTENT_MD5.key());
    }

    @Test
    void awsS3DefaultsToVirtualHostsAndChecksumsWhenSupported() {
        Configuration c = new Configuration();
        c.setString("s3.region", "us-west-2");
        S3TieredConfig config = S3TieredConfig.from(c);
        assertThat(config.client().pathStyleAccess()).isFalse();
        assertThat(config.client().checksumWhenRequired()).isFalse();
        assertThat(config.client().endpoint()).isNull();
    }

    @Test
    void secretsNeverAppearInToString() {
        Configuration c = withEndpoint();
        c.setString("s3.access-key", "AKIAEXAMPLEKEY");
        c.setString("s3.secret-key", "very-secret-value");
        String s = S3TieredConfig.from(c).toString() + S3TieredConfig.from(c).client();
        assertThat(s).doesNotContain("very-secret-value").doesNotContain("AKIAEXAMPLEKEY").contains("AKIA****");
    }

    @Test
    void invalidValuesNameTheKeyTheUserSet() {
        Configuration c = withEndpoint();
        c.setString("s3.endpoint", "ftp://minio:9000");
        assertThatThrownBy(() -> S3TieredConfig.from(c)).isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("s3.endpoint").hasMessageContaining("ftp://minio:9000");

        Configuration underscore = withEndpoint();
        underscore.setString("s3.endpoint", "http://minio_1:9000");
        assertThatThrownBy(() -> S3TieredConfig.from(underscore)).hasMessageContaining("s3.endpoint")
                .hasMessageContaining("'_' is not allowed in a host name");

        Configuration unitless = withEndpoint();
        unitless.setString("s3tiered.request.timeout", "300"); // meant as seconds: 300 ms
        assertThatThrownBy(() -> S3TieredConfig.from(unitless)).hasMessageContaining("s3tiered.request.timeout")
                .hasMessageContaining("300 ms").hasMessageContaining("'300 s'");

        Configuration unitlessConnect = withEndpoint();
        unitlessConnect.setString("s3tiered.connection.timeout", "5"); // meant as seconds: every connect would time out
        assertThatThrownBy(() -> S3TieredConfig.from(unitlessConnect)).hasMessageContaining("s3tiered.connection.timeout")
                .hasMessageContaining("5 ms");
        Configuration unitlessTier = withEndpoint();
        unitlessTier.setString("s3tiered.local.max-bytes", "50"); // meant as gigabytes: a tier of 50 bytes
        assertThatThrownBy(() -> S3TieredConfig.from(unitlessTier)).hasMessageContaining("s3tiered.local.max-bytes")
                .hasMessageContaining("50 bytes").hasMessageContaining("'50 b'");
        Configuration spelledOut = withEndpoint();
        spelledOut.setString("s3tiered.connection.timeout", "500 ms"); // the unit written out: taken as written
        spelledOut.setString("s3tiered.retry.base-delay", "20000"); // large: no other reading
        assertThat(S3TieredConfig.from(spelledOut).client().connectionTimeout()).isEqualTo(java.time.Duration.ofMillis(500));

        Configuration hugePart = withEndpoint();
        hugePart.setString("s3tiered.upload.part-size", "6gb");
        assertThatThrownBy(() -> S3TieredConfig.from(hugePart)).hasMessageContaining("s3tiered.upload.part-size")
                .hasMessageContaining("5 GiB");

        Configuration hugePut = withEndpoint();
        hugePut.setString("s3tiered.upload.multipart-threshold", "10gb");
        assertThatThrownBy(() -> S3TieredConfig.from(hugePut)).hasMessageContaining("s3tiered.upload.multipart-threshold")
                .hasMessageContaining("5 GiB");

        Configuration c2 = withEndpoint();
        c2.setString("s3tiered.request-checksum", "always");
        assertThatThrownBy(() -> S3TieredConfig.from(c2)).hasMessageContaining("s3tiered.request-checksum");

        Configuration c3 = withEndpoint();
        c3.setString("s3tiered.upload.part-size", "1mb");
        assertThatThrownBy(() -> S3TieredConfig.from(c3)).hasMessageContaining("s3tiered.upload.part-size")
                .hasMessageContaining("5 MiB");

        Configuration c4 = withEndpoint();
        c4.setString("s3.connection.maximum", "lots");
        assertThatThrownBy(() -> S3TieredConfig.from(c4)).hasMessageContaining("s3.connection.maximum");

        Configuration c5 = withEndpoint();
        c5.setString("s3tiered.sse.type", "aes");
        assertThatThrownBy(() -> S3TieredConfig.from(c5)).hasMessageContaining("s3tiered.sse.type");

        Configuration c6 = withEndpoint();
        c6.setString("s3.access-key", "AKIA");
        assertThatThrownBy(() -> S3TieredConfig.from(c6)).hasMessageContaining("s3.access-key")
                .hasMessageContaining("s3tiered.secret-key");

        Configuration c7 = withEndpoint();
        c7.setString("s3tiered.sse.kms-key-id", "arn:aws:kms:key");
        assertThatThrownBy(() -> S3TieredConfig.from(c7)).hasMessageContaining("s3tiered.sse.type");
    }

    @Test
    void encryptionSettings() {
        Configuration c = withEndpoint();
        c.setString("s3tiered.sse.type", "SSE-KMS");
        c.setString("s3tiered.sse.kms-key-id", "alias/checkpoints");
        S3TieredConfig config = S3TieredConfig.from(c);
        assertThat(config.client().sse()).isEqualTo(ServerSideEncryptionMode.SSE_KMS);
        assertThat(config.client().kmsKeyId()).isEqualTo("alias/checkpoints");
    }

    @Test
    void theEncryptionFlinksOwnS3FileSystemsKeysAskForIsApplied() {
        Configuration nativeKeys = withEndpoint();
        nativeKeys.setString("s3.sse.type", "aws:kms");
        nativeKeys.setString("s3.sse.kms.key-id", "alias/native");
        assertThat(S3TieredConfig.from(nativeKeys).client().sse()).isEqualTo(ServerSideEncryptionMode.SSE_KMS);
        assertThat(S3TieredConfig.from(nativeKeys).client().kmsKeyId()).isEqualTo("alias/native");

        Configuration presto = withEndpoint();
        presto.setString("s3.sse.enabled", "true");
        assertThat(S3TieredConfig.from(presto).client().sse()).as("presto's default type").isEqualTo(ServerSideEncryptionMode.SSE_S3);
        presto.setString("s3.sse.enabled", "false");
        presto.setString("s3.sse.type", "KMS");
        assertThat(S3TieredConfig.from(presto).client().sse()).as("presto's, off").isEqualTo(ServerSideEncryptionMode.NONE);

        Configuration hadoop = withEndpoint();
        hadoop.setString("fs.s3a.encryption.algorithm", "SSE-KMS");
        hadoop.setString("fs.s3a.encryption.key", "arn:aws:kms:eu-west-1:1:key/k");
        assertThat(S3TieredConfig.from(hadoop).client().sse()).isEqualTo(ServerSideEncryptionMode.SSE_KMS);
        assertThat(S3TieredConfig.from(hadoop).client().kmsKeyId()).isEqualTo("arn:aws:kms:eu-west-1:1:key/k");
        hadoop.setString("s3tiered.sse.type", "none");
        assertThat(S3TieredConfig.from(hadoop).client().sse()).as("its own key decides").isEqualTo(ServerSideEncryptionMode.NONE);

        // often another file system's (a sink's s3a://): named in a WARN, not applied, never a refusal
        Configuration customerKeys = withEndpoint();
        customerKeys.setString("s3.server-side-encryption-algorithm", "SSE-C");
        assertThat(S3TieredConfig.from(customerKeys).client().sse()).isEqualTo(ServerSideEncryptionMode.NONE);
        Configuration disagreeing = withEndpoint();
        disagreeing.setString("s3.sse.type", "sse-s3");
        disagreeing.setString("fs.s3a.encryption.algorithm", "SSE-KMS");
        assertThat(S3TieredConfig.from(disagreeing).client().sse()).isEqualTo(ServerSideEncryptionMode.NONE);
    }

    @Test
    void theConnectionPoolOfFlinksNativeS3FileSystemIsTakenUpAndAnAssumedRoleIsNamedAsNotTakenUp() {
        Configuration c = withEndpoint();
        c.setString("s3.connection.max", "200");
        c.setString("s3.assume-role.arn", "arn:aws:iam::1:role/checkpoints");
        assertThat(S3TieredConfig.from(c).client().maxConnections()).isEqualTo(200);
        assertThat(ForeignS3Keys.identitiesNotTakenUp(c)).singleElement().asString()
                .contains("s3.assume-role.arn").contains("s3tiered.access-key");
    }

    @Test
    void flinksConnectionLimiterOnTheSchemeIsNamedWithWhatItTurnsOff() {
        assertThat(ForeignS3Keys.connectionLimiter(java.util.Set.of("fs.s3.limit.total", "s3.endpoint"))).isNull();
        assertThat(ForeignS3Keys.connectionLimiter(java.util.Set.of("fs.s3tiered.limit.total", "fs.s3tiered.limit.timeout")))
                .startsWith("fs.s3tiered.limit.timeout, fs.s3tiered.limit.total: ")
                .contains("upload nothing ahead").contains("s3tiered.connection.max");
    }

    @Test
    void aFactoryConfiguredWithBadSettingsFailsOnFirstUseNamingTheKey() {
        Configuration c = withEndpoint();
        c.setString("s3tiered.retry.max-attempts", "0");
        S3TieredFileSystemFactory factory = new S3TieredFileSystemFactory();
        factory.configure(c); // must not throw: clusters that never use s3tiered:// still start
        assertThatThrownBy(() -> factory.create(java.net.URI.create("s3tiered://bucket/")))
                .isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("s3tiered.retry.max-attempts");
        assertThatThrownBy(() -> factory.create(java.net.URI.create("s3tiered:///no-bucket")))
                .hasMessageContaining("needs a bucket");
    }
}
