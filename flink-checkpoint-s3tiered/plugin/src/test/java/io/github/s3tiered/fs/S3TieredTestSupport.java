package io.github.s3tiered.fs;

import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.util.Random;

/** Shared helpers of the file-system tests: configuration for a test server, data, raw client. */
public final class S3TieredTestSupport {

    private S3TieredTestSupport() {}

    /** Configuration with Flink's standard S3 keys only (the fallback path users rely on). */
    public static Configuration flinkConfig(S3TestServer server, java.nio.file.Path localDir) {
        Configuration conf = new Configuration();
        server.flinkS3Config().forEach(conf::setString);
        conf.setString(S3TieredOptions.LOCAL_DIR.key(), localDir.toString());
        return conf;
    }

    /**
     * Waits up to {@code atMost} until the file system's transfer pool has completed every task it
     * was given, then asserts it: nothing running and nothing queued. (A worker between two queued
     * tasks is not active, so an active count of 0 would not say this.)
     */
    public static void awaitTransfersEnded(S3TieredFileSystem fs, java.time.Duration atMost) throws InterruptedException {
        java.util.concurrent.ThreadPoolExecutor pool = (java.util.concurrent.ThreadPoolExecutor) fs.runtime().transferPool();
        long deadline = System.nanoTime() + atMost.toNanos();
        while (pool.getCompletedTaskCount() < pool.getTaskCount() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        org.assertj.core.api.Assertions.assertThat(pool.getCompletedTaskCount()).as("transfer tasks ended")
                .isEqualTo(pool.getTaskCount());
    }

    /** A file system with its own S3 client and tier instance, as a new process would have. */
    /** Configuration for an S3 endpoint of the test's own on a loopback port (no S3 server process). */
    public static Configuration loopbackEndpointConfig(int port, java.nio.file.Path localDir) {
        Configuration conf = new Configuration();
        conf.setString("s3.endpoint", "http://127.0.0.1:" + port);
        conf.setString("s3.access-key", "test");
        conf.setString("s3.secret-key", "test-secret");
        conf.setString("s3.region", "us-east-1");
        conf.setString("s3.path.style.access", "true");
        conf.setString(S3TieredOptions.LOCAL_DIR.key(), localDir.toString());
        return conf;
    }

    public static S3TieredFileSystem newFileSystem(Configuration conf, String bucket) throws IOException {
        S3TieredFileSystemFactory factory = new S3TieredFileSystemFactory();
        factory.configure(conf);
        return (S3TieredFileSystem) factory.create(URI.create("s3tiered://" + bucket + "/"));
    }

    public static S3Client rawClient(S3TestServer server) {
        return S3Client.builder()
                .endpointOverride(URI.create(server.endpoint()))
                .region(Region.of(server.region()))
                .forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .build();
    }

    public static byte[] randomBytes(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    public static void write(FileSystem fs, Path path, byte[] data) throws IOException {
        try (FSDataOutputStream out = fs.create(path, FileSystem.WriteMode.OVERWRITE)) {
            // Several writes of odd sizes, as Flink's checkpoint streams do.
            int off = 0;
            int chunk = 1;
            while (off < data.length) {
                int n = Math.min(chunk, data.length - off);
                out.write(data, off, n);
                off += n;
                chunk = chunk * 3 + 7;
            }
        }
    }

    public static byte[] readAll(FileSystem fs, Path path) throws IOException {
        try (FSDataInputStream in = fs.open(path)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[100_000];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }
}
