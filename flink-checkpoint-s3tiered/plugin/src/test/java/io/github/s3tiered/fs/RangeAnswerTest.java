package io.github.s3tiered.fs;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Ranged GETs answered with other bytes than asked for: a gateway in front of S3 that ignores
 * {@code Range} (200 with the whole object) and one that answers a range it was not asked for. The
 * object has no recorded CRC32C, as one written by another file system (a job moved from Flink's S3
 * file systems to this one), so nothing but the range's answer tells the bytes apart. The endpoint
 * is a small HTTP server of the test's own that answers HEAD and GET of one object.
 */
class RangeAnswerTest {

    private static final String BUCKET = "bucket";
    private static final String KEY = "job/chk-1/state";
    private static final byte[] CONTENT = new byte[300_000];

    static {
        new Random(7).nextBytes(CONTENT);
    }

    enum Gateway {
        /** S3's answer: 206 and the bytes of the range. */
        HONOURS_RANGE,
        /** 200 and the whole object, whatever the Range. */
        IGNORES_RANGE,
        /** 206 with a Content-Range that says which other bytes it sent (the object's first). */
        ANSWERS_ANOTHER_RANGE
    }

    @TempDir
    java.nio.file.Path tier;

    @TempDir
    java.nio.file.Path restoreDir;

    @TempDir
    java.nio.file.Path otherTier;

    private HttpServer server;
    private volatile Gateway gateway = Gateway.HONOURS_RANGE;
    private final List<String> ranges = new CopyOnWriteArrayList<>();

    @BeforeEach
    void startEndpoint() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/" + BUCKET + "/" + KEY, this::answer);
        server.start();
    }

    @AfterEach
    void stopEndpoint() {
        server.stop(0);
    }

    private void answer(HttpExchange ex) throws IOException {
        try (ex) {
            ex.getResponseHeaders().add("ETag", "\"0123456789abcdef0123456789abcdef\"");
            ex.getResponseHeaders().add("Last-Modified", "Wed, 02 Dec 2026 10:00:00 GMT");
            ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
            if (ex.getRequestMethod().equals("HEAD")) {
                ex.getResponseHeaders().add("Content-Length", String.valueOf(CONTENT.length));
                ex.sendResponseHeaders(200, -1);
                return;
            }
            String range = ex.getRequestHeaders().getFirst("Range");
            ranges.add(range == null ? "none" : range);
            int from = 0;
            int to = CONTENT.length - 1;
            if (range != null && gateway == Gateway.HONOURS_RANGE) {
                String spec = range.substring("bytes=".length());
                from = Integer.parseInt(spec.substring(0, spec.indexOf('-')));
                String end = spec.substring(spec.indexOf('-') + 1);
                to = end.isEmpty() ? to : Math.min(to, Integer.parseInt(end));
            }
            int length = to - from + 1;
            if (range != null && gateway == Gateway.ANSWERS_ANOTHER_RANGE) {
                String spec = range.substring("bytes=".length());
                String end = spec.substring(spec.indexOf('-') + 1);
                length = end.isEmpty() ? CONTENT.length : Integer.parseInt(end) - Integer.parseInt(spec.substring(0, spec.indexOf('-'))) + 1;
                to = length - 1; // the same length, from the object's first byte
            }
            if (range != null && gateway != Gateway.IGNORES_RANGE) {
                ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + to + "/" + CONTENT.length);
                ex.sendResponseHeaders(206, length);
            } else {
                ex.sendResponseHeaders(200, length);
            }
            try (OutputStream out = ex.getResponseBody()) {
                out.write(CONTENT, from, length);
            }
        }
    }

    private S3TieredFileSystem fileSystem() throws IOException {
        return fileSystem("64kb", tier); // a restore's download in five ranges
    }

    private S3TieredFileSystem fileSystem(String downloadPartSize, java.nio.file.Path tier) throws IOException {
        Configuration conf = S3TieredTestSupport.loopbackEndpointConfig(server.getAddress().getPort(), tier);
        conf.setString(S3TieredOptions.RETRY_BASE_DELAY.key(), "1 ms");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), downloadPartSize);
        return S3TieredTestSupport.newFileSystem(conf, BUCKET);
    }

    private static byte[] readAt(S3TieredFileSystem fs, long offset, int length) throws IOException {
        try (FSDataInputStream in = fs.open(new Path("s3tiered://" + BUCKET + "/" + KEY))) {
            in.seek(offset);
            byte[] got = new byte[length];
            int n = 0;
            while (n < length) {
                int r = in.read(got, n, length - n);
                if (r < 0) {
                    break;
                }
                n += r;
            }
            return java.util.Arrays.copyOf(got, n);
        }
    }

    private static byte[] expected(int offset, int length) {
        return java.util.Arrays.copyOfRange(CONTENT, offset, offset + length);
    }

    @Test
    void aReadAtAnOffsetGetsTheBytesThereWhenTheServerHonoursTheRange() throws IOException {
        S3TieredFileSystem fs = fileSystem();
        try {
            assertThat(readAt(fs, 123_456, 1000)).isEqualTo(expected(123_456, 1000));
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).contains("bytes=123456-");
    }

    @Test
    void aReadAtAnOffsetGetsTheBytesThereWhenTheServerIgnoresTheRange() throws IOException {
        gateway = Gateway.IGNORES_RANGE;
        S3TieredFileSystem fs = fileSystem();
        try {
            assertThat(readAt(fs, 123_456, 1000)).isEqualTo(expected(123_456, 1000));
            assertThat(readAt(fs, 299_000, 5000)).as("to the object's end").isEqualTo(expected(299_000, 1000));
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).as("the ranged GET was sent, and answered with the whole object").contains("bytes=123456-");
    }

    /** A RocksDB restore's batch download: parallel ranged GETs, each with a first and a last byte. */
    private byte[] restore(S3TieredFileSystem fs) throws IOException {
        java.nio.file.Path target = restoreDir.resolve("db-" + ranges.size()).resolve("000042.sst");
        fs.copyFiles(List.of(CopyRequest.of(new Path("s3tiered://" + BUCKET + "/" + KEY), new Path(target.toUri()),
                CONTENT.length)), new CloseableRegistry());
        return java.nio.file.Files.readAllBytes(target);
    }

    /** S3's answers, in ranges; a first range past the object's end is cut at its last byte. */
    @Test
    void aRestoresRangedDownloadTakesEachRangeAndOneCutAtTheObjectsEnd() throws IOException {
        S3TieredFileSystem fs = fileSystem();
        try {
            assertThat(restore(fs)).isEqualTo(CONTENT);
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).as("five ranges of 64 KiB").hasSize(5).contains("bytes=65536-131071", "bytes=262144-299999");
        ranges.clear();
        fs = fileSystem("1mb", otherTier); // a tier without the copy the first restore kept
        try {
            assertThat(restore(fs)).isEqualTo(CONTENT);
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).as("one range past the end, answered up to the last byte").containsExactly("bytes=0-1048575");
    }

    @Test
    void aRestoreFromAServerIgnoringRangesAsksForTheObjectWhole() throws IOException {
        gateway = Gateway.IGNORES_RANGE;
        S3TieredFileSystem fs = fileSystem();
        try {
            assertThat(restore(fs)).isEqualTo(CONTENT);
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).as("the first range, answered whole, then the object as one range")
                .containsExactly("bytes=0-65535", "bytes=0-299999");
    }

    @Test
    void anAnswerForOtherBytesThanAskedForFailsTheReadNamingTheObject() throws IOException {
        gateway = Gateway.ANSWERS_ANOTHER_RANGE;
        S3TieredFileSystem fs = fileSystem();
        try {
            assertThatThrownBy(() -> readAt(fs, 123_456, 1000))
                    .hasStackTraceContaining("s3://" + BUCKET + "/" + KEY)
                    .hasStackTraceContaining("Content-Range bytes 0-");
        } finally {
            fs.runtime().close();
        }
        assertThat(ranges).as("not retried: every attempt would be answered so").hasSize(1);
    }
}
