package io.github.s3tiered.s3;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.util.concurrent.ThreadLocalRandom;

/** Runs S3 requests under a {@link RetryPolicy} and turns final failures into IOExceptions. */
public final class Retrier {

    private static final Logger LOG = LoggerFactory.getLogger(Retrier.class);

    /** One attempt of a request. */
    @FunctionalInterface
    public interface Attempt<T> {
        T run() throws Exception;
    }

    /** Waits between attempts, returning early when the cancellation is set; replaced in tests. */
    @FunctionalInterface
    public interface Sleeper {
        void sleep(long millis, Cancellation cancellation, S3Request request) throws InterruptedException, IOException;
    }

    private final RetryPolicy policy;
    private final String endpoint;
    private final S3Statistics stats;
    private final Sleeper sleeper;

    public Retrier(RetryPolicy policy, String endpoint, S3Statistics stats) {
        this(policy, endpoint, stats, (millis, cancellation, request) -> cancellation.sleep(millis, request));
    }

    public Retrier(RetryPolicy policy, String endpoint, S3Statistics stats, Sleeper sleeper) {
        this.policy = policy;
        this.endpoint = endpoint;
        this.stats = stats;
        this.sleeper = sleeper;
    }

    public <T> T call(S3Request request, Attempt<T> attempt) throws IOException {
        return call(request, Cancellation.NONE, attempt);
    }

    /**
     * Runs the attempt until it succeeds or a budget is spent. Throttling (503 SlowDown, 429) and
     * other transient failures each have their own budget, so neither can use up the other's.
     * No attempt starts once {@code cancellation} is set, and a backoff wait ends at once.
     */
    public <T> T call(S3Request request, Cancellation cancellation, Attempt<T> attempt) throws IOException {
        int failures = 0;
        int throttles = 0;
        int credentialLookups = 0;
        // the first failure of each other kind: a request that was throttled, then timed out, then
        // refused, must not show only the refusal (the throttling is what an operator can act on)
        java.util.Map<String, Exception> earlier = new java.util.LinkedHashMap<>();
        while (true) {
            cancellation.check(request);
            cancellation.active();
            try {
                return attempt.run();
            } catch (Exception e) {
                if (isInterruption(e)) {
                    Thread.currentThread().interrupt();
                    throw interrupted(request, e);
                }
                if (e instanceof S3OperationException || e instanceof Cancellation.CancelledException) {
                    throw (IOException) e;
                }
                // a request body stopped by the cancellation fails inside the HTTP client: not a fault to retry
                cancellation.check(request);
                S3ErrorKind kind = S3ErrorKind.classify(e);
                long delay;
                if (kind == S3ErrorKind.THROTTLED && throttles < policy.maxThrottleRetries()) {
                    throttles++;
                    stats.throttledRetries.increment();
                    delay = jitter(RetryPolicy.capMillis(policy.throttleBaseDelay(), policy.throttleMaxDelay(), throttles));
                } else if (kind == S3ErrorKind.TRANSIENT && failures + 1 < policy.maxAttempts()) {
                    failures++;
                    stats.retries.increment();
                    delay = jitter(RetryPolicy.capMillis(policy.baseDelay(), policy.maxDelay(), failures));
                } else if (S3ErrorKind.isCredentialsLookupFailure(e) && credentialLookups + 1 < CREDENTIALS_LOOKUPS) {
                    // The SDK's chain says the same whether a host has no credentials or its instance
                    // metadata service or STS did not answer in time (busy at a failover's restores):
                    // a few lookups a second apart, then the error
                    credentialLookups++;
                    stats.retries.increment();
                    long base = CREDENTIALS_LOOKUP_DELAY_MILLIS * credentialLookups;
                    delay = base / 2 + jitter(base / 2); // not every thread of the host at once
                } else {
                    earlier.remove(signature(kind, e));
                    throw new S3OperationException(request, endpoint, failures + throttles + credentialLookups + 1,
                            throttles + (kind == S3ErrorKind.THROTTLED ? 1 : 0), e, earlier.values());
                }
                if (earlier.size() < MAX_EARLIER_CAUSES) {
                    earlier.putIfAbsent(signature(kind, e), e);
                }
                LOG.debug("Retrying S3 {} in {} ms after {}: {}", request, delay, kind, e.toString());
                if (e instanceof UploadBodyWatchdog.StalledUploadException stalled) {
                    if (stalled.serverStopped()) {
                        cancellation.stalled(); // S3 stopped taking the body, or answering
                    }
                } else {
                    cancellation.active(); // S3 answered: a backoff is no stall
                }
                try {
                    sleeper.sleep(delay, cancellation, request);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw interrupted(request, ie);
                }
            }
        }
    }

    private static final int MAX_EARLIER_CAUSES = 4;
    /** Lookups of credentials, with a request's first: a host without any pays 3 s for them. */
    static final int CREDENTIALS_LOOKUPS = 3;
    static final long CREDENTIALS_LOOKUP_DELAY_MILLIS = 1000;

    /** What tells two failures apart for the final error: their kind, HTTP status and exception class. */
    private static String signature(S3ErrorKind kind, Exception e) {
        int status = e instanceof software.amazon.awssdk.core.exception.SdkServiceException se ? se.statusCode() : -1;
        return kind + "/" + status + "/" + e.getClass().getName();
    }

    /**
     * An interrupt of this thread, as opposed to a timeout: {@code SocketTimeoutException} and the
     * HTTP client's connect timeout are {@code InterruptedIOException}s too, and must be retried.
     */
    public static boolean isInterruption(Exception e) {
        return e instanceof InterruptedException
                || e instanceof ClosedByInterruptException
                || e.getClass() == InterruptedIOException.class
                || (e instanceof InterruptedIOException && Thread.currentThread().isInterrupted())
                || isSdkInterruption(e);
    }

    /**
     * The SDK's refusal of a request on an interrupted thread ("Thread was interrupted"): an
     * {@code AbortedException} caused by its {@code SdkInterruptedException}, after it has taken
     * the thread's interrupt (which the caller sets again).
     */
    private static boolean isSdkInterruption(Exception e) {
        if (!(e instanceof software.amazon.awssdk.core.exception.AbortedException)) {
            return false;
        }
        if (Thread.currentThread().isInterrupted()) {
            return true;
        }
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            if (c instanceof InterruptedException) {
                return true;
            }
        }
        return false;
    }

    private static long jitter(long cap) {
        return ThreadLocalRandom.current().nextLong(cap + 1);
    }

    private static InterruptedIOException interrupted(S3Request request, Exception cause) {
        InterruptedIOException e = new InterruptedIOException("Interrupted during S3 " + request);
        e.initCause(cause);
        return e;
    }
}
