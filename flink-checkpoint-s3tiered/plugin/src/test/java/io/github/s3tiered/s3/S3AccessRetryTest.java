package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.junit.jupiter.api.Test;

import java.time.Duration;

/**
 * The retry budgets of {@link S3Access} over the in-memory store: throttling (503 SlowDown, 429)
 * and other failures are counted apart, so a throttled burst cannot use up the attempts meant for
 * errors, nor the reverse; the final error names the request.
 */
class S3AccessRetryTest {

    private static final RetryPolicy POLICY = new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2),
            10, Duration.ofMillis(1), Duration.ofMillis(2));

    private final S3Statistics stats = new S3Statistics();
    private final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    private final S3Access s3 = new S3Access(store, new Retrier(POLICY, store.endpointDescription(), stats), stats);

    @Test
    void throttlingDoesNotSpendTheErrorBudget() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        store.inject(FaultRule.on("HeadObject").attempts(1, 8).slowDown());
        store.inject(FaultRule.on("HeadObject").attempts(9, 10).internalError());
        assertThat(s3.head("b", "k")).isPresent();
        assertThat(store.calls("HeadObject")).hasSize(11);
        assertThat(stats.throttledRetries.sum()).isEqualTo(8);
        assertThat(stats.retries.sum()).isEqualTo(2);
    }

    @Test
    void errorsFailWithinTheirBudgetWhateverThrottlingLeft() {
        store.inject(FaultRule.on("HeadObject").internalError());
        assertThatThrownBy(() -> s3.head("b", "k"))
                .isInstanceOfSatisfying(S3OperationException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(500);
                    assertThat(e.errorCode()).isEqualTo("InternalError");
                })
                .hasMessageContaining("HeadObject s3://b/k").hasMessageContaining("in-memory S3")
                .hasMessageContaining("after 3 attempts");
        assertThat(store.calls("HeadObject")).hasSize(3);
        assertThat(stats.throttledRetries.sum()).isZero();
    }

    @Test
    void throttlingFailsWhenItsOwnBudgetIsSpent() {
        store.inject(FaultRule.on("HeadObject").tooManyRequests());
        assertThatThrownBy(() -> s3.head("b", "k")).isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 429").hasMessageContaining("after 11 attempts");
        assertThat(stats.throttledRetries.sum()).isEqualTo(10);
        assertThat(stats.retries.sum()).isZero();
    }

    @Test
    void aConnectionResetIsRetriedAndADenialIsNot() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        store.inject(FaultRule.on("HeadObject").keys("k").attempt(1).resetAfter(0));
        assertThat(s3.head("b", "k")).isPresent();
        assertThat(stats.retries.sum()).isEqualTo(1);

        store.inject(FaultRule.on("HeadObject").keys("denied").error(403, "AccessDenied"));
        assertThatThrownBy(() -> s3.head("b", "denied")).isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 403 AccessDenied").hasMessageNotContaining("attempts");
        assertThat(store.calls("HeadObject").stream().filter(c -> c.key().equals("denied"))).hasSize(1);
    }

    @Test
    void aCancelledViewStartsNoRequestAndOtherViewsAreUnaffected() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        Cancellation c = new Cancellation();
        S3Access view = s3.cancellable(c);
        c.cancel("test");
        assertThatThrownBy(() -> view.head("b", "k")).isInstanceOf(Cancellation.CancelledException.class)
                .hasMessageContaining("HeadObject s3://b/k").hasMessageContaining("test");
        assertThat(store.calls()).isEmpty();
        assertThat(s3.head("b", "k")).isPresent();
    }

    @Test
    void aCancelEndsTheBackoffWait() throws Exception {
        RetryPolicy slow = new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2), 10, Duration.ofSeconds(60),
                Duration.ofSeconds(60));
        Cancellation c = new Cancellation();
        S3Access view = new S3Access(store, new Retrier(slow, "s", stats), stats).cancellable(c);
        store.inject(FaultRule.on("HeadObject").slowDown());
        var waiting = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                view.head("b", "k");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        store.awaitCalls("HeadObject", 1, Duration.ofSeconds(10));
        Thread.sleep(50);
        c.cancel("closed");
        assertThatThrownBy(() -> waiting.get(20, java.util.concurrent.TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.calls("HeadObject")).hasSize(1);
    }
}
