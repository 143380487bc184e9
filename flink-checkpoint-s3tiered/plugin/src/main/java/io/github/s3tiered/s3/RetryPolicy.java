package io.github.s3tiered.s3;

import java.time.Duration;

/**
 * Exponential backoff with full jitter. Throttling has its own retry budget and delays, so a
 * throttled burst cannot use up the attempts meant for other errors (nor the reverse).
 */
public record RetryPolicy(
        int maxAttempts,
        Duration baseDelay,
        Duration maxDelay,
        int maxThrottleRetries,
        Duration throttleBaseDelay,
        Duration throttleMaxDelay) {

    public RetryPolicy {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1");
        }
        if (maxThrottleRetries < 0) {
            throw new IllegalArgumentException("maxThrottleRetries must not be negative");
        }
    }

    /** Upper bound of the backoff before retry number {@code retry} (1-based). */
    static long capMillis(Duration base, Duration max, int retry) {
        long b = Math.max(1, base.toMillis());
        int shift = Math.min(retry - 1, 30);
        long exp = b << shift;
        return Math.min(max.toMillis(), exp < 0 ? Long.MAX_VALUE : exp);
    }
}
