package io.github.s3tiered.fs;

import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.S3Statistics;

import org.apache.flink.configuration.Configuration;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

/** {@code s3tiered://} file systems over an {@link InMemoryObjectStore}, for the failure-path tests. */
final class FakeS3FileSystems {

    static final String BUCKET = "bucket";

    private FakeS3FileSystems() {}

    /** Small parts and fast retries, so that every path is exercised on small files. */
    static Configuration config(Path localDir, Map<String, String> overrides) {
        Configuration conf = new Configuration();
        conf.setString(S3TieredOptions.ENDPOINT.key(), "http://in-memory.test:9000");
        conf.setString(S3TieredOptions.REGION.key(), "us-east-1");
        conf.setString(S3TieredOptions.ACCESS_KEY.key(), "test");
        conf.setString(S3TieredOptions.SECRET_KEY.key(), "test");
        conf.setString(S3TieredOptions.LOCAL_DIR.key(), localDir.toString());
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), "256kb");
        conf.setString(S3TieredOptions.RETRY_MAX_ATTEMPTS.key(), "3");
        conf.setString(S3TieredOptions.RETRY_BASE_DELAY.key(), "1ms");
        conf.setString(S3TieredOptions.RETRY_MAX_DELAY.key(), "2ms");
        conf.setString(S3TieredOptions.THROTTLE_MAX_RETRIES.key(), "10");
        conf.setString(S3TieredOptions.THROTTLE_BASE_DELAY.key(), "1ms");
        conf.setString(S3TieredOptions.THROTTLE_MAX_DELAY.key(), "2ms");
        overrides.forEach(conf::setString);
        return conf;
    }

    /** Reproducible random bytes. */
    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static org.apache.flink.core.fs.Path path(String key) {
        return new org.apache.flink.core.fs.Path("s3tiered://" + BUCKET + "/" + key);
    }

    /** Runs {@code action} on another thread, as Flink's task thread would while the test cancels it. */
    static CompletableFuture<Void> inBackground(IoAction action) {
        return CompletableFuture.runAsync(() -> {
            try {
                action.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    interface IoAction {
        void run() throws IOException;
    }

    /**
     * The store behind a wrapper whose first PutObject stores the object and then loses its answer
     * (a connection reset), and whose later PutObjects are refused (403): a write S3 made although
     * its writer was told it failed.
     */
    static io.github.s3tiered.s3.ObjectStore firstPutStoredAnswerLostThenRefused(InMemoryObjectStore store) {
        java.util.concurrent.atomic.AtomicInteger puts = new java.util.concurrent.atomic.AtomicInteger();
        return (io.github.s3tiered.s3.ObjectStore) java.lang.reflect.Proxy.newProxyInstance(
                io.github.s3tiered.s3.ObjectStore.class.getClassLoader(), new Class<?>[] {io.github.s3tiered.s3.ObjectStore.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("putObject")) {
                        if (puts.incrementAndGet() > 1) {
                            throw software.amazon.awssdk.services.s3.model.S3Exception.builder().statusCode(403)
                                    .awsErrorDetails(software.amazon.awssdk.awscore.exception.AwsErrorDetails.builder()
                                            .errorCode("AccessDenied").errorMessage("Access Denied").build())
                                    .build();
                        }
                        method.invoke(store, args);
                        throw software.amazon.awssdk.core.exception.SdkClientException.builder()
                                .message("Unable to execute HTTP request: Connection reset")
                                .cause(new java.net.SocketException("Connection reset")).build();
                    }
                    try {
                        return method.invoke(store, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** Over any store, such as the in-memory one behind a wrapper that loses answers. */
    static S3TieredFileSystem create(io.github.s3tiered.s3.ObjectStore store, S3Statistics stats, Configuration conf)
            throws IOException {
        S3TieredRuntime runtime = new S3TieredRuntime(S3TieredConfig.from(conf), store, stats);
        return new S3TieredFileSystem(URI.create("s3tiered://" + BUCKET + "/"), runtime);
    }

    static S3TieredFileSystem create(InMemoryObjectStore store, S3Statistics stats, Configuration conf) throws IOException {
        S3TieredRuntime runtime = new S3TieredRuntime(S3TieredConfig.from(conf), store, stats);
        return new S3TieredFileSystem(URI.create("s3tiered://" + BUCKET + "/"), runtime);
    }
}
