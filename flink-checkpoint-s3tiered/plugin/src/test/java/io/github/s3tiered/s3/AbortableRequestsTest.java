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
}
