package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.s3.S3Statistics;
import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.FaultRule;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3ServerExtension;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Each fault on the wire, on each S3 operation the file system sends, through the HTTP-aware
 * {@link FaultInjectingProxy} in front of a real S3 server (S3Proxy in its own JVM): a fault once
 * is retried within its budget and the bytes in the end are right; a fault that persists fails
 * with an {@link IOException} naming operation, bucket, key and status; throttling is counted
 * apart from other errors, in the file system's counters and in the metrics the bridge hands to
 * Flink. Stalls end at the request timeout, and a close from another thread ends an upload or a
 * batch download within a bound, leaving nothing behind.
 */
class WireFaultsITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    private static final int MIB = 1024 * 1024;
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(2);
    private static final int MAX_ATTEMPTS = 3;
    private static final int THROTTLE_RETRIES = 4;
    /**
     * The longest a request may take before it fails for good: every attempt times out, plus the
     * retry waits (at most 50 ms each). A stall must never hold a caller longer than this.
     */
    private static final Duration HANG_BOUND = REQUEST_TIMEOUT.multipliedBy(MAX_ATTEMPTS).plusSeconds(5);

    private static FaultInjectingProxy proxy;
    private static S3Client raw;

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path seedTierDir;
    @TempDir java.nio.file.Path restoreDir;

    private String dir;
    private S3TieredFileSystem fs;
    private S3TieredFileSystem seed;

    /** The operations the file system sends, each exercised through a call a checkpoint or restore makes. */
    enum Op {
        PUT(S3Operation.PUT_OBJECT, "PutObject"),
        CREATE_MULTIPART(S3Operation.CREATE_MULTIPART_UPLOAD, "CreateMultipartUpload"),
        UPLOAD_PART(S3Operation.UPLOAD_PART, "UploadPart"),
        COMPLETE(S3Operation.COMPLETE_MULTIPART_UPLOAD, "CompleteMultipartUpload"),
        ABORT(S3Operation.ABORT_MULTIPART_UPLOAD, "AbortMultipartUpload"),
        GET(S3Operation.GET_OBJECT, "GetObject"),
        RANGED_GET(S3Operation.GET_OBJECT_RANGE, "GetObject"),
        HEAD(S3Operation.HEAD_OBJECT, "HeadObject"),
        LIST(S3Operation.LIST_OBJECTS, "ListObjectsV2"),
        DELETE(S3Operation.DELETE_OBJECT, "DeleteObject"),
        DELETE_BATCH(S3Operation.DELETE_OBJECTS, "DeleteObjects");

        final S3Operation wire;
        final String sdkName;

        Op(S3Operation wire, String sdkName) {
            this.wire = wire;
            this.sdkName = sdkName;
        }

        boolean sendsBody() {
            return this == PUT || this == UPLOAD_PART;
        }

        boolean readsBody() {
            return this == GET || this == RANGED_GET || this == LIST;
        }
    }

    /** The faults, each injected once into the first request of the operation. */
    enum Fault {
        SLOW_DOWN(true),
        TOO_MANY_REQUESTS(true),
        INTERNAL_ERROR(false),
        RESET_WITHOUT_FORWARDING(false),
        RESET_BEFORE_RESPONSE(false),
        RESET_MID_REQUEST_BODY(false),
        RESET_MID_RESPONSE_BODY(false),
        /** A body altered on the way that arrives whole: S3 refuses it by its Content-MD5. */
        FLIP_REQUEST_BYTE(false),
        /** A download altered on the way that arrives whole: its CRC32C finds it. */
        FLIP_RESPONSE_BYTE(false),
        STALL(false);

        final boolean throttling;

        Fault(boolean throttling) {
            this.throttling = throttling;
        }

        boolean appliesTo(Op op) {
            return switch (this) {
                case RESET_MID_REQUEST_BODY, FLIP_REQUEST_BYTE -> op.sendsBody();
                case RESET_MID_RESPONSE_BODY -> op.readsBody();
                // a file opened for reading is downloaded and checked before it is served, as a
                // restore's batch download is; a listing has no checksum
                case FLIP_RESPONSE_BYTE -> op == Op.GET || op == Op.RANGED_GET;
                default -> true;
            };
        }

        FaultRule applyTo(FaultRule rule) {
            return switch (this) {
                case SLOW_DOWN -> rule.slowDown();
                case TOO_MANY_REQUESTS -> rule.tooManyRequests();
                case INTERNAL_ERROR -> rule.internalError();
                case RESET_WITHOUT_FORWARDING -> rule.resetWithoutForwarding();
                case RESET_BEFORE_RESPONSE -> rule.resetBeforeResponse();
                case RESET_MID_REQUEST_BODY -> rule.resetAfterRequestBytes(64 * 1024);
                case RESET_MID_RESPONSE_BODY -> rule.resetAfterResponseBytes(100);
                case FLIP_REQUEST_BYTE -> rule.flipRequestByte(100_000);
                case FLIP_RESPONSE_BYTE -> rule.flipResponseByte(100);
                // longer than the request timeout: the attempt times out and is retried
                case STALL -> rule.stallResponse(REQUEST_TIMEOUT.multipliedBy(3));
            };
        }
    }

    static Stream<Arguments> eachFaultOnEachOperation() {
        List<Arguments> cases = new ArrayList<>();
        for (Op op : Op.values()) {
            for (Fault fault : Fault.values()) {
                if (fault.appliesTo(op)) {
                    cases.add(Arguments.of(op, fault));
                }
            }
        }
        return cases.stream();
    }

    @BeforeAll
    static void startProxy() throws IOException {
        proxy = new FaultInjectingProxy("127.0.0.1", S3.server().port());
        raw = rawClient(S3.server());
    }

    @AfterAll
    static void stopProxy() throws IOException {
        if (raw != null) {
            raw.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @BeforeEach
    void setUp() throws IOException {
        assumeThat(S3.server().isLocalProcess()).as("needs a loopback S3 server behind the fault proxy").isTrue();
        proxy.clearRules();
        proxy.resetCounters();
        dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/wire/" + UUID.randomUUID();
        fs = newFileSystem(config(tierDir, proxy.endpoint()), S3.server().bucket());
        seed = newFileSystem(config(seedTierDir, S3.server().endpoint()), S3.server().bucket());
    }

    @AfterEach
    void tearDown() {
        proxy.clearRules();
    }

    private static Configuration config(java.nio.file.Path localDir, String endpoint) {
        Configuration conf = flinkConfig(S3.server(), localDir);
        conf.setString(S3TieredOptions.ENDPOINT.key(), endpoint);
        conf.setString("s3.endpoint", endpoint);
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), "256kb");
        conf.setString(S3TieredOptions.REQUEST_TIMEOUT.key(), REQUEST_TIMEOUT.toMillis() + "ms");
        conf.setString(S3TieredOptions.SOCKET_TIMEOUT.key(), REQUEST_TIMEOUT.toMillis() + "ms");
        conf.setString(S3TieredOptions.RETRY_MAX_ATTEMPTS.key(), String.valueOf(MAX_ATTEMPTS));
        conf.setString(S3TieredOptions.RETRY_BASE_DELAY.key(), "10ms");
        conf.setString(S3TieredOptions.RETRY_MAX_DELAY.key(), "50ms");
        conf.setString(S3TieredOptions.THROTTLE_MAX_RETRIES.key(), String.valueOf(THROTTLE_RETRIES));
        conf.setString(S3TieredOptions.THROTTLE_BASE_DELAY.key(), "10ms");
        conf.setString(S3TieredOptions.THROTTLE_MAX_DELAY.key(), "50ms");
        return conf;
    }

    /** A file system of its own through the proxy, with its own multipart sizes and timeouts. */
    private static S3TieredFileSystem ownFileSystem(java.nio.file.Path ownTier, String multipartThreshold, String partSize,
            String requestTimeout, String socketTimeout) throws IOException {
        Configuration conf = config(ownTier, proxy.endpoint());
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), multipartThreshold);
        conf.setString(S3TieredOptions.PART_SIZE.key(), partSize);
        conf.setString(S3TieredOptions.REQUEST_TIMEOUT.key(), requestTimeout);
        conf.setString(S3TieredOptions.SOCKET_TIMEOUT.key(), socketTimeout);
        return newFileSystem(conf, S3.server().bucket());
    }

    // ------------------------------------------------------------------ the operations

    private Path path(String name) {
        return new Path(dir + "/" + name);
    }

    private String key(String name) {
        return path(name).toUri().getPath().substring(1);
    }

    /** What an operation needs in S3 before the fault is armed, written around the proxy. */
    private void prepare(Op op) throws IOException {
        switch (op) {
            case GET, HEAD, DELETE -> write(seed, path("object"), randomBytes(300_000, 1));
            // every range longer than the 100 bytes a response cut lets through: whichever range
            // reaches the proxy first is the one the fault takes
            case RANGED_GET -> write(seed, path("object"), randomBytes(MIB + 1000, 2));
            case LIST, DELETE_BATCH -> {
                for (int i = 0; i < 3; i++) {
                    write(seed, path("sub/file-" + i), randomBytes(1000 + i, 10 + i));
                }
            }
            default -> { }
        }
    }

    /** Does the operation through the file system and checks that its result is exactly right. */
    private void exerciseAndVerify(Op op) throws Exception {
        switch (op) {
            case PUT -> {
                byte[] data = randomBytes(300_000, 3);
                write(fs, path("object"), data);
                assertThat(rawBytes("object")).isEqualTo(data);
            }
            case CREATE_MULTIPART, UPLOAD_PART, COMPLETE -> {
                byte[] data = randomBytes(6 * MIB + 11, 4);
                write(fs, path("object"), data);
                assertThat(rawBytes("object")).isEqualTo(data);
            }
            case ABORT -> {
                // every part is refused for good, so the upload fails and is aborted
                proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).always().respond(403, "AccessDenied"));
                Throwable failed = catchThrowable(() -> write(fs, path("object"), randomBytes(6 * MIB + 11, 5)));
                assertThat(failed).isInstanceOf(IOException.class).hasMessageContaining(key("object"));
                if (!failed.getMessage().contains("was aborted")) {
                    throw (IOException) failed; // the abort failed: the caller judges whether it should have
                }
                assertThat(rawExists("object")).isFalse();
            }
            case GET -> assertThat(readAll(fs, path("object"))).isEqualTo(randomBytes(300_000, 1));
            case RANGED_GET -> {
                java.nio.file.Path target = restoreDir.resolve("object");
                fs.copyFiles(List.of(CopyRequest.of(path("object"), new Path(target.toUri()), -1)), new CloseableRegistry());
                assertThat(Files.readAllBytes(target)).isEqualTo(randomBytes(MIB + 1000, 2));
            }
            case HEAD -> assertThat(fs.getFileStatus(path("object")).getLen()).isEqualTo(300_000);
            case LIST -> {
                FileStatus[] listed = fs.listStatus(path("sub"));
                assertThat(listed).extracting(s -> s.getPath().getName())
                        .containsExactlyInAnyOrder("file-0", "file-1", "file-2");
            }
            case DELETE -> {
                assertThat(fs.delete(path("object"), false)).isTrue();
                assertThat(rawExists("object")).isFalse();
            }
            case DELETE_BATCH -> {
                assertThat(fs.delete(path("sub"), true)).isTrue();
                assertThat(raw.listObjectsV2(b -> b.bucket(S3.server().bucket()).prefix(key("sub/"))).contents()).isEmpty();
            }
        }
        assertThat(openUploads()).as("multipart uploads left in the bucket").isEmpty();
        assertThat(stagingFiles()).as("staging files left in the tier").isZero();
    }

    // ------------------------------------------------------------------ the tests

    @ParameterizedTest(name = "{1} once on {0}")
    @MethodSource("eachFaultOnEachOperation")
    void aFaultOnceIsRetriedAndTheResultIsExact(Op op, Fault fault) throws Exception {
        // S3Proxy's own defect: after a part body cut midway it fails the later Complete and Abort
        // with HTTP 400 (real S3 discards the cut part); UploadFailureTest covers it on the fake.
        assumeThat(op == Op.UPLOAD_PART && fault == Fault.RESET_MID_REQUEST_BODY).as("S3Proxy breaks the upload").isFalse();
        prepare(op);
        FaultRule rule = proxy.inject(fault.applyTo(FaultRule.on(op.wire).nth(1)));
        long start = System.nanoTime();

        exerciseAndVerify(op);

        assertThat(rule.timesFired()).as("the fault happened").isEqualTo(1);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(HANG_BOUND);
        S3Statistics stats = fs.s3Statistics();
        if (fault.throttling) {
            assertThat(stats.throttledRetries.sum()).as("throttled retries").isEqualTo(1);
            assertThat(stats.retries.sum()).as("other retries").isZero();
        } else {
            assertThat(stats.throttledRetries.sum()).as("throttled retries").isZero();
            assertThat(stats.retries.sum() + stats.reopens.sum() + stats.corruptDownloadsRepeated.sum())
                    .as("retries, reopens and downloads repeated").isGreaterThanOrEqualTo(1);
        }
        Map<String, Long> metrics = transferMetrics();
        assertThat(metrics.get(BridgeContract.THROTTLED_RETRIES)).isEqualTo(stats.throttledRetries.sum());
        assertThat(metrics.get(BridgeContract.RETRIES)).isEqualTo(stats.retries.sum());
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Op.class)
    void aServerErrorThatPersistsFailsNamingOperationBucketKeyAndStatus(Op op) throws Exception {
        prepare(op);
        proxy.inject(FaultRule.on(op.wire).always().internalError());

        Throwable failure = catchFailure(op);

        assertThat(failure).isInstanceOf(IOException.class);
        String message = failure.getMessage();
        assertThat(message).contains(S3.server().bucket()).contains("HTTP 500").contains(op.sdkName);
        if (op != Op.HEAD) { // a HEAD response has no body to carry the error code
            assertThat(message).contains("InternalError");
        }
        assertThat(message).contains(op == Op.LIST || op == Op.DELETE_BATCH ? key("sub") : key("object"));
        if (op == Op.ABORT) {
            assertThat(message).contains("could NOT be aborted").contains("multipart upload id");
        } else {
            assertThat(message).contains("after " + MAX_ATTEMPTS + " attempts");
        }
        assertThat(fs.s3Statistics().throttledRetries.sum()).isZero();
        assertThat(stagingFiles()).isZero();
        if (op != Op.ABORT) {
            assertThat(openUploads()).isEmpty();
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Op.class, names = {"PUT", "UPLOAD_PART", "GET", "HEAD", "LIST"})
    void throttlingThatPersistsSpendsItsOwnBudgetOnly(Op op) throws Exception {
        prepare(op);
        proxy.inject(FaultRule.on(op.wire).always().slowDown());

        Throwable failure = catchFailure(op);

        assertThat(failure).isInstanceOf(IOException.class).hasMessageContaining("HTTP 503").hasMessageContaining("SlowDown")
                .hasMessageContaining(op.sdkName);
        S3Statistics stats = fs.s3Statistics();
        // each request has its budget; of a multipart upload's two parts, the first to spend its
        // budget ends the other's retries (the upload has failed)
        int requests = op == Op.UPLOAD_PART ? 2 : 1;
        assertThat(stats.throttledRetries.sum()).isBetween((long) THROTTLE_RETRIES, (long) THROTTLE_RETRIES * requests);
        if (op != Op.UPLOAD_PART) {
            assertThat(stats.throttledRetries.sum()).as("its whole budget spent").isEqualTo(THROTTLE_RETRIES);
        }
        assertThat(stats.retries.sum()).as("the error budget is untouched").isZero();
        assertThat(transferMetrics().get(BridgeContract.THROTTLED_RETRIES)).isEqualTo(stats.throttledRetries.sum());
    }

    @Test
    void aStallThatPersistsEndsWithinTheBound() throws Exception {
        prepare(Op.HEAD);
        proxy.inject(FaultRule.on(S3Operation.HEAD_OBJECT).always().stallResponse(Duration.ofMinutes(2)));
        long start = System.nanoTime();

        assertThatThrownBy(() -> fs.getFileStatus(path("object"))).isInstanceOf(IOException.class)
                .hasMessageContaining("HeadObject").hasMessageContaining(key("object"));

        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(took).isGreaterThanOrEqualTo(REQUEST_TIMEOUT).isLessThan(HANG_BOUND);
        assertThat(fs.s3Statistics().retries.sum()).isEqualTo(MAX_ATTEMPTS - 1);
    }

    @Test
    void aLostAnswerToCreateLeavesNoStrayUpload() throws Exception {
        // S3 starts the upload, the answer never arrives; the retry starts a second one
        proxy.inject(FaultRule.on(S3Operation.CREATE_MULTIPART_UPLOAD).nth(1).resetBeforeResponse());
        byte[] data = randomBytes(6 * MIB, 6);
        write(fs, path("object"), data);

        assertThat(rawBytes("object")).isEqualTo(data);
        assertThat(proxy.requests(S3Operation.CREATE_MULTIPART_UPLOAD)).isEqualTo(2);
        assertThat(openUploads()).as("the upload the first attempt started is aborted").isEmpty();
    }

    @Test
    void aStartWhoseEveryAnswerIsLostFailsTheWriteAndLeavesNoUpload() throws Exception {
        // S3 starts an upload for each attempt and no answer arrives: the write fails, and the
        // uploads nobody knows the ids of are found and aborted
        proxy.inject(FaultRule.on(S3Operation.CREATE_MULTIPART_UPLOAD).always().resetBeforeResponse());

        assertThatThrownBy(() -> write(fs, path("object"), randomBytes(6 * MIB, 8)))
                .isInstanceOf(IOException.class);

        assertThat(proxy.requests(S3Operation.CREATE_MULTIPART_UPLOAD)).isEqualTo(MAX_ATTEMPTS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!openUploads().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(openUploads()).as("the uploads the lost attempts started are aborted").isEmpty();
        assertThat(rawExists("object")).isFalse();
    }

    @Test
    void cancellingAStalledMultipartUploadEndsItAndLeavesNothing() throws Exception {
        proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).always().stallRequest(Duration.ofMinutes(2)));
        FSDataOutputStream out = fs.create(path("object"), WriteMode.NO_OVERWRITE);
        out.write(randomBytes(11 * MIB, 7));
        CompletableFuture<Void> uploading = FakeS3FileSystems.inBackground(out::close);
        awaitRequests(S3Operation.UPLOAD_PART, 1);

        long start = System.nanoTime();
        out.close(); // as Flink's CloseableRegistry does on cancel
        assertThatThrownBy(() -> uploading.get(HANG_BOUND.toSeconds(), TimeUnit.SECONDS))
                .hasRootCauseInstanceOf(io.github.s3tiered.s3.Cancellation.CancelledException.class);
        // a part already on the wire ends at its request timeout at the latest
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(REQUEST_TIMEOUT.plusSeconds(5));

        assertThat(openUploads()).isEmpty();
        assertThat(stagingFiles()).isZero();
        assertThat(rawExists("object")).isFalse();
        assertNoTransferRunning();
    }

    @Test
    void cancellingAPutWhileItsBodyIsSentStopsSendingIt(@TempDir java.nio.file.Path ownTier) throws Exception {
        // one PUT of 16 MiB at 512 KiB/s: about 30 s to send, more than socket buffers take in
        S3TieredFileSystem slow = ownFileSystem(ownTier, "64mb", "5mb", "120s", "120s");
        proxy.limitBandwidth(512 * 1024, 0);
        try {
            FSDataOutputStream out = slow.create(path("object"), WriteMode.NO_OVERWRITE);
            out.write(randomBytes(16 * MIB, 9));
            CompletableFuture<Void> uploading = FakeS3FileSystems.inBackground(out::close);
            awaitRequests(S3Operation.PUT_OBJECT, 1);
            Thread.sleep(500); // the body is on its way

            long start = System.nanoTime();
            out.close(); // as Flink's CloseableRegistry does on cancel
            assertThatThrownBy(() -> uploading.get(60, TimeUnit.SECONDS))
                    .hasRootCauseInstanceOf(io.github.s3tiered.s3.Cancellation.CancelledException.class);
            // without stopping the body, the upload would run on for the rest of the 30 s
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
            assertThat(proxy.requests(S3Operation.PUT_OBJECT)).isEqualTo(1);
        } finally {
            proxy.limitBandwidth(0, 0);
            slow.runtime().close();
        }
        assertThat(rawExists("object")).isFalse();
    }

    @Test
    void anUploadSlowerThanTheRequestTimeoutButMovingIsNotCut(@TempDir java.nio.file.Path ownTier) throws Exception {
        // 4 MiB/s per connection: a PUT of 32 MiB takes about 8 s and each 24 MiB part of a
        // multipart upload about 6 s, both longer than the 4 s request timeout. The bytes the
        // socket buffers hold when the last is taken (about 6 MiB on loopback here) drain within
        // the wait for the answer: 4 s of request timeout, 8 s of socket timeout.
        S3TieredFileSystem slow = ownFileSystem(ownTier, "40mb", "24mb", "4s", "8s");
        proxy.limitBandwidth(4 * MIB, 0);
        byte[] single = randomBytes(32 * MIB, 21);
        byte[] parts = randomBytes(48 * MIB, 22);
        try {
            write(slow, path("single"), single);
            write(slow, path("parts"), parts);
        } finally {
            proxy.limitBandwidth(0, 0);
            slow.runtime().close();
        }
        assertThat(rawBytes("single")).isEqualTo(single);
        assertThat(rawBytes("parts")).isEqualTo(parts);
        assertThat(proxy.requests(S3Operation.PUT_OBJECT)).as("sent once").isEqualTo(1);
        assertThat(proxy.requests(S3Operation.UPLOAD_PART)).as("each part sent once").isEqualTo(2);
    }

    @Test
    void anUploadWhoseBodyTheServerStopsTakingIsAbortedAtTheSocketTimeoutNotTheRequestTimeout(
            @TempDir java.nio.file.Path ownTier) throws Exception {
        // the server reads the head and then nothing for two minutes, once: the body fills the
        // socket buffers and the write blocks, which no socket timeout ends
        S3TieredFileSystem stalled = ownFileSystem(ownTier, "64mb", "5mb", "120s", "2s");
        proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).nth(1).stallRequest(Duration.ofMinutes(2)));
        byte[] data = randomBytes(48 * MIB, 23);
        long start = System.nanoTime();
        try {
            CompletableFuture<Void> writing = FakeS3FileSystems.inBackground(() -> write(stalled, path("object"), data));
            writing.get(100, TimeUnit.SECONDS);
        } finally {
            stalled.runtime().close();
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        // without the bound on progress, the attempt ran until S3Proxy closed the idle connection
        // behind the proxy (Jetty's 30 s), or else until the 120 s request timeout
        assertThat(took).as("the stalled attempt ends after 2 s without progress").isLessThan(Duration.ofSeconds(20));
        assertThat(rawBytes("object")).isEqualTo(data);
        assertThat(proxy.requests(S3Operation.PUT_OBJECT)).as("the stalled attempt, then its retry").isEqualTo(2);
        assertThat(stalled.s3Statistics().retries.sum()).isEqualTo(1);
    }

    @Test
    void cancellingAStalledBatchDownloadEndsItAndLeavesNothing() throws Exception {
        for (int i = 0; i < 3; i++) {
            write(seed, path("restore-" + i), randomBytes(MIB, 20 + i));
        }
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT_RANGE).always().stallResponse(Duration.ofMinutes(2)));
        CloseableRegistry registry = new CloseableRegistry();
        List<CopyRequest> requests = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            requests.add(CopyRequest.of(path("restore-" + i), new Path(restoreDir.resolve("restore-" + i).toUri()), -1));
        }
        CompletableFuture<Void> copying = FakeS3FileSystems.inBackground(() -> fs.copyFiles(requests, registry));
        awaitRequests(S3Operation.GET_OBJECT_RANGE, 1);

        long start = System.nanoTime();
        registry.close(); // Flink cancels a restore by closing the task's registry
        assertThatThrownBy(() -> copying.get(HANG_BOUND.toSeconds(), TimeUnit.SECONDS))
                .satisfies(WireFaultsITCase::endedByTheCancel);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));

        assertNoTransferRunning(); // the cancelled transfers delete their staging files as they end
        assertThat(stagingFiles()).isZero();
        // counted by the client as it sends (the proxy may count a request sent before the cancel
        // only after it, when its thread gets to read the request's head)
        long requestsAfter = fs.s3Statistics().totalRequests();
        Thread.sleep(500);
        assertThat(fs.s3Statistics().totalRequests()).as("no request after the cancel").isEqualTo(requestsAfter);
    }

    /**
     * As above, with the default timeouts' order of magnitude: a GET whose answer has not begun
     * (the server stalls before its headers) is aborted by the cancel, not left to the socket
     * timeout (30 s by default; a cancelled restore that outlives Flink's task cancellation
     * timeout takes the TaskManager down).
     */
    @Test
    void cancellingARestoreWhoseGetsAwaitTheirAnswerEndsThemAtOnceNotAtTheSocketTimeout(
            @TempDir java.nio.file.Path ownTier) throws Exception {
        for (int i = 0; i < 2; i++) {
            write(seed, path("awaited-" + i), randomBytes(MIB, 30 + i));
        }
        Configuration conf = config(ownTier, proxy.endpoint());
        conf.setString(S3TieredOptions.REQUEST_TIMEOUT.key(), "120s");
        conf.setString(S3TieredOptions.SOCKET_TIMEOUT.key(), "120s");
        S3TieredFileSystem patient = newFileSystem(conf, S3.server().bucket());
        try {
            proxy.inject(FaultRule.on(S3Operation.GET_OBJECT_RANGE).always().stallResponse(Duration.ofMinutes(2)));
            CloseableRegistry registry = new CloseableRegistry();
            List<CopyRequest> requests = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                requests.add(CopyRequest.of(path("awaited-" + i), new Path(restoreDir.resolve("awaited-" + i).toUri()), -1));
            }
            CompletableFuture<Void> copying = FakeS3FileSystems.inBackground(() -> patient.copyFiles(requests, registry));
            awaitRequests(S3Operation.GET_OBJECT_RANGE, 1);
            Thread.sleep(200); // the GET is waiting for its answer

            long start = System.nanoTime();
            registry.close();
            assertThatThrownBy(() -> copying.get(60, TimeUnit.SECONDS)).satisfies(WireFaultsITCase::endedByTheCancel);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        } finally {
            proxy.clearRules();
            patient.runtime().close();
        }
    }

    // ------------------------------------------------------------------ helpers

    /** The restore failed because it was cancelled, not for another reason that happened to be quick (a timeout, a 4xx, a bug). */
    private static void endedByTheCancel(Throwable t) {
        assertThat(t).isInstanceOf(java.util.concurrent.ExecutionException.class);
        List<Throwable> chain = new ArrayList<>();
        for (Throwable c = t; c != null && !chain.contains(c); c = c.getCause()) {
            chain.add(c);
        }
        assertThat(chain).as("the failure's causes").anyMatch(c -> c instanceof io.github.s3tiered.s3.Cancellation.CancelledException
                || c instanceof java.util.concurrent.CancellationException);
        assertThat(chain).as("the failure's causes").noneMatch(c -> c instanceof java.util.concurrent.TimeoutException);
    }

    private Throwable catchFailure(Op op) {
        try {
            exerciseAndVerify(op);
        } catch (Throwable t) {
            return t;
        }
        throw new AssertionError(op + " succeeded although every request failed");
    }

    private byte[] rawBytes(String name) {
        return raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(key(name))).asByteArray();
    }

    private boolean rawExists(String name) {
        try {
            raw.headObject(b -> b.bucket(S3.server().bucket()).key(key(name)));
            return true;
        } catch (NoSuchKeyException e) {
            return false;
        } catch (software.amazon.awssdk.services.s3.model.S3Exception e) {
            if (e.statusCode() == 404) {
                return false;
            }
            throw e;
        }
    }

    private List<String> openUploads() {
        String prefix = dir.substring(("s3tiered://" + S3.server().bucket() + "/").length());
        return raw.listMultipartUploads(b -> b.bucket(S3.server().bucket()).prefix(prefix)).uploads().stream()
                .map(u -> u.key() + " " + u.uploadId()).toList();
    }

    private long stagingFiles() throws IOException {
        java.nio.file.Path staging = fs.localTier().root().resolve("v1").resolve("staging");
        if (!Files.isDirectory(staging)) {
            return 0;
        }
        try (Stream<java.nio.file.Path> files = Files.list(staging)) {
            return files.count();
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Long> transferMetrics() {
        Map<String, Object> answer = fs.apply(BridgeContract.TRANSFER_METRICS, Map.of());
        return (Map<String, Long>) answer.get(BridgeContract.METRICS);
    }

    private void awaitRequests(S3Operation op, long n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (proxy.requests(op) < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + op + " request reached the proxy");
            }
            Thread.sleep(10);
        }
    }

    private void assertNoTransferRunning() throws InterruptedException {
        S3TieredTestSupport.awaitTransfersEnded(fs, Duration.ofSeconds(5));
    }
}
