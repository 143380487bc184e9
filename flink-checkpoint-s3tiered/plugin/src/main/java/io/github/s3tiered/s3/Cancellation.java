package io.github.s3tiered.s3;

import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Set once, from any thread, when the stream or batch that owns the requests is closed or
 * cancelled (Flink cancels through its {@code CloseableRegistry}, from another thread). Retries
 * stop waiting and no new request starts once it is set; a request already on the wire finishes
 * or fails on its own (its time is bounded by {@code s3tiered.request.timeout}).
 */
public final class Cancellation {

    /** For requests no one can cancel (metadata calls of the file system). */
    public static final Cancellation NONE = new Cancellation();

    private final CountDownLatch cancelled = new CountDownLatch(1);
    /**
     * When the work last showed life: an attempt began or waited out its backoff, a request body
     * was read. A waiter tells a stalled upload (a body the server stopped reading blocks its
     * socket write, with no timeout of its own, for up to the request timeout) from a slow one.
     */
    private volatile long lastActivityNanos = System.nanoTime();
    private volatile Cancellation activityAlsoOf;
    private volatile boolean stalled;
    private final Set<Runnable> onCancel = ConcurrentHashMap.newKeySet();
    private volatile String reason;

    /** Cancels; the first reason is kept. Returns true for the call that cancelled. */
    public boolean cancel(String why) {
        if (this == NONE) {
            throw new IllegalStateException("Cancellation.NONE cannot be cancelled");
        }
        synchronized (this) {
            if (reason != null) {
                return false;
            }
            reason = why;
        }
        cancelled.countDown();
        for (Runnable action : onCancel) {
            if (onCancel.remove(action)) { // whoever removes it runs it: exactly once
                action.run();
            }
        }
        return true;
    }

    /**
     * Runs {@code action} (such as aborting a response body that a read may be blocked on) when
     * cancelled, or at once when already cancelled, until the returned registration is closed.
     */
    public Registration onCancel(Runnable action) {
        if (this == NONE) {
            return () -> {};
        }
        onCancel.add(action);
        if (isCancelled() && onCancel.remove(action)) {
            action.run();
        }
        return () -> onCancel.remove(action);
    }

    /** Ends an {@link #onCancel} registration. */
    @FunctionalInterface
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    /** Records that the work showed life (see {@link #nanosSinceActivity}). */
    public void active() {
        if (this != NONE) {
            lastActivityNanos = System.nanoTime();
            Cancellation parent = activityAlsoOf;
            if (parent != null) {
                parent.active();
            }
        }
    }

    /**
     * Records that an attempt of the work was aborted for want of progress ({@link
     * UploadBodyWatchdog}): its connection took no byte for the socket timeout. A waiter stops
     * waiting for it; the retry that follows is life of the retries, not of S3.
     */
    public void stalled() {
        if (this != NONE) {
            stalled = true;
            Cancellation parent = activityAlsoOf;
            if (parent != null) {
                parent.stalled();
            }
        }
    }

    /** Whether an attempt of the work (or of a part of it) was aborted for want of progress. */
    public boolean hasStalled() {
        return stalled;
    }

    /** How long the work has shown no life. */
    public long nanosSinceActivity() {
        return System.nanoTime() - lastActivityNanos;
    }

    /** Passes this one's activity on to {@code parent} (the parts of an upload to the upload's). */
    public Cancellation activityAlsoOf(Cancellation parent) {
        this.activityAlsoOf = parent;
        return this;
    }

    public boolean isCancelled() {
        return reason != null;
    }

    /** Throws when cancelled, naming what is cancelled and why. */
    public void check(Object what) throws CancelledException {
        String r = reason;
        if (r != null) {
            throw new CancelledException(what + " cancelled: " + r);
        }
    }

    /** Waits up to {@code millis}; returns early, with an exception, when cancelled. */
    public void sleep(long millis, Object what) throws CancelledException, InterruptedException {
        if (cancelled.await(millis, TimeUnit.MILLISECONDS)) {
            check(what);
        }
    }

    /** The failure of an operation that was cancelled: no retry, no new request. */
    public static final class CancelledException extends IOException {
        public CancelledException(String message) {
            super(message);
        }
    }
}
