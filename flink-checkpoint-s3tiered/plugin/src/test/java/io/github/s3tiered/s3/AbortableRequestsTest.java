package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpFullRequest;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpResponse;

import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A cancellation that comes while the SDK prepares a request (signing it, resolving credentials),
 * before the request is running and so before there is anything to abort, still stops it: the
 * request is never sent. A GET waiting for its answer would otherwise wait out the socket timeout.
 */
class AbortableRequestsTest {

    private final AtomicInteger sent = new AtomicInteger();

    private final SdkHttpClient server = new SdkHttpClient() {
        @Override
        public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
            return new ExecutableHttpRequest() {
                @Override
                public HttpExecuteResponse call() {
                    sent.incrementAndGet();
                    return HttpExecuteResponse.builder().response(SdkHttpResponse.builder().statusCode(200).build()).build();
                }

                @Override
                public void abort() {}
            };
        }

        @Override
        public void close() {}
    };

    private static HttpExecuteRequest get() {
        return HttpExecuteRequest.builder().request(SdkHttpFullRequest.builder().method(SdkHttpMethod.GET)
                .uri(URI.create("http://127.0.0.1:1/bucket/key")).build()).build();
    }

    @Test
    void aCancellationBeforeTheRequestRunsKeepsItFromBeingSent() throws Exception {
        AbortableRequests http = new AbortableRequests(server, new UploadBodyWatchdog(Duration.ofSeconds(1), Duration.ofSeconds(1)));
        Cancellation cancellation = new Cancellation();
        try (Cancellation.Registration watched = http.watch(cancellation)) {
            ExecutableHttpRequest prepared = http.prepareRequest(get()); // the SDK signs it meanwhile
            cancellation.cancel("the stream was closed");
            assertThatThrownBy(prepared::call).isInstanceOf(Cancellation.CancelledException.class)
                    .hasMessageContaining("the stream was closed");
        }
        assertThat(sent).as("requests sent").hasValue(0);
    }

    @Test
    void onceTheRegistrationIsClosedTheThreadsNextRequestIsSentWhateverBecameOfTheCancellation() throws Exception {
        AbortableRequests http = new AbortableRequests(server, new UploadBodyWatchdog(Duration.ofSeconds(1), Duration.ofSeconds(1)));
        Cancellation cancellation = new Cancellation();
        try (Cancellation.Registration watched = http.watch(cancellation)) {
            http.prepareRequest(get()).call();
        }
        cancellation.cancel("late");
        http.prepareRequest(get()).call(); // another stream's request on the same pooled thread
        assertThat(sent).hasValue(2);
    }

    @Test
    void aLateAbortOfOneCancellationLeavesTheRequestTheThreadSendsUnderAnother() throws Exception {
        java.util.concurrent.CountDownLatch inCall = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch aborted = new java.util.concurrent.CountDownLatch(1);
        SdkHttpClient blocking = new SdkHttpClient() {
            @Override
            public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
                return new ExecutableHttpRequest() {
                    @Override
                    public HttpExecuteResponse call() throws java.io.IOException {
                        inCall.countDown();
                        try {
                            if (aborted.await(2, java.util.concurrent.TimeUnit.SECONDS)) {
                                throw new java.io.IOException("aborted");
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return HttpExecuteResponse.builder().response(SdkHttpResponse.builder().statusCode(200).build()).build();
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
        AbortableRequests http = new AbortableRequests(blocking, new UploadBodyWatchdog(Duration.ofSeconds(1), Duration.ofSeconds(1)));
        Cancellation earlier = new Cancellation(); // the stream whose request this pooled thread sent before
        Cancellation current = new Cancellation();
        java.util.concurrent.CompletableFuture<Thread> sender = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CompletableFuture<Integer> status = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            sender.complete(Thread.currentThread());
            try (Cancellation.Registration watched = http.watch(current)) {
                return http.prepareRequest(get()).call().httpResponse().statusCode();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        inCall.await();

        http.abortRunningOn(sender.get(), earlier); // the earlier stream's cancel, run late
        assertThat(status.get()).as("the current request ran to its answer").isEqualTo(200);
        assertThat(aborted.getCount()).isOne();
    }
}
