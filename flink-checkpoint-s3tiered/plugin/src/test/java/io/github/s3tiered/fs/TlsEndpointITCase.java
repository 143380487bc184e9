package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * An {@code https://} endpoint end to end: S3Proxy serves TLS only, with a self-signed certificate
 * for 127.0.0.1 made for this run. With {@code s3tiered.ssl.truststore.path} naming a trust store
 * that holds it, writes (one PUT and a multipart upload), reads and the batch copy work; without
 * it the JVM's default trust store applies, which does not hold it, and the first request fails at
 * once with an error that names the endpoint, says the certificate is not trusted and points at
 * the option.
 */
class TlsEndpointITCase {

    private static final int MIB = 1024 * 1024;

    static S3TestServer server;

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path otherTierDir;
    @TempDir java.nio.file.Path restoreDir;

    @BeforeAll
    static void startTlsServer() {
        server = S3TestServer.startS3ProxyTls(null);
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    private static String dir() {
        return "s3tiered://" + server.bucket() + "/" + server.runPrefix() + "/tls/" + UUID.randomUUID();
    }

    private static Configuration config(java.nio.file.Path localDir) {
        Configuration conf = flinkConfig(server, localDir);
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), "1mb");
        return conf;
    }

    private static Configuration trusting(java.nio.file.Path localDir) {
        Configuration conf = config(localDir);
        conf.setString(S3TieredOptions.TRUST_STORE_PATH.key(), server.trustStore().toString());
        conf.setString(S3TieredOptions.TRUST_STORE_PASSWORD.key(), server.trustStorePassword());
        conf.setString(S3TieredOptions.TRUST_STORE_TYPE.key(), "PKCS12");
        return conf;
    }

    @Test
    void writesReadsAndCopiesOverHttpsWithTheTrustStoreOption() throws Exception {
        assertThat(server.endpoint()).startsWith("https://127.0.0.1:");
        String dir = dir();
        Path small = new Path(dir + "/small");
        Path large = new Path(dir + "/large.sst");
        byte[] smallData = randomBytes(100_000, 1);
        byte[] largeData = randomBytes(11 * MIB + 5, 2); // 3 parts of a multipart upload

        assertThat(S3TieredConfig.from(trusting(tierDir)).toString())
                .contains(server.trustStore().toString())
                .doesNotContain(server.trustStorePassword())
                .doesNotContain(server.secretKey());
        S3TieredFileSystem writer = newFileSystem(trusting(tierDir), server.bucket());
        write(writer, small, smallData);
        write(writer, large, largeData);
        assertThat(writer.s3Statistics().requestCount("PutObject")).as("one PUT for the small file").isEqualTo(1);
        assertThat(writer.s3Statistics().requestCount("UploadPart")).as("parts of the large file").isEqualTo(3);
        assertThat(writer.getFileStatus(large).getLen()).isEqualTo(largeData.length);

        // A new process: empty local tier, everything comes over https.
        S3TieredFileSystem reader = newFileSystem(trusting(otherTierDir), server.bucket());
        assertThat(readAll(reader, small)).isEqualTo(smallData);
        List<CopyRequest> copies = new ArrayList<>();
        copies.add(CopyRequest.of(large, new Path(restoreDir.resolve("db/large.sst").toUri()), largeData.length));
        reader.copyFiles(copies, new CloseableRegistry());
        assertThat(Files.readAllBytes(restoreDir.resolve("db/large.sst"))).isEqualTo(largeData);
        assertThat(reader.s3Statistics().requestCount("GetObject")).as("GETs over https").isPositive();

        assertThat(reader.listStatus(new Path(dir))).hasSize(2);
        reader.delete(new Path(dir), true);
        assertThat(reader.exists(small)).isFalse();
    }

    @Test
    void withoutTheOptionTheCertificateIsNotTrustedAndTheErrorSaysWhatToSet() throws Exception {
        S3TieredFileSystem fs = newFileSystem(config(tierDir), server.bucket());
        Path file = new Path(dir() + "/untrusted");

        Throwable failure = catchThrowable(() -> write(fs, file, randomBytes(1000, 3)));

        assertThat(failure).isInstanceOf(IOException.class);
        System.out.println("Without " + S3TieredOptions.TRUST_STORE_PATH.key() + ": " + failure);
        String messages = messages(failure);
        assertThat(messages)
                .contains(server.endpoint())
                .contains("TLS certificate of " + server.endpoint() + " is not trusted")
                .contains(S3TieredOptions.TRUST_STORE_PATH.key())
                .doesNotContain(server.secretKey());
        // A certificate that is not trusted is not retried: one attempt, no backoff.
        assertThat(messages).doesNotContain("attempts");
        assertThat(fs.s3Statistics().retries.sum()).isZero();
        assertThat(fs.localTier().usedBytes()).isZero();
    }

    @Test
    void aTrustStoreThatCannotBeReadFailsTheConfigurationNamingTheKeyNotThePassword() throws Exception {
        Configuration wrongPassword = trusting(tierDir);
        String password = "wrong" + UUID.randomUUID().toString().replace("-", "");
        wrongPassword.setString(S3TieredOptions.TRUST_STORE_PASSWORD.key(), password);
        Throwable failure = catchThrowable(() -> newFileSystem(wrongPassword, server.bucket()));
        assertThat(failure).isInstanceOf(IOException.class);
        assertThat(messages(failure))
                .contains(S3TieredOptions.TRUST_STORE_PATH.key(), server.trustStore().toString(),
                        S3TieredOptions.TRUST_STORE_PASSWORD.key())
                .doesNotContain(password);

        Configuration missing = config(tierDir);
        missing.setString(S3TieredOptions.TRUST_STORE_PATH.key(), tierDir.resolve("nothing.p12").toString());
        assertThat(messages(catchThrowable(() -> newFileSystem(missing, server.bucket()))))
                .contains(S3TieredOptions.TRUST_STORE_PATH.key(), "no readable file");

        Configuration passwordOnly = config(tierDir);
        passwordOnly.setString(S3TieredOptions.TRUST_STORE_PASSWORD.key(), password);
        assertThat(messages(catchThrowable(() -> newFileSystem(passwordOnly, server.bucket()))))
                .contains(S3TieredOptions.TRUST_STORE_PASSWORD.key() + " is set but " + S3TieredOptions.TRUST_STORE_PATH.key())
                .doesNotContain(password);
    }

    /** Every message of the exception and its causes, one per line. */
    static String messages(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            sb.append(c).append('\n');
        }
        return sb.toString();
    }
}
