package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/** Retry decisions, budgets and backoff, with scripted failures instead of a server. */
class RetrierTest {

    private final List<Long> sleeps = new ArrayList<>();
    private final S3Statistics stats = new S3Statistics();
    private final RetryPolicy policy = new RetryPolicy(3, Duration.ofMillis(100), Duration.ofSeconds(1),
            4, Duration.ofMillis(500), Duration.ofSeconds(2));
    private final Retrier retrier = new Retrier(policy, "http://s3.test", stats, (millis, cancellation, request) -> sleeps.add(millis));
    private final S3Request request = S3Request.ofUpload("UploadPart", "bucket", "dir/key", "upload-7", 3);

    static S3Exception s3Error(int status, String code) {
        return (S3Exception) S3Exception.builder().statusCode(status)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).errorMessage(code + " message").build())
                .message(code + " message").build();
    }

    /** Fails with the scripted errors in order, then succeeds. */
    private Retrier.Attempt<String> scripted(Exception... failures) {
        Deque<Exception> queue = new ArrayDeque<>(List.of(failures));
        return () -> {
            Exception next = queue.poll();
            if (next != null) {
                throw next;
            }
            return "ok";
        };
    }

    @Test
    void aSocketTimeoutIsRetriedWhileAnInterruptEndsTheCall() throws IOException {
        // both are InterruptedIOExceptions; only one of them means the thread was interrupted
        assertThat(retrier.call(request, scripted(new SocketTimeoutException("Read timed out"),
                SdkClientException.create("Unable to execute HTTP request: connect timed out",
                        new SocketTimeoutException("connect timed out"))))).isEqualTo("ok");
        assertThat(stats.retries.sum()).isEqualTo(2);
        assertThat(Thread.currentThread().isInterrupted()).isFalse();

        assertThatThrownBy(() -> retrier.call(request, scripted(new InterruptedIOException("interrupted"))))
                .isInstanceOf(InterruptedIOException.class)
                .hasMessageContaining("Interrupted during S3");
        assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(stats.retries.sum()).isEqualTo(2);
    }

    @Test
    void transientErrorsAreRetriedUpToMaxAttempts() throws IOException {
        assertThat(retrier.call(request, scripted(s3Error(500, "InternalError"), s3Error(503, "ServiceUnavailable"))))
                .isEqualTo("ok");
        assertThat(stats.retries.sum()).isEqualTo(2);

        assertThatThrownBy(() -> retrier.call(request,
                scripted(s3Error(500, "InternalError"), s3Error(502, "BadGateway"), s3Error(500, "InternalError"))))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("after 3 attempts");
    }

    @Test
    void throttlingHasItsOwnBudgetAndDoesNotUseUpTheOthers() throws IOException {
        // 4 throttles plus 2 transient failures: more failures than maxAttempts, still a success.
        assertThat(retrier.call(request, scripted(
                s3Error(503, "SlowDown"), s3Error(500, "InternalError"), s3Error(429, "TooManyRequests"),
                s3Error(503, "SlowDown"), s3Error(500, "InternalError"), s3Error(503, "SlowDown"))))
                .isEqualTo("ok");
        assertThat(stats.throttledRetries.sum()).isEqualTo(4);
        assertThat(stats.retries.sum()).isEqualTo(2);

        assertThatThrownBy(() -> retrier.call(request, scripted(
                s3Error(503, "SlowDown"), s3Error(503, "SlowDown"), s3Error(503, "SlowDown"),
                s3Error(503, "SlowDown"), s3Error(503, "SlowDown"))))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 503 SlowDown");
    }

    @Test
    void otherClientErrorsAreNeverRetried() {
        for (S3Exception e : List.of(s3Error(403, "AccessDenied"), s3Error(404, "NoSuchBucket"), s3Error(400, "InvalidArgument"))) {
            sleeps.clear();
            assertThatThrownBy(() -> retrier.call(request, scripted(e))).isInstanceOf(S3OperationException.class);
            assertThat(sleeps).isEmpty();
        }
        assertThat(stats.retries.sum()).isZero();
    }

    @Test
    void brokenConnectionsAreTransient() throws IOException {
        SdkClientException refused = SdkClientException.builder().message("Unable to execute HTTP request")
                .cause(new ConnectException("Connection refused")).build();
        assertThat(retrier.call(request, scripted(refused))).isEqualTo("ok");
        assertThat(S3ErrorKind.classify(refused)).isEqualTo(S3ErrorKind.TRANSIENT);
    }

    @Test
    void backoffIsExponentialWithJitterAndCapped() throws IOException {
        retrier.call(request, scripted(s3Error(500, "InternalError"), s3Error(500, "InternalError")));
        assertThat(sleeps.get(0)).isBetween(0L, 100L);
        assertThat(sleeps.get(1)).isBetween(0L, 200L);
        assertThat(RetryPolicy.capMillis(Duration.ofMillis(100), Duration.ofSeconds(1), 10)).isEqualTo(1000);
        assertThat(RetryPolicy.capMillis(Duration.ofMillis(500), Duration.ofSeconds(2), 2)).isEqualTo(1000);
        assertThat(RetryPolicy.capMillis(Duration.ofMillis(100), Duration.ofSeconds(5), 60)).isEqualTo(5000);
    }

    @Test
    void theFinalErrorNamesOperationBucketKeyUploadPartAndStatus() {
        assertThatThrownBy(() -> retrier.call(request, scripted(s3Error(403, "AccessDenied"))))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("UploadPart s3://bucket/dir/key")
                .hasMessageContaining("upload id upload-7, part 3")
                .hasMessageContaining("http://s3.test")
                .hasMessageContaining("HTTP 403 AccessDenied")
                .satisfies(e -> {
                    S3OperationException s3e = (S3OperationException) e;
                    assertThat(s3e.statusCode()).isEqualTo(403);
                    assertThat(s3e.errorCode()).isEqualTo("AccessDenied");
                });
    }

    @Test
    void aFinalFailureAfterOtherKindsOfFaultsNamesThemToo() {
        SocketTimeoutException timeout = new SocketTimeoutException("Read timed out");
        assertThatThrownBy(() -> retrier.call(request, scripted(
                s3Error(503, "SlowDown"), s3Error(503, "SlowDown"), timeout, s3Error(403, "AccessDenied"))))
                .isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 403 AccessDenied after 4 attempts, 2 of them throttled")
                .hasMessageContaining("earlier attempts failed otherwise: HTTP 503 SlowDown; SocketTimeoutException: Read timed out")
                .satisfies(e -> assertThat(e.getSuppressed()).hasSize(2).contains(timeout));

        // the last kind is not repeated among the earlier ones
        assertThatThrownBy(() -> retrier.call(request, scripted(
                s3Error(500, "InternalError"), s3Error(500, "InternalError"), s3Error(500, "InternalError"))))
                .hasMessageContaining("HTTP 500 InternalError after 3 attempts (")
                .hasMessageNotContaining("earlier attempts")
                .satisfies(e -> assertThat(e.getSuppressed()).isEmpty());
    }

    @Test
    void aCredentialsLookupThatFailsOnceIsMadeAgain() throws IOException {
        // the instance metadata service timing out at a failover: the chain's message is that of no credentials
        SdkClientException lookupFailed = SdkClientException.builder()
                .message("Unable to load credentials from any of the providers in the chain").build();
        assertThat(retrier.call(request, scripted(lookupFailed))).isEqualTo("ok");
        assertThat(sleeps).singleElement().satisfies(d -> assertThat(d).isBetween(500L, 1000L));
    }

    @Test
    void failuresFixedInTheConfigurationNameTheOptions() {
        SdkClientException noCredentials = SdkClientException.builder()
                .message("Unable to load credentials from any of the providers in the chain").build();
        assertThatThrownBy(() -> retrier.call(request, scripted(noCredentials, noCredentials, noCredentials)))
                .hasMessageContaining("s3tiered.access-key").hasMessageContaining("default chain")
                .hasMessageContaining("after 3 attempts");
        assertThat(sleeps).as("looked up again about a second, then two, later").hasSize(2);
        assertThat(sleeps.get(0)).isBetween(500L, 1000L);
        assertThat(sleeps.get(1)).isBetween(1000L, 2000L);
        sleeps.clear();
        S3Exception redirect = (S3Exception) S3Exception.builder().statusCode(301)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("PermanentRedirect")
                        .sdkHttpResponse(software.amazon.awssdk.http.SdkHttpResponse.builder().statusCode(301)
                                .putHeader("x-amz-bucket-region", "eu-central-1").build()).build())
                .build();
        assertThatThrownBy(() -> retrier.call(request, scripted(redirect)))
                .hasMessageContaining("HTTP 301").hasMessageContaining("set s3tiered.region (or s3.region) to eu-central-1");
        assertThatThrownBy(() -> retrier.call(request, scripted(s3Error(403, "AccessDenied"))))
                .hasMessageNotContaining("region").hasMessageNotContaining("credentials")
                .hasMessageContaining("s3:ListBucket").hasMessageContaining("(UploadPart needs s3:PutObject)")
                .hasMessageContaining("kms:Decrypt");
        assertThatThrownBy(() -> retrier.call(S3Request.of("ListMultipartUploads", "bucket", "dir/key"),
                scripted(s3Error(403, "AccessDenied")))).hasMessageContaining("(ListMultipartUploads needs s3:ListBucketMultipartUploads)");
        assertThatThrownBy(() -> retrier.call(request, scripted(s3Error(404, "NoSuchBucket"))))
                .hasMessageContaining("No such bucket").hasMessageContaining("s3tiered.endpoint");
    }

    @Test
    void aRangedGetNamesItsRange() {
        assertThat(S3Request.ofRange("GetObject", "b", "k", 8, 15)).hasToString("GetObject s3://b/k (bytes=8-15)");
        assertThat(S3Request.ofRange("GetObject", "b", "k", 8, -1)).hasToString("GetObject s3://b/k (bytes=8-)");
        assertThat(S3Request.ofRange("GetObject", "b", "k", 0, -1)).hasToString("GetObject s3://b/k");
    }
}
