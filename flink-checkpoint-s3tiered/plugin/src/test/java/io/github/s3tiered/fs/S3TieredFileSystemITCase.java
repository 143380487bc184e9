package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.s3tiered.s3.S3OperationException;
import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.LoopbackPorts;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.MultipartUpload;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

/** The file-system cases on S3Proxy (or S3TIERED_TEST_ENDPOINT), plus failures only S3Proxy lets us cause. */
class S3TieredFileSystemITCase extends AbstractS3TieredFileSystemTest {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    @Override
    protected S3TestServer server() {
        return S3.server();
    }

    @Test
    void aLocalTierReadNeedsNoS3Server() throws Exception {
        assumeTrue(server().isLocalProcess(), "needs the S3Proxy started by the test");
        S3TieredFileSystem fs = fileSystem(tierDir);
        byte[] data = randomBytes(6 * 1024 * 1024, 11);
        Path file = path("shared/" + java.util.UUID.randomUUID()); // a data file, as Flink names them
        write(fs, file, data);
        write(fs, path("chk-1/_metadata"), data);
        server().stopProcess();
        try {
            assertThat(readAll(fs, file)).isEqualTo(data);
            // a named object, whose copy is confirmed by a HEAD S3 does not answer: this host's copy
            assertThat(readAll(fs, path("chk-1/_metadata"))).isEqualTo(data);
        } finally {
            server().restartProcess();
        }
    }

    @Test
    void anUnreachableEndpointFailsFastWithAClearError() throws Exception {
        // outside the ephemeral range: no outgoing connection can hold it while the test connects
        int closedPort = LoopbackPorts.next();
        Configuration conf = config(tierDir);
        conf.setString("s3.endpoint", "http://127.0.0.1:" + closedPort);
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        long start = System.nanoTime();
        assertThatThrownBy(() -> fs.getFileStatus(path("x")))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("http://127.0.0.1:" + closedPort)
                .hasMessageContaining("s3://" + server().bucket() + "/")
                .hasMessageContaining("after 5 attempts");
        assertThatThrownBy(() -> write(fs, path("y"), new byte[10]))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("PutObject")
                .hasMessageContaining(server().bucket());
        // Bounded: 5 attempts with at most 0.1+0.2+0.4+0.8 s of backoff each, for both calls.
        assertThat((System.nanoTime() - start) / 1_000_000_000.0).isLessThan(20.0);
        assertThat(Files.list(tierDir.resolve("v1/staging")).count()).as("no staging file left").isZero();
    }

    @Test
    void aBareHostOfAPlainHttpServerFailsAtOnceSayingToWriteHttp() throws Exception {
        assumeTrue(server().endpoint().startsWith("http://"), "needs a server of plain HTTP");
        String hostAndPort = server().endpoint().substring("http://".length()).replaceAll("/+$", "");
        Configuration conf = config(tierDir);
        conf.setString("s3.endpoint", hostAndPort); // taken as https://, as Flink's S3 file systems take it
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        assertThatThrownBy(() -> write(fs, path("tls"), new byte[10]))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("https://" + hostAndPort + " does not speak TLS")
                .hasMessageContaining("write it as http://" + hostAndPort);
        assertThat(fs.s3Statistics().retries.sum()).as("not retried: every attempt would fail alike").isZero();
    }

    @Test
    void wrongCredentialsFailWithoutRetryAndNameTheBucket() throws Exception {
        Configuration conf = config(tierDir);
        conf.setString("s3.secret-key", "not-the-secret");
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        assertThatThrownBy(() -> write(fs, path("denied"), new byte[10]))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 403")
                .hasMessageContaining("s3://" + server().bucket() + "/")
                .hasMessageContaining(server().endpoint())
                .hasMessageNotContaining("not-the-secret");
        assertThat(fs.s3Statistics().retries.sum()).isZero();
    }

    @Test
    void aMultipartUploadThatFailsMidwayIsAbortedAndLeavesNothing() throws Exception {
        assumeTrue(server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", server().port());
                S3Client raw = rawClient(server())) {
            Configuration conf = config(tierDir);
            conf.setString("s3.endpoint", proxy.endpoint());
            conf.setString(S3TieredOptions.RETRY_BASE_DELAY.key(), "10ms");
            S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
            Path p = path("broken-upload");
            // Create and abort pass; every part upload is reset before it reaches the server.
            // (A part body cut midway makes S3Proxy itself reject the later abort with HTTP 400.)
            proxy.rejectRequestsContaining("partNumber=");

            assertThatThrownBy(() -> write(fs, p, randomBytes(12 * 1024 * 1024, 12)))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("multipart upload id")
                    .hasMessageContaining("was aborted")
                    .hasMessageContaining(key(p));

            assertThat(proxy.connectionsCut()).isPositive();
            List<MultipartUpload> open = raw.listMultipartUploads(b -> b.bucket(server().bucket()).prefix(key(p))).uploads();
            assertThat(open).as("open multipart uploads").isEmpty();
            assertThat(fs.exists(p)).isFalse();
            assertThat(fs.s3Statistics().requestCount("AbortMultipartUpload")).isEqualTo(1);
            assertThat(Files.list(tierDir.resolve("v1/staging")).count()).as("no staging file left").isZero();
        }
    }

    /** Content-MD5 off, as over https by default; one PUT up to 8 MiB, a multipart upload above. */
    private S3TieredFileSystem withoutContentMd5MultipartFrom8Mib() throws Exception {
        Configuration conf = config(tierDir);
        conf.setString(S3TieredOptions.CONTENT_MD5.key(), "false");
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "8mb");
        return newFileSystem(conf, server().bucket());
    }

    /** Flips a bit at offset 1000 of the one staging file with bytes in it. */
    private void flipABitOfTheStagingFile() throws IOException {
        java.nio.file.Path staging;
        try (var files = Files.list(tierDir.resolve("v1/staging"))) {
            staging = files.filter(f -> f.toFile().length() > 0).findFirst().orElseThrow();
        }
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(staging.toFile(), "rw")) {
            raf.seek(1000);
            int b = raf.read();
            raf.seek(1000);
            raf.write(b ^ 0x10);
        }
    }

    @Test
    void aStagingFileChangedOnLocalDiskIsNeverCompletedAsTheObjectWithoutContentMd5() throws Exception {
        S3TieredFileSystem fs = withoutContentMd5MultipartFrom8Mib();
        for (int size : new int[] {2 * MIB, 12 * MIB}) { // one PUT; a multipart upload
            Path p = path("changed-on-disk-" + size);
            org.apache.flink.core.fs.FSDataOutputStream out = fs.create(p, org.apache.flink.core.fs.FileSystem.WriteMode.NO_OVERWRITE);
            out.write(randomBytes(size, 15));
            out.flush();
            flipABitOfTheStagingFile(); // which the disk changed after the stream wrote it and computed its CRC32C

            assertThatThrownBy(out::close).as("%s bytes", size).isInstanceOf(IOException.class)
                    .hasMessageContaining("changed on local disk").hasMessageContaining(key(p));
            assertThat(fs.exists(p)).as("%s bytes: no object holds bytes that were never written", size).isFalse();
        }
    }

    @Test
    void aSecondSyncOfAStagingFileChangedOnDiskLeavesWhatTheFirstSyncMadeDurable() throws Exception {
        S3TieredFileSystem fs = withoutContentMd5MultipartFrom8Mib();
        for (int size : new int[] {2 * MIB, 12 * MIB}) { // one PUT; a multipart upload
            Path p = path("resynced-changed-on-disk-" + size);
            byte[] synced = randomBytes(size, 16);
            org.apache.flink.core.fs.FSDataOutputStream out = fs.create(p, org.apache.flink.core.fs.FileSystem.WriteMode.NO_OVERWRITE);
            out.write(synced);
            out.sync(); // Flink's file merging: a completed checkpoint refers to these bytes from now on
            flipABitOfTheStagingFile(); // of the synced bytes, which the disk changed afterwards
            out.write(randomBytes(1024, 17)); // the next checkpoint's segment

            assertThatThrownBy(out::sync).as("%s bytes", size).isInstanceOf(IOException.class)
                    .hasMessageContaining("changed on local disk").hasMessageContaining(key(p));
            assertThat(readAll(fileSystem(otherTierDir), p)).as("%s bytes: the version the first sync made durable",
                    size).isEqualTo(synced);
            assertThatThrownBy(out::close).as("%s bytes", size).isInstanceOf(IOException.class);
            assertThat(readAll(fileSystem(otherTierDir), p)).as("%s bytes, after close()", size).isEqualTo(synced);
        }
    }

    @Test
    void aStreamingReadReopensAfterBrokenConnections() throws Exception {
        assumeTrue(server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        byte[] data = randomBytes(4 * 1024 * 1024, 13);
        write(fileSystem(otherTierDir), path("flaky"), data);
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", server().port())) {
            Configuration conf = config(tierDir);
            conf.setString("s3.endpoint", proxy.endpoint());
            conf.setString(S3TieredOptions.LOCAL_CACHE_ON_READ.key(), "false");
            S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
            proxy.cutConnectionsAfter(-1, 700 * 1024);

            assertThat(readAll(fs, path("flaky"))).isEqualTo(data);
            assertThat(proxy.connectionsCut()).isGreaterThanOrEqualTo(5);
        }
    }

    @Test
    void aRangedDownloadResumesAfterBrokenConnections() throws Exception {
        assumeTrue(server().isLocalProcess(), "needs a loopback S3 server behind the fault proxy");
        byte[] data = randomBytes(5 * 1024 * 1024, 14);
        write(fileSystem(otherTierDir), path("flaky-ranged"), data);
        try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", server().port())) {
            Configuration conf = config(tierDir);
            conf.setString("s3.endpoint", proxy.endpoint());
            S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
            proxy.cutConnectionsAfter(-1, 600 * 1024);

            assertThat(readAll(fs, path("flaky-ranged"))).isEqualTo(data);
            assertThat(proxy.connectionsCut()).isPositive();
            assertThat(fs.localTier().getVerified(server().bucket(), key(path("flaky-ranged")))).isPresent();
        }
    }
}
