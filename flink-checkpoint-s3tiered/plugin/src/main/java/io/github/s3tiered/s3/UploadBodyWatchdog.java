package io.github.s3tiered.s3;

import io.github.s3tiered.bridge.DaemonThreads;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.http.ContentStreamProvider;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;

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
 * A byte "taken" is one the HTTP client read from the body as it writes to its socket (the body as
 * sent, after the SDK's chunk encoding), so bytes still in socket buffers count as sent. Their
 * drain is part of the wait for the answer, whose first byte the HTTP client awaits with the
 * socket timeout: a link slower than the socket buffers over the socket timeout (4 MiB in 30 s,
 * 140 KB/s) fails there, as it did before.
 *
 * <p>Invariant: {@link #sending} holds each attempt between the start and the end of its HTTP
 * call, with the request the call runs; whoever removes it (the end of the call, or an abort)
 * owns its outcome, so an attempt whose call ended is not aborted, and the abort is of that
 * request, never of a later one on the same thread. (An abort decided in the instant between the
 * HTTP client's return and the end of the watch fails an attempt that had its answer: it is
 * retried, as any transient failure.)
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

    /** A new attempt's body; {@code what} names the request and object in the error of an abort. */
    static UploadBody body(String what) {
        return new UploadBody(what);
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
            Overdue why = body.overdue(nowNanos, stallNanos, answerNanos);
            // removed first: a call that ended meanwhile removed it itself, and its outcome stands
            if (why != null && sending.remove(body, e.getValue())) {
                body.abortedAs = why;
                body.abortedBecause = why.describe(body, stall, answer);
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
        // started by the first upload, often on a task's thread: nothing of its job's kept
        timer = Executors.newSingleThreadScheduledExecutor(
                DaemonThreads.named("s3tiered-upload-watchdog", UploadBodyWatchdog.class.getClassLoader()));
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

    /** Why an attempt was aborted. */
    enum Overdue {
        /** No byte of the body taken within the request timeout: maybe a wait for a pooled connection. */
        NOT_TAKEN,
        /** The body started, then no byte taken for the socket timeout: the server stopped reading. */
        BODY_STALLED,
        /** The whole body taken, no answer within the request timeout. */
        NO_ANSWER;

        String describe(UploadBody body, Duration stall, Duration answer) {
            return switch (this) {
                case NOT_TAKEN -> "no byte of the body was taken within " + text(answer) + " (s3tiered.request.timeout)";
                case BODY_STALLED -> "the server took no byte of the body for " + text(stall) + " (s3tiered.socket.timeout) after "
                        + body.taken + (body.length >= 0 ? " of " + body.length : "") + " bytes";
                case NO_ANSWER -> "no answer within " + text(answer) + " (s3tiered.request.timeout) after the whole body ("
                        + body.taken + " bytes) was sent";
            };
        }

        private static String text(Duration d) {
            return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
        }
    }

    /**
     * One attempt's body as the HTTP client reads it. Its fields are written by the uploading
     * thread and read by the timer.
     */
    static final class UploadBody {
        private final String what;
        /** The body's length as sent (its Content-Length), or -1 when not known. */
        private volatile long length = -1;
        private volatile long attemptStartNanos = NONE;
        private volatile long lastByteNanos = NONE;
        private volatile long allTakenNanos = NONE;
        private volatile long taken;
        private volatile String abortedBecause;
        private volatile Overdue abortedAs;

        private UploadBody(String what) {
            this.what = what;
        }

        /**
         * {@code request} with its body counted as the HTTP client reads it to send it: after the
         * SDK's own passes over the payload (signing, checksums), and in the small reads of the
         * socket writes, not in the SDK's chunks.
         */
        HttpExecuteRequest tracked(HttpExecuteRequest request) {
            if (request.contentStreamProvider().isEmpty()) {
                return request;
            }
            ContentStreamProvider original = request.contentStreamProvider().get();
            length = request.httpRequest().firstMatchingHeader("Content-Length").map(UploadBody::parseLength).orElse(-1L);
            HttpExecuteRequest.Builder b = HttpExecuteRequest.builder().request(request.httpRequest())
                    .contentStreamProvider(new ContentStreamProvider() {
                        @Override
                        public InputStream newStream() {
                            return track(original.newStream());
                        }

                        @Override
                        public String name() {
                            return original.name();
                        }
                    });
            request.metricCollector().ifPresent(b::metricCollector);
            return b.build();
        }

        private static long parseLength(String header) {
            try {
                return Long.parseLong(header.trim());
            } catch (NumberFormatException e) {
                return -1; // the body's end then tells when it is all taken
            }
        }

        /** The HTTP call began: nothing of the body is taken yet. */
        void attemptStarted() {
            lastByteNanos = NONE;
            allTakenNanos = NONE;
            taken = 0;
            attemptStartNanos = System.nanoTime();
        }

        /** The body the HTTP client sends, each stream it opens counted from its start. */
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
                    long l = length;
                    if ((end || (l >= 0 && count >= l)) && allTakenNanos == NONE) {
                        allTakenNanos = now;
                    }
                }
            };
        }

        /** Why the attempt is overdue at {@code now}, or null while it is within its bounds. */
        Overdue overdue(long now, long stallNanos, long answerNanos) {
            long start = attemptStartNanos;
            if (start == NONE) {
                return null;
            }
            long all = allTakenNanos;
            if (all != NONE) {
                return now - all > answerNanos ? Overdue.NO_ANSWER : null;
            }
            long last = lastByteNanos;
            if (last == NONE) {
                return now - start > answerNanos ? Overdue.NOT_TAKEN : null;
            }
            return now - last > stallNanos ? Overdue.BODY_STALLED : null;
        }

        /**
         * Rethrows {@code failure} of this attempt, or, when the watchdog aborted the attempt,
         * throws its reason instead (an {@link IOException}: retried as a transient failure). An
         * answer of S3 (a 403, a BadDigest) that came as the abort was decided stands as it is.
         */
        IOException failure(RuntimeException failure) throws IOException {
            String why = abortedBecause;
            Overdue as = abortedAs;
            if (why == null || as == null || failure instanceof SdkServiceException) {
                throw failure;
            }
            throw new StalledUploadException(what + ": aborted, " + why, as != Overdue.NOT_TAKEN, failure);
        }
    }

    /** An upload attempt the watchdog aborted; transient, so retried from the file. */
    static final class StalledUploadException extends IOException {
        private final boolean serverStopped;

        StalledUploadException(String message, boolean serverStopped, Throwable cause) {
            super(message, cause);
            this.serverStopped = serverStopped;
        }

        /**
         * Whether the server stopped taking the body or answering, rather than the body never
         * starting (which a wait for a pooled connection can explain).
         */
        boolean serverStopped() {
            return serverStopped;
        }
    }
}
