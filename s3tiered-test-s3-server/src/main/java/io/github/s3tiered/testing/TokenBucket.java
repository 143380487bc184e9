package io.github.s3tiered.testing;

/**
 * A token bucket in virtual-time form: {@link #reserve(long)} pays for bytes and says how long to
 * wait before sending them. An idle bucket holds at most {@link #BURST_NANOS} worth of tokens, so
 * the long-run rate never exceeds {@code bytesPerSecond} by more than that burst.
 */
final class TokenBucket {

    static final long BURST_NANOS = 50_000_000L;

    final long bytesPerSecond;
    private long emptyAt; // nanoTime at which all paid bytes are "sent"; guarded by this

    TokenBucket(long bytesPerSecond) {
        if (bytesPerSecond <= 0) {
            throw new IllegalArgumentException("rate must be positive: " + bytesPerSecond);
        }
        this.bytesPerSecond = bytesPerSecond;
        this.emptyAt = System.nanoTime() - BURST_NANOS;
    }

    /** Pays for {@code bytes}; returns the nanoseconds to wait before sending them (0 if none). */
    synchronized long reserve(long bytes) {
        long now = System.nanoTime();
        if (emptyAt - (now - BURST_NANOS) < 0) {
            emptyAt = now - BURST_NANOS;
        }
        emptyAt += (long) (bytes * 1e9 / bytesPerSecond);
        return Math.max(0, emptyAt - now);
    }
}
