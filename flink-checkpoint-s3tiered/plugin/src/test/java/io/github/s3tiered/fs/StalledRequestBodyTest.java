package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Cancellation;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * An endpoint that accepts connections and never reads from them: the real SDK's write of a
 * request body blocks once the socket buffers are full, which Java's socket timeout (reads only)
 * does not end, and the body is not read again, so a cancellation checked at the body's next read
 * never comes. Cancelling the stream aborts the request instead of leaving its thread and
 * connection to the request timeout (two minutes here, five by default).
 */
class StalledRequestBodyTest {

    private static final int MIB = 1024 * 1024;

    @TempDir java.nio.file.Path tierDir;

    @Test
    void cancellingAnUploadWhoseBodyTheServerStoppedReadingEndsItAtOnce() throws Exception {
        List<Socket> held = new CopyOnWriteArrayList<>();
        try (ServerSocket blackHole = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        held.add(blackHole.accept()); // and never read
                    }
                } catch (java.io.IOException closed) {
                    // the test ended
                }
            }, "black-hole-endpoint");
            acceptor.setDaemon(true);
            acceptor.start();

            Configuration conf = S3TieredTestSupport.loopbackEndpointConfig(blackHole.getLocalPort(), tierDir);
            conf.setString(S3TieredOptions.CONTENT_MD5.key(), "false");
            conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "64mb");
            conf.setString(S3TieredOptions.REQUEST_TIMEOUT.key(), "120s");
            conf.setString(S3TieredOptions.SOCKET_TIMEOUT.key(), "120s");
            conf.setString(S3TieredOptions.RETRY_MAX_ATTEMPTS.key(), "1");
            S3TieredFileSystem fs = newFileSystem(conf, "bucket");
            try {
                FSDataOutputStream out = fs.create(new Path("s3tiered://bucket/stalled"), WriteMode.OVERWRITE);
                out.write(randomBytes(32 * MIB, 1)); // far more than the socket buffers take in
                CompletableFuture<Void> uploading = FakeS3FileSystems.inBackground(out::close);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (held.isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertThat(held).as("the PUT connected").isNotEmpty();
                Thread.sleep(6_000); // past the SDK's wait for 100-continue: the body's write blocks

                long start = System.nanoTime();
                out.close(); // as Flink's CloseableRegistry does on cancel
                assertThatThrownBy(() -> uploading.get(90, TimeUnit.SECONDS))
                        .hasRootCauseInstanceOf(Cancellation.CancelledException.class);
                assertThat(Duration.ofNanos(System.nanoTime() - start)).as("ended by the abort, not the request timeout")
                        .isLessThan(Duration.ofSeconds(30));
            } finally {
                fs.runtime().close();
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }
}
