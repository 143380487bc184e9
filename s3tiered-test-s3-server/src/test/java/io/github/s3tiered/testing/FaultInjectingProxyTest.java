package io.github.s3tiered.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link FaultInjectingProxy} between a real HTTP client (the JDK's, or a raw socket to see the
 * wire) and a real HTTP server (the JDK's, acting as a small S3).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FaultInjectingProxyTest {

    private FakeS3Server s3;
    private FaultInjectingProxy proxy;
    private HttpClient http;

    @BeforeEach
    void start() throws IOException {
        s3 = new FakeS3Server();
        proxy = new FaultInjectingProxy("127.0.0.1", s3.port());
        http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        s3.close();
    }

    // ---- classification and plain forwarding ---------------------------------------------

    @Test
    void classifiesEveryOperationAndExposesTheDecodedKey() throws Exception {
        byte[] data = bytes(5000, 1);
        s3.objects.put("/bucket/dir/obj", data);

        assertThat(send("PUT", "/bucket/dir/a%20b%2Bc", "payload".getBytes(StandardCharsets.UTF_8)).statusCode()).isEqualTo(200);
        assertThat(send("PUT", "/bucket/dir/obj?partNumber=1&uploadId=u1", bytes(100, 2)).statusCode()).isEqualTo(200);
        s3.objects.put("/bucket/dir/obj", data);
        assertThat(send("POST", "/bucket/dir/obj?uploads", null).body()).asString().contains("UploadId");
        assertThat(send("POST", "/bucket/dir/obj?uploadId=u1", "<CompleteMultipartUpload/>".getBytes()).statusCode()).isEqualTo(200);
        assertThat(send("DELETE", "/bucket/dir/obj?uploadId=u1", null).statusCode()).isEqualTo(204);
        s3.objects.put("/bucket/dir/obj", data);
        assertThat(send("GET", "/bucket/dir/obj", null).body()).isEqualTo(data);
        assertThat(send("GET", "/bucket/dir/a%20b%2Bc", null).body()).asString().isEqualTo("payload");
        HttpResponse<byte[]> range = http.send(request("GET", "/bucket/dir/obj", null).header("Range", "bytes=10-19").build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(range.statusCode()).isEqualTo(206);
        assertThat(range.body()).isEqualTo(java.util.Arrays.copyOfRange(data, 10, 20));
        HttpResponse<byte[]> head = send("HEAD", "/bucket/dir/obj", null);
        assertThat(head.statusCode()).isEqualTo(200);
        assertThat(head.headers().firstValue("content-length")).hasValue("5000");
        assertThat(send("GET", "/bucket?list-type=2&prefix=dir%2F", null).body()).asString().contains("ListBucketResult");
        assertThat(send("DELETE", "/bucket/dir/obj", null).statusCode()).isEqualTo(204);
        assertThat(send("POST", "/bucket?delete", "<Delete/>".getBytes()).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/", null).statusCode()).isEqualTo(200);

        assertThat(proxy.recentRequests()).extracting(ProxiedRequest::operation).containsExactly(
                S3Operation.PUT_OBJECT, S3Operation.UPLOAD_PART, S3Operation.CREATE_MULTIPART_UPLOAD,
                S3Operation.COMPLETE_MULTIPART_UPLOAD, S3Operation.ABORT_MULTIPART_UPLOAD, S3Operation.GET_OBJECT,
                S3Operation.GET_OBJECT, S3Operation.GET_OBJECT_RANGE, S3Operation.HEAD_OBJECT, S3Operation.LIST_OBJECTS,
                S3Operation.DELETE_OBJECT, S3Operation.DELETE_OBJECTS, S3Operation.OTHER);
        assertThat(proxy.recentRequests()).extracting(ProxiedRequest::key).containsExactly(
                "dir/a b+c", "dir/obj", "dir/obj", "dir/obj", "dir/obj", "dir/obj", "dir/a b+c", "dir/obj", "dir/obj",
                "dir/", "dir/obj", "", "");
        assertThat(proxy.requests(S3Operation.GET_OBJECT)).isEqualTo(2);
        assertThat(proxy.requests(S3Operation.HEAD_OBJECT)).isEqualTo(1);
        for (S3Operation op : S3Operation.values()) {
            assertThat(proxy.requests(op)).as(op.toString()).isEqualTo(op == S3Operation.GET_OBJECT ? 2 : 1);
        }
        assertThat(proxy.requests()).isEqualTo(13);
        assertThat(proxy.faults()).isZero();
        assertThat(s3.received()).hasSize(13);
        // every response was framed right, so the client kept one connection (two at most, if it raced)
        assertThat(proxy.connectionsAccepted()).isBetween(1L, 2L);
    }

    @Test
    void keepAliveSurvivesBodilessResponsesChunkedBodiesAndContinue() throws Exception {
        byte[] data = bytes(70_000, 3);
        s3.objects.put("/bucket/k", data);
        s3.objects.put("/bucket/chunked-k", data);
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            RawHttpClient.Response head = c.exchange("HEAD", "/bucket/k", null);
            assertThat(head.status()).isEqualTo(200);
            assertThat(head.header("content-length")).isEqualTo("70000"); // and no body follows
            assertThat(c.exchange("DELETE", "/bucket/nothing", null).status()).isEqualTo(204);
            RawHttpClient.Response chunked = c.exchange("GET", "/bucket/chunked-k", null);
            assertThat(chunked.header("transfer-encoding")).isEqualTo("chunked");
            assertThat(chunked.body()).isEqualTo(data);
            // Expect: 100-continue answered by the server itself, through the proxy
            c.sendHead("PUT", "/bucket/up", 30_000, "Expect: 100-continue");
            assertThat(c.read(false).status()).isEqualTo(100);
            c.sendBody(bytes(30_000, 4));
            assertThat(c.read(false).status()).isEqualTo(200);
            // aws-chunked bodies are opaque bytes of Content-Length
            byte[] awsChunked = "2710;chunk-signature=abc\r\n".getBytes();
            assertThat(c.exchange("PUT", "/bucket/aws", awsChunked, "Content-Encoding: aws-chunked",
                    "x-amz-decoded-content-length: 10000").status()).isEqualTo(200);
            assertThat(c.exchange("GET", "/bucket/k", null).body()).isEqualTo(data);
            // pipelined: a local error answer waits for the forwarded response before it
            proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching("nope").slowDown());
            c.sendHead("GET", "/bucket/k", -1);
            c.sendHead("GET", "/bucket/nope", -1);
            c.sendHead("HEAD", "/bucket/k", -1);
            assertThat(c.read(false).body()).isEqualTo(data);
            assertThat(c.read(false).status()).isEqualTo(503);
            assertThat(c.read(true).header("content-length")).isEqualTo("70000");
        }
        assertThat(s3.objects.get("/bucket/up")).isEqualTo(bytes(30_000, 4));
        assertThat(s3.objects.get("/bucket/aws")).hasSize(26);
        assertThat(proxy.connectionsAccepted()).isEqualTo(1);
        assertThat(proxy.connectionsCut()).isZero();

        // a chunked request body (length unknown) with Expect: 100-continue from the JDK client
        HttpResponse<byte[]> put = http.send(request("PUT", "/bucket/streamed?partNumber=1&uploadId=u", null)
                        .expectContinue(true)
                        .PUT(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(data))).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(put.statusCode()).isEqualTo(200);
        assertThat(s3.objects.get("/bucket/streamed")).isEqualTo(data);
        assertThat(proxy.requests(S3Operation.UPLOAD_PART)).isEqualTo(1);
    }

    @Test
    void responsesDelimitedByCloseAndNonHttpBytesPassThrough() throws Exception {
        try (ServerSocket raw = new ServerSocket(0, 5, InetAddress.getLoopbackAddress());
                FaultInjectingProxy closing = new FaultInjectingProxy("127.0.0.1", raw.getLocalPort())) {
            Thread server = daemon(() -> {
                try (Socket s = raw.accept()) {
                    readHead(s.getInputStream());
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end".getBytes());
                } catch (IOException ignored) {
                    // test fails on the client side
                }
            });
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), closing.port())) {
                client.setSoTimeout(5000);
                client.getOutputStream().write("GET /bucket/k HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
                String all = new String(client.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
                assertThat(all).startsWith("HTTP/1.1 200 OK").endsWith("\r\n\r\nuntil the end");
            }
            server.join(5000);
            assertThat(closing.requests(S3Operation.GET_OBJECT)).isEqualTo(1);

            // bytes that are not HTTP (a TLS hello, say) are tunnelled as they are
            Thread echo = daemon(() -> {
                try (Socket s = raw.accept()) {
                    byte[] b = s.getInputStream().readNBytes(10);
                    s.getOutputStream().write(b);
                } catch (IOException ignored) {
                    // test fails on the client side
                }
            });
            byte[] hello = {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5};
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), closing.port())) {
                client.setSoTimeout(5000);
                client.getOutputStream().write(hello);
                assertThat(client.getInputStream().readNBytes(10)).isEqualTo(hello);
            }
            echo.join(5000);
            assertThat(closing.requests()).isEqualTo(1);
        }
    }

    // ---- S3 errors -------------------------------------------------------------------------

    @Test
    void answersWithAnS3ErrorAndTheConnectionStaysUsable() throws Exception {
        s3.objects.put("/bucket/chk-1/_metadata", "meta".getBytes());
        s3.objects.put("/bucket/data", "hello".getBytes());
        FaultRule rule = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*/_metadata").always().slowDown());
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            RawHttpClient.Response error = c.exchange("GET", "/bucket/chk-1/_metadata", null);
            assertThat(error.status()).isEqualTo(503);
            assertThat(error.header("content-type")).isEqualTo("application/xml");
            assertThat(error.header("content-length")).isEqualTo(Integer.toString(error.body().length));
            String requestId = error.header("x-amz-request-id");
            assertThat(requestId).isNotBlank();
            assertThat(error.text()).contains(
                    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
                            + "<Resource>/bucket/chk-1/_metadata</Resource><RequestId>" + requestId + "</RequestId></Error>");
            assertThat(c.exchange("GET", "/bucket/data", null).text()).isEqualTo("hello");
            assertThat(c.exchange("GET", "/bucket/chk-1/_metadata", null).status()).isEqualTo(503);
            assertThat(c.exchange("HEAD", "/bucket/chk-1/_metadata", null).status()).isEqualTo(200);
        }
        assertThat(proxy.connectionsAccepted()).isEqualTo(1);
        assertThat(rule.timesFired()).isEqualTo(2);
        assertThat(proxy.faults(FaultAction.RESPOND_ERROR)).isEqualTo(2);
        assertThat(s3.received()).extracting(FakeS3Server.Received::method).containsExactly("GET", "HEAD");
    }

    @Test
    void errorsForUploadsReadTheBodyFirstAndHeadErrorsHaveNone() throws Exception {
        FaultRule upload = proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT, S3Operation.UPLOAD_PART).times(2).internalError());
        proxy.inject(FaultRule.on(S3Operation.HEAD_OBJECT).respond(404, "NoSuchKey"));
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            c.sendHead("PUT", "/bucket/k1?partNumber=1&uploadId=u", 5000, "Expect: 100-continue");
            assertThat(c.read(false).status()).as("the proxy says 100 Continue").isEqualTo(100);
            c.sendBody(bytes(5000, 5));
            RawHttpClient.Response error = c.read(false);
            assertThat(error.status()).isEqualTo(500);
            assertThat(error.text()).contains("<Code>InternalError</Code>");

            assertThat(c.exchange("PUT", "/bucket/k2", bytes(3000, 6)).status()).isEqualTo(500);
            RawHttpClient.Response missing = c.exchange("HEAD", "/bucket/k2", null);
            assertThat(missing.status()).isEqualTo(404);
            assertThat(missing.body()).isEmpty();

            assertThat(c.exchange("PUT", "/bucket/k3", bytes(3000, 7)).status()).as("limit of 2 reached").isEqualTo(200);
        }
        assertThat(upload.timesFired()).isEqualTo(2);
        assertThat(proxy.connectionsAccepted()).isEqualTo(1);
        assertThat(s3.objects.keySet()).containsExactly("/bucket/k3");
        assertThat(s3.received()).hasSize(1);

        proxy.clearRules();
        proxy.inject(FaultRule.on(S3Operation.LIST_OBJECTS).times(1).tooManyRequests());
        HttpResponse<byte[]> throttled = send("GET", "/bucket?list-type=2", null);
        assertThat(throttled.statusCode()).isEqualTo(429);
        assertThat(new String(throttled.body(), StandardCharsets.UTF_8)).contains("<Code>TooManyRequests</Code>");
        assertThat(send("GET", "/bucket?list-type=2", null).statusCode()).isEqualTo(200);
        assertThat(proxy.faults(FaultAction.RESPOND_ERROR)).isEqualTo(4);
    }

    // ---- resets ----------------------------------------------------------------------------

    @Test
    void resetAfterResponseBytesTruncatesTheDownload() throws Exception {
        byte[] data = bytes(200_000, 8);
        s3.objects.put("/bucket/big", data);
        s3.objects.put("/bucket/chunked-big", data);
        s3.objects.put("/bucket/small", bytes(10, 9));
        FaultRule rule = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching("big").nth(1).resetAfterResponseBytes(1000));
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            c.sendHead("GET", "/bucket/big", -1);
            assertThatThrownBy(() -> c.read(false)).isInstanceOf(IOException.class);
            assertThat(c.bodyBytesRead).isLessThanOrEqualTo(1000);
        }
        assertThat(rule.timesFired()).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.RESET_AFTER_RESPONSE_BYTES)).isEqualTo(1);
        assertThat(proxy.connectionsCut()).isEqualTo(1);
        assertThat(send("GET", "/bucket/big", null).body()).isEqualTo(data);

        // a chunked body is cut the same way; a body too short to cut passes and does not count. On a
        // raw connection: an HTTP client may repeat a GET whose pooled connection was reset (the
        // reset can discard the response head unread), which would fire the rule twice
        FaultRule chunked = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching("chunked-.*|small").resetAfterResponseBytes(50_000));
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            c.sendHead("GET", "/bucket/chunked-big", -1);
            assertThatThrownBy(() -> c.read(false)).isInstanceOf(IOException.class);
            assertThat(c.bodyBytesRead).isLessThan(data.length);
        }
        assertThat(send("GET", "/bucket/small", null).body()).isEqualTo(bytes(10, 9));
        // the small body gives its firing back once it has been relayed, which may be just after the client has it
        await(() -> chunked.timesFired() == 1);
        proxy.remove(chunked);
        assertThat(send("GET", "/bucket/chunked-big", null).body()).isEqualTo(data);
        assertThat(proxy.connectionsCut()).isEqualTo(2);
    }

    @Test
    void resetAfterRequestBytesBreaksAnUploadMidway() throws Exception {
        FaultRule rule = proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).resetAfterRequestBytes(10_000));
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            c.sendHead("PUT", "/bucket/up", 100_000);
            assertThatThrownBy(() -> {
                c.sendBody(bytes(100_000, 10));
                c.read(false);
            }).isInstanceOf(IOException.class);
        }
        await(() -> s3.bodyFailures.get() == 1);
        FakeS3Server.Received got = s3.received().get(0);
        assertThat(got.bodyFailed()).isTrue();
        assertThat(got.bodyBytes()).isLessThanOrEqualTo(10_000);
        assertThat(s3.objects).isEmpty();
        assertThat(rule.timesFired()).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.RESET_AFTER_REQUEST_BYTES)).isEqualTo(1);

        // a part with a chunked body behind Expect: 100-continue, from the JDK client
        proxy.clearRules();
        proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).resetAfterRequestBytes(20_000));
        byte[] part = bytes(100_000, 11);
        assertThatThrownBy(() -> http.send(request("PUT", "/bucket/mpu?partNumber=2&uploadId=u", null)
                        .expectContinue(true)
                        .PUT(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(part))).build(),
                HttpResponse.BodyHandlers.ofByteArray())).isInstanceOf(IOException.class);
        await(() -> s3.bodyFailures.get() == 2);
        assertThat(s3.received().get(1).expect()).isEqualToIgnoringCase("100-continue");
        assertThat(s3.received().get(1).bodyBytes()).isLessThan(20_000);
        assertThat(s3.objects).isEmpty();
        // a body no longer than the limit passes whole
        assertThat(send("PUT", "/bucket/mpu?partNumber=3&uploadId=u", bytes(20_000, 12)).statusCode()).isEqualTo(200);
        assertThat(s3.objects.get("/bucket/mpu")).isEqualTo(bytes(20_000, 12));
        assertThat(proxy.faults(FaultAction.RESET_AFTER_REQUEST_BYTES)).isEqualTo(2);
    }

    @Test
    void flipsAlterOneByteOfAnUploadOrADownloadThatArrivesWhole() throws Exception {
        byte[] data = bytes(100_000, 13);
        FaultRule upload = proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).nth(1).flipRequestByte(70_000));
        assertThat(send("PUT", "/bucket/altered", data).statusCode()).isEqualTo(200);
        byte[] expected = data.clone();
        expected[70_000] ^= (byte) 0xFF;
        assertThat(s3.objects.get("/bucket/altered")).isEqualTo(expected);
        assertThat(upload.timesFired()).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.FLIP_REQUEST_BYTE)).isEqualTo(1);

        s3.objects.put("/bucket/intact", data);
        FaultRule download = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching("intact").nth(1).flipResponseByte(5));
        byte[] got = send("GET", "/bucket/intact", null).body();
        assertThat(got).hasSize(data.length).isNotEqualTo(data);
        got[5] ^= (byte) 0xFF;
        assertThat(got).isEqualTo(data);
        assertThat(download.timesFired()).isEqualTo(1);
        assertThat(send("GET", "/bucket/intact", null).body()).as("only the first GET").isEqualTo(data);

        // a body too short to reach the byte passes unchanged and does not count
        FaultRule beyond = proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).keyMatching("short").flipRequestByte(1000));
        assertThat(send("PUT", "/bucket/short", bytes(10, 14)).statusCode()).isEqualTo(200);
        assertThat(s3.objects.get("/bucket/short")).isEqualTo(bytes(10, 14));
        await(() -> beyond.timesFired() == 0);
        assertThat(proxy.faults(FaultAction.FLIP_REQUEST_BYTE)).isEqualTo(1);
        assertThat(proxy.connectionsCut()).isZero();
    }

    @Test
    void resetWithOrWithoutForwardingTheRequest() throws Exception {
        for (String k : List.of("d1", "d2", "d3")) {
            s3.objects.put("/bucket/" + k, new byte[1]);
        }
        proxy.inject(FaultRule.on(S3Operation.DELETE_OBJECT).nth(1).resetWithoutForwarding());
        proxy.inject(FaultRule.on(S3Operation.DELETE_OBJECT).nth(2).resetBeforeResponse());
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            assertThatThrownBy(() -> c.exchange("DELETE", "/bucket/d1", null)).isInstanceOf(IOException.class);
        }
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            assertThatThrownBy(() -> c.exchange("DELETE", "/bucket/d2", null)).isInstanceOf(IOException.class);
        }
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            assertThat(c.exchange("DELETE", "/bucket/d3", null).status()).isEqualTo(204);
        }
        assertThat(s3.objects.keySet()).as("d1 never reached the server, d2 did").containsExactly("/bucket/d1");
        assertThat(s3.receivedTargetContaining("d1")).isFalse();
        assertThat(proxy.faults(FaultAction.RESET_WITHOUT_FORWARDING)).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.RESET_BEFORE_RESPONSE)).isEqualTo(1);
        assertThat(proxy.connectionsCut()).isEqualTo(2);
        assertThat(proxy.requests(S3Operation.DELETE_OBJECT)).isEqualTo(3);
    }

    // ---- stalls and latency ------------------------------------------------------------------

    @Test
    void stallsHoldRequestsAndResponses() throws Exception {
        s3.objects.put("/bucket/k", "v".getBytes());
        proxy.inject(FaultRule.on(S3Operation.HEAD_OBJECT).stallResponse(Duration.ofMillis(400)));
        proxy.inject(FaultRule.on(S3Operation.PUT_OBJECT).stallRequestThenReset(Duration.ofMillis(300)));
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).nth(1).stallResponseThenReset(Duration.ofMillis(200)));

        long t0 = System.nanoTime();
        assertThat(send("HEAD", "/bucket/k", null).statusCode()).isEqualTo(200);
        assertThat(millisSince(t0)).isGreaterThanOrEqualTo(350);

        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            long t1 = System.nanoTime();
            assertThatThrownBy(() -> c.exchange("PUT", "/bucket/p", new byte[10])).isInstanceOf(IOException.class);
            assertThat(millisSince(t1)).isGreaterThanOrEqualTo(250);
        }
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            long t2 = System.nanoTime();
            assertThatThrownBy(() -> c.exchange("GET", "/bucket/k", null)).isInstanceOf(IOException.class);
            assertThat(millisSince(t2)).isGreaterThanOrEqualTo(150);
        }
        assertThat(s3.receivedTargetContaining("/bucket/p")).as("stalled then reset: never forwarded").isFalse();
        await(() -> s3.received().stream().anyMatch(r -> r.method().equals("GET")));
        assertThat(proxy.faults(FaultAction.STALL_RESPONSE)).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.STALL_REQUEST_THEN_RESET)).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.STALL_RESPONSE_THEN_RESET)).isEqualTo(1);

        // a long stall goes on as soon as the rules are cleared
        proxy.clearRules();
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).stallRequest(Duration.ofSeconds(60)));
        CompletableFuture<HttpResponse<byte[]>> stalled = http.sendAsync(request("GET", "/bucket/k", null).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        await(() -> proxy.faults(FaultAction.STALL_REQUEST) == 1); // the request is held (counted as it begins)
        proxy.limitBandwidth(1_000_000, 0); // changing the caps does not end a stall
        Thread.sleep(100);
        assertThat(stalled).isNotDone();
        proxy.clearRules();
        assertThat(stalled.get(5, TimeUnit.SECONDS).body()).isEqualTo("v".getBytes());
        assertThat(proxy.faults(FaultAction.STALL_REQUEST)).isEqualTo(1);
    }

    @Test
    void latencyDelaysEveryMatchingResponseAndCombinesWithOtherRules() throws Exception {
        s3.objects.put("/bucket/k", "v".getBytes());
        FaultRule latency = proxy.inject(FaultRule.onAny().delayResponse(Duration.ofMillis(150)));
        FaultRule error = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).nth(2).slowDown());
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            for (int expected : new int[] {200, 503, 200}) {
                long t = System.nanoTime();
                assertThat(c.exchange("GET", "/bucket/k", null).status()).isEqualTo(expected);
                assertThat(millisSince(t)).isGreaterThanOrEqualTo(130);
            }
        }
        assertThat(latency.timesFired()).isEqualTo(3);
        assertThat(error.timesFired()).isEqualTo(1);
        assertThat(proxy.faults(FaultAction.LATENCY)).isEqualTo(3);
        assertThat(proxy.faults()).isEqualTo(4);
    }

    // ---- selection ---------------------------------------------------------------------------

    @Test
    void nthProbabilityAndLimitSelectTheRightRequests() throws Exception {
        s3.objects.put("/bucket/k", "v".getBytes());
        s3.objects.put("/bucket/other", "v".getBytes());
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            FaultRule third = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching("k").nth(3).slowDown());
            List<Integer> statuses = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                c.exchange("GET", "/bucket/other", null); // does not match the key: not counted
                statuses.add(c.exchange("GET", "/bucket/k", null).status());
            }
            assertThat(statuses).containsExactly(200, 200, 503, 200, 200);
            assertThat(third.timesFired()).isEqualTo(1);

            proxy.clearRules();
            proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).always().times(2).internalError());
            statuses.clear();
            for (int i = 0; i < 4; i++) {
                statuses.add(c.exchange("GET", "/bucket/k", null).status());
            }
            assertThat(statuses).containsExactly(500, 500, 200, 200);

            proxy.clearRules();
            proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).withProbability(0.3, 42).slowDown());
            List<Boolean> failed = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                failed.add(c.exchange("GET", "/bucket/k", null).status() == 503);
            }
            Random expected = new Random(42);
            List<Boolean> predicted = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                predicted.add(expected.nextDouble() < 0.3);
            }
            assertThat(failed).isEqualTo(predicted);
            assertThat(failed.stream().filter(b -> b).count()).isBetween(5L, 40L);
        }
        assertThat(proxy.connectionsAccepted()).isEqualTo(1);
    }

    @Test
    void countersCountAndReset() throws Exception {
        s3.objects.put("/bucket/k", "v".getBytes());
        FaultRule rule = proxy.inject(FaultRule.on(S3Operation.HEAD_OBJECT).slowDown());
        send("HEAD", "/bucket/k", null);
        send("HEAD", "/bucket/k", null);
        send("GET", "/bucket/k", null);
        assertThat(proxy.requests(S3Operation.HEAD_OBJECT)).isEqualTo(2);
        assertThat(proxy.requests(S3Operation.GET_OBJECT)).isEqualTo(1);
        assertThat(proxy.requests()).isEqualTo(3);
        assertThat(proxy.faults(FaultAction.RESPOND_ERROR)).isEqualTo(2);
        assertThat(proxy.faults()).isEqualTo(2);

        proxy.resetCounters();
        assertThat(proxy.requests()).isZero();
        assertThat(proxy.faults()).isZero();
        assertThat(proxy.recentRequests()).isEmpty();
        assertThat(rule.timesFired()).as("rules keep their own count").isEqualTo(2);

        proxy.heal();
        assertThat(proxy.rules()).isEmpty();
        assertThat(send("HEAD", "/bucket/k", null).statusCode()).isEqualTo(200);
        assertThat(proxy.requests(S3Operation.HEAD_OBJECT)).isEqualTo(1);
        assertThatThrownBy(() -> proxy.inject(rule)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> proxy.inject(FaultRule.onAny())).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void manyConnectionsWhileRulesChange() throws Exception {
        s3.objects.put("/bucket/k", bytes(2000, 13));
        FaultRule rule = proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).withProbability(0.2, 7).slowDown());
        AtomicBoolean running = new AtomicBoolean(true);
        Thread churn = daemon(() -> {
            while (running.get()) {
                FaultRule extra = proxy.inject(FaultRule.on(S3Operation.HEAD_OBJECT).delayResponse(Duration.ofMillis(1)));
                proxy.remove(extra);
            }
        });
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<Integer>> errors = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                errors.add(pool.submit(() -> {
                    int n = 0;
                    try (RawHttpClient c = new RawHttpClient(proxy.port())) {
                        for (int i = 0; i < 25; i++) {
                            RawHttpClient.Response r = c.exchange("GET", "/bucket/k", null);
                            if (r.status() == 503) {
                                n++;
                            } else {
                                assertThat(r.body()).isEqualTo(bytes(2000, 13));
                            }
                        }
                    }
                    return n;
                }));
            }
            int total = 0;
            for (Future<Integer> f : errors) {
                total += f.get(20, TimeUnit.SECONDS);
            }
            Random random = new Random(7);
            int predicted = 0;
            for (int i = 0; i < 150; i++) {
                predicted += random.nextDouble() < 0.2 ? 1 : 0;
            }
            assertThat(total).isEqualTo(predicted);
            assertThat(rule.timesFired()).isEqualTo(predicted);
            assertThat(proxy.faults(FaultAction.RESPOND_ERROR)).isEqualTo(predicted);
            assertThat(proxy.requests(S3Operation.GET_OBJECT)).isEqualTo(150);
            assertThat(proxy.connectionsAccepted()).isEqualTo(6);
        } finally {
            running.set(false);
            pool.shutdownNow();
        }
    }

    // ---- legacy API ---------------------------------------------------------------------------

    @Test
    void legacyByteLimitsAndMarkerStillWork() throws Exception {
        byte[] data = bytes(200_000, 14);
        s3.objects.put("/bucket/big", data);
        proxy.cutConnectionsAfter(-1, 1000);
        assertThatThrownBy(() -> send("GET", "/bucket/big", null)).isInstanceOf(IOException.class);
        assertThat(proxy.connectionsCut()).isPositive();
        assertThat(proxy.faults(FaultAction.CONNECTION_CUT)).isEqualTo(proxy.connectionsCut());
        proxy.heal();
        assertThat(send("GET", "/bucket/big", null).body()).isEqualTo(data);

        proxy.cutConnectionsAfter(500, -1);
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            assertThatThrownBy(() -> c.exchange("PUT", "/bucket/cut", bytes(10_000, 15))).isInstanceOf(IOException.class);
        }
        proxy.heal();
        long cutsBefore = proxy.connectionsCut();

        proxy.rejectRequestsContaining("partNumber=");
        try (RawHttpClient c = new RawHttpClient(proxy.port())) {
            assertThatThrownBy(() -> c.exchange("PUT", "/bucket/mpu?partNumber=1&uploadId=u", bytes(1000, 16)))
                    .isInstanceOf(IOException.class);
        }
        assertThat(send("PUT", "/bucket/whole", bytes(1000, 17)).statusCode()).isEqualTo(200);
        assertThat(s3.receivedTargetContaining("partNumber")).isFalse();
        assertThat(s3.objects).containsKey("/bucket/whole").doesNotContainKey("/bucket/mpu");
        assertThat(proxy.connectionsCut()).isEqualTo(cutsBefore + 1);
        assertThat(proxy.faults(FaultAction.MARKER_REJECT)).isEqualTo(1);
        proxy.heal();
        assertThat(send("PUT", "/bucket/mpu?partNumber=1&uploadId=u", bytes(1000, 16)).statusCode()).isEqualTo(200);
    }

    // ---- bandwidth -------------------------------------------------------------------------------

    @Test
    void bandwidthCapsPerConnectionAndInTotal() throws Exception {
        byte[] data = bytes(300_000, 18);
        s3.objects.put("/bucket/big", data);
        s3.objects.put("/bucket/half", java.util.Arrays.copyOf(data, 150_000));

        proxy.limitBandwidth(200_000, 0); // 300 kB at 200 kB/s: ~1.5 s
        long t0 = System.nanoTime();
        assertThat(send("GET", "/bucket/big", null).body()).isEqualTo(data);
        assertThat(millisSince(t0)).isBetween(1200L, 8000L);

        proxy.limitBandwidth(0, 200_000); // two connections share 200 kB/s: 2 x 150 kB in ~1.5 s
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            long t1 = System.nanoTime();
            List<Future<byte[]>> gets = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                gets.add(pool.submit(() -> {
                    try (RawHttpClient c = new RawHttpClient(proxy.port())) {
                        return c.exchange("GET", "/bucket/half", null).body();
                    }
                }));
            }
            for (Future<byte[]> get : gets) {
                assertThat(get.get(20, TimeUnit.SECONDS)).hasSize(150_000);
            }
            assertThat(millisSince(t1)).isBetween(1200L, 8000L);
        } finally {
            pool.shutdownNow();
        }

        proxy.heal();
        long t2 = System.nanoTime();
        assertThat(send("GET", "/bucket/big", null).body()).isEqualTo(data);
        assertThat(millisSince(t2)).isLessThan(1000L);
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private HttpRequest.Builder request(String method, String target, byte[] body) {
        return HttpRequest.newBuilder(URI.create(proxy.endpoint() + target))
                .timeout(Duration.ofSeconds(10))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    }

    private HttpResponse<byte[]> send(String method, String target, byte[] body) throws IOException, InterruptedException {
        return http.send(request(method, target, body).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static long millisSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 5 s");
            }
            Thread.sleep(10);
        }
    }

    private static Thread daemon(Runnable r) {
        Thread t = new Thread(r, "test-helper");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void readHead(InputStream in) throws IOException {
        int matched = 0;
        byte[] end = "\r\n\r\n".getBytes();
        while (matched < 4) {
            int c = in.read();
            if (c < 0) {
                return;
            }
            matched = c == end[matched] ? matched + 1 : (c == '\r' ? 1 : 0);
        }
    }
}
