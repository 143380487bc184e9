package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpFullRequest;
import software.amazon.awssdk.http.SdkHttpMethod;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upload attempt is bounded by its body's progress, not by one fixed time: a body that keeps
 * moving is never aborted however long it takes; one that stops moving is aborted after the stall
 * bound, and one whose answer does not come after the answer bound, each with its reason; an attempt
 * that ended is never aborted. Times are given to {@link UploadBodyWatchdog#abortOverdue} directly.
 */
class UploadBodyWatchdogTest {

    private static final Duration STALL = Duration.ofSeconds(30);
    private static final Duration ANSWER = Duration.ofMinutes(5);
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    private final UploadBodyWatchdog watchdog = new UploadBodyWatchdog(STALL, ANSWER);
    private final AtomicInteger aborts = new AtomicInteger();
    private final ExecutableHttpRequest request = new ExecutableHttpRequest() {
        @Override
        public HttpExecuteResponse call() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void abort() {
            aborts.incrementAndGet();
        }
    };

    @AfterEach
    void close() {
        watchdog.close();
    }

    /** The body of {@code n} bytes as the HTTP client gets it to send, counted for {@code body}. */
    private static InputStream sent(UploadBodyWatchdog.UploadBody body, int n) {
        HttpExecuteRequest put = HttpExecuteRequest.builder()
                .request(SdkHttpFullRequest.builder().method(SdkHttpMethod.PUT).uri(URI.create("http://127.0.0.1:1/b/k"))
                        .putHeader("Content-Length", String.valueOf(n)).build())
                .contentStreamProvider(() -> new ByteArrayInputStream(new byte[n])).build();
        return body.tracked(put).contentStreamProvider().orElseThrow().newStream();
    }

    @Test
    void aBodyThatKeepsMovingIsNotAbortedThoughTheAttemptOutlastsTheRequestTimeout() throws IOException {
        // a request timeout of 5 s: a fixed bound on the attempt would end it 15 s before the check
        UploadBodyWatchdog short5s = new UploadBodyWatchdog(STALL, Duration.ofSeconds(5));
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        short5s.watch(body, request);
        InputStream in = sent(body, 1000);
        in.read(new byte[10]);

        // 20 s after the start (four request timeouts), the last byte taken 20 s ago: within the stall bound
        assertThat(short5s.abortOverdue(System.nanoTime() + 20 * SECOND)).isZero();
        assertThat(aborts).hasValue(0);
        // and once the body stops for longer than the stall bound, it is aborted
        assertThat(short5s.abortOverdue(System.nanoTime() + STALL.toNanos() + SECOND)).isOne();
        short5s.close();
    }

    @Test
    void aBodyTheServerStoppedTakingIsAbortedAfterTheStallBoundNamingWhatWasSent() throws IOException {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("UploadPart 3 of s3://b/k (upload id u)");
        watchdog.watch(body, request);
        sent(body, 1000).read(new byte[400]);

        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() - SECOND)).isZero();
        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() + SECOND)).isOne();
        assertThat(aborts).hasValue(1);

        assertThatThrownBy(() -> body.failure(SdkClientException.create("Unable to execute HTTP request: Socket closed")))
                .isInstanceOf(UploadBodyWatchdog.StalledUploadException.class)
                .hasMessageContaining("UploadPart 3 of s3://b/k (upload id u)")
                .hasMessageContaining("no byte of the body for 30 s (s3tiered.socket.timeout) after 400 of 1000 bytes")
                .hasRootCauseMessage("Unable to execute HTTP request: Socket closed")
                .satisfies(e -> assertThat(((UploadBodyWatchdog.StalledUploadException) e).serverStopped()).isTrue());
        assertThat(S3ErrorKind.classify(new UploadBodyWatchdog.StalledUploadException("x", true, null)))
                .as("retried from the file").isEqualTo(S3ErrorKind.TRANSIENT);
    }

    @Test
    void anAttemptWhoseBodyIsNeverTakenIsAbortedAfterTheRequestTimeoutNotTheStall() {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        watchdog.watch(body, request);

        // a connection from a busy pool, or a server slow to answer Expect: 100-continue
        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() * 2)).isZero();
        assertThat(watchdog.abortOverdue(System.nanoTime() + ANSWER.toNanos() + SECOND)).isOne();
        assertThatThrownBy(() -> body.failure(SdkClientException.create("aborted")))
                .hasMessageContaining("no byte of the body was taken within 300 s (s3tiered.request.timeout)")
                .satisfies(e -> assertThat(((UploadBodyWatchdog.StalledUploadException) e).serverStopped())
                        .as("a wait for a pooled connection can explain it").isFalse());
    }

    @Test
    void anAnswerThatDoesNotComeAfterTheWholeBodyIsBoundedByTheRequestTimeout() throws IOException {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        watchdog.watch(body, request);
        sent(body, 1000).readAllBytes();

        // bytes still in socket buffers drain meanwhile: the stall bound does not apply
        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() * 2)).isZero();
        assertThat(watchdog.abortOverdue(System.nanoTime() + ANSWER.toNanos() + SECOND)).isOne();
        assertThatThrownBy(() -> body.failure(SdkClientException.create("aborted")))
                .hasMessageContaining("no answer within 300 s (s3tiered.request.timeout) after the whole body (1000 bytes) was sent");
    }

    @Test
    void onlyTheStreamTheHttpClientSendsFromCounts() throws IOException {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        HttpExecuteRequest put = HttpExecuteRequest.builder()
                .request(SdkHttpFullRequest.builder().method(SdkHttpMethod.PUT).uri(URI.create("http://127.0.0.1:1/b/k"))
                        .putHeader("Content-Length", "1000").build())
                .contentStreamProvider(() -> new ByteArrayInputStream(new byte[1000])).build();
        put.contentStreamProvider().orElseThrow().newStream().readAllBytes(); // a signer's pass, before the call
        HttpExecuteRequest tracked = body.tracked(put);
        watchdog.watch(body, request);

        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() * 2)).as("nothing taken yet").isZero();
        tracked.contentStreamProvider().orElseThrow().newStream().read(new byte[10]); // the send
        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() + SECOND))
                .as("the send stalled after 10 bytes, not 'all sent'").isOne();
        assertThatThrownBy(() -> body.failure(SdkClientException.create("aborted")))
                .hasMessageContaining("after 10 of 1000 bytes");
    }

    @Test
    void anAnswerOfS3ThatCameAsTheAbortWasDecidedStands() throws IOException {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        watchdog.watch(body, request);
        sent(body, 1000).read(new byte[10]);
        assertThat(watchdog.abortOverdue(System.nanoTime() + STALL.toNanos() + SECOND)).isOne();

        RuntimeException denied = software.amazon.awssdk.services.s3.model.S3Exception.builder().statusCode(403)
                .message("Access Denied").build();
        assertThatThrownBy(() -> body.failure(denied)).isSameAs(denied);
    }

    @Test
    void anAttemptThatEndedIsNeverAborted() throws IOException {
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        Runnable unwatch = watchdog.watch(body, request);
        sent(body, 1000).read(new byte[10]);
        unwatch.run();

        assertThat(watchdog.abortOverdue(System.nanoTime() + ANSWER.toNanos() * 2)).isZero();
        assertThat(aborts).hasValue(0);
        RuntimeException failure = SdkClientException.create("a 500 of its own");
        assertThatThrownBy(() -> body.failure(failure)).isSameAs(failure);
    }

    @Test
    void theTimerAbortsARequestBlockedInItsCallThroughTheHttpClient() throws Exception {
        CountDownLatch aborted = new CountDownLatch(1);
        SdkHttpClient server = new SdkHttpClient() {
            @Override
            public ExecutableHttpRequest prepareRequest(HttpExecuteRequest r) {
                return new ExecutableHttpRequest() {
                    @Override
                    public HttpExecuteResponse call() throws IOException {
                        try {
                            // a socket write blocked on a server that stopped reading
                            if (!aborted.await(30, TimeUnit.SECONDS)) {
                                throw new IOException("not aborted");
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        throw new IOException("Socket closed");
                    }

                    @Override
                    public void abort() {
                        aborted.countDown();
                    }
                };
            }

            @Override
            public void close() {}
        };
        AbortableRequests http = new AbortableRequests(server,
                new UploadBodyWatchdog(Duration.ofMillis(200), Duration.ofMillis(300)));
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body("PutObject s3://b/k");
        HttpExecuteRequest put = HttpExecuteRequest.builder().request(SdkHttpFullRequest.builder().method(SdkHttpMethod.PUT)
                .uri(URI.create("http://127.0.0.1:1/b/k")).build()).build();
        long start = System.nanoTime();
        try (Cancellation.Registration sending = http.sendingBody(body)) {
            assertThatThrownBy(() -> http.prepareRequest(put).call()).hasMessage("Socket closed");
        } finally {
            http.close();
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(20));
        assertThatThrownBy(() -> body.failure(SdkClientException.create("x")))
                .hasMessageContaining("no byte of the body was taken within 300 ms");
    }
}
