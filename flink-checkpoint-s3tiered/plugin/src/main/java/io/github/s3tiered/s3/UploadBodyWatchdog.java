package io.github.s3tiered.s3;

import software.amazon.awssdk.http.ExecutableHttpRequest;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Bounds an upload attempt (PutObject, UploadPart) by the progress of its body instead of by one
 * fixed time. A fixed attempt timeout fails every upload slower than its size over the timeout
 * (256 MiB in 5 minutes is 0.87 MiB/s) and retries it from byte 0, though it was moving; and no
 * socket timeout ends a body the server stopped reading, because Java's socket timeout covers
 * reads only, so a blocked write waited for the whole attempt timeout.
 *
 * <p>An attempt is aborted (closing its connection, which fails a blocked write at once) when:
 * <ul>
 *   <li>no byte of its body was taken within the request timeout of its start (a connection from
 *       the pool, connecting, {@code Expect: 100-continue}, each also bounded on its own);
 *   <li>the body started and no further byte was taken for the socket timeout;
 *   <li>the whole body was taken and no answer came within the request timeout.
 * </ul>
 * A byte "taken" is one the HTTP client read from the body to write it to its socket, so bytes
 * still in socket buffers count as sent: the answer's wait covers draining them, which the request
 * timeout (minutes) does for any buffer at any rate a live connection keeps.
 *
 * <p>Invariant: {@link #sending} holds each attempt between the start and the end of its HTTP
 * call, with the request the call runs, and an attempt is aborted only while it is there: the
 * abort is of that request, never of a later one on the same thread.
 */
final class UploadBodyWatchdog implements AutoCloseable {

    private static final long NONE = Long.MIN_VALUE;

    private final long stallNanos;
    private final long answerNanos;
    private final Duration stall;
    private final Duration answer;
    private final Map<UploadBody, ExecutableHttpRequest> sending = new ConcurrentHashMap<>();
    /** Started with the first upload: a client that only reads (the inspector) runs no thread. */
    private ScheduledExecutorService timer;
    private boolean closed;

    UploadBodyWatchdog(Duration stall, Duration answer) {
        this.stall = stall;
        this.answer = answer;
        this.stallNanos = stall.toNanos();
        this.answerNanos = answer.toNanos();
    }

    /** A new attempt's body: its what names the request and object in the error of an abort. */
    static UploadBody body(String what, long length) {
        return new UploadBody(what, length);
    }

    /** Watches {@code body} while {@code request} runs; the returned action ends the watch. */
    Runnable watch(UploadBody body, ExecutableHttpRequest request) {
        body.attemptStarted();
        sending.put(body, request);
        ensureTimer();
        return () -> sending.remove(body, request);
    }

    /** Aborts every attempt that is overdue now; the timer calls it. Returns how many it aborted. */
    int abortOverdue(long nowNanos) {
        int aborted = 0;
        for (Map.Entry<UploadBody, ExecutableHttpRequest> e : sending.entrySet()) {
            UploadBody body = e.getKey();
            String why = body.overdue(nowNanos, stallNanos, answerNanos, stall, answer);
            if (why != null && sending.remove(body, e.getValue())) {
                body.abortedBecause = why;
                try {
                    e.getValue().abort();
                } catch (RuntimeException failure) {
                    // the attempt ends anyway at its connection's next failure; keep watching the others
                }
                aborted++;
            }
        }
        return aborted;
    }

    private synchronized void ensureTimer() {
        if (timer != null || closed) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "s3tiered-upload-watchdog");
            t.setDaemon(true);
            return t;
        });
        // a tick a quarter of the stall: an abort comes at most 25 % after its bound
        long period = Math.max(TimeUnit.MILLISECONDS.toNanos(50), Math.min(TimeUnit.SECONDS.toNanos(1), stallNanos / 4));
        timer.scheduleWithFixedDelay(() -> abortOverdue(System.nanoTime()), period, period, TimeUnit.NANOSECONDS);
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (timer != null) {
            timer.shutdownNow();
        }
    }

    /**
     * One attempt's body as the HTTP client reads it. Its fields are written by the uploading
     * thread and read by the timer.
     */
    static final class UploadBody {
        private final String what;
        private final long length;
        private volatile long attemptStartNanos = NONE;
        private volatile long lastByteNanos = NONE;
        private volatile long allTakenNanos = NONE;
        private volatile long taken;
        private volatile String abortedBecause;

        private UploadBody(String what, long length) {
            this.what = what;
            this.length = length;
        }

        /**
         * The HTTP call began: what was read before it (a signer's pass over the payload) was not
         * sent.
         */
        void attemptStarted() {
            lastByteNanos = NONE;
            allTakenNanos = NONE;
            taken = 0;
            attemptStartNanos = System.nanoTime();
        }

        /** The body the SDK sends, each stream it opens counted from its start. */
        InputStream track(InputStream in) {
            return new FilterInputStream(in) {
                private long count;

                @Override
                public int read() throws IOException {
                    int b = super.read();
                    took(b < 0 ? 0 : 1, b < 0);
                    return b;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = super.read(b, off, len);
                    took(Math.max(n, 0), n < 0);
                    return n;
                }

                private void took(int n, boolean end) {
                    count += n;
                    long now = System.nanoTime();
                    if (n > 0) {
                        lastByteNanos = now;
                        taken = count;
                    }
                    if ((end || count >= length) && allTakenNanos == NONE) {
                        allTakenNanos = now;
                    }
                }
            };
        }

        /** Why the attempt is overdue at {@code now}, or null while it is within its bounds. */
        String overdue(long now, long stallNanos, long answerNanos, Duration stall, Duration answer) {
            long start = attemptStartNanos;
            if (start == NONE) {
                return null;
            }
            long all = allTakenNanos;
            if (all != NONE) {
                return now - all > answerNanos
                        ? "no answer within " + text(answer) + " (s3tiered.request.timeout) after the whole body ("
                                + length + " bytes) was sent"
                        : null;
            }
            long last = lastByteNanos;
            if (last == NONE) {
                return now - start > answerNanos
                        ? "no byte of the body was taken within " + text(answer) + " (s3tiered.request.timeout)"
                        : null;
            }
            return now - last > stallNanos
                    ? "the server took no byte of the body for " + text(stall) + " (s3tiered.socket.timeout) after "
                            + taken + " of " + length + " bytes"
                    : null;
        }

        private static String text(Duration d) {
            return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
        }

        /**
         * Rethrows {@code failure} of this attempt, or, when the watchdog aborted the attempt,
         * throws its reason instead (an {@link IOException}: retried as a transient failure).
         */
        IOException failure(RuntimeException failure) throws IOException {
            String why = abortedBecause;
            if (why == null) {
                throw failure;
            }
            throw new StalledUploadException(what + ": aborted, " + why, failure);
        }
    }

    /** An upload attempt the watchdog aborted; transient, so retried from the file. */
    static final class StalledUploadException extends IOException {
        StalledUploadException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
