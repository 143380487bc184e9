package io.github.s3tiered.s3;

import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;

import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The SDK's HTTP client, with the request each thread is running abortable from another thread.
 * A request body the server stopped reading blocks its socket write, which no socket timeout
 * ends (Java's socket timeout covers reads), and the body is not read again until the write
 * moves, so a cancellation checked at the body's next read never comes: only the attempt timeout
 * ({@code s3tiered.request.timeout}, minutes) would end it, holding the cancelled upload's thread
 * and connection. Aborting closes the connection, and the blocked write fails at once.
 *
 * <p>Invariant: {@link #running} maps a thread to the request it is inside {@code call()} of, with
 * the cancellation it was sent under, and to nothing else; the response body of a GET is read after
 * {@code call()} and has its own abort. A cancellation aborts only a request sent under it: the
 * thread that cancels may run its abort late, when the pooled thread already sends another stream's
 * request.
 */
final class AbortableRequests implements SdkHttpClient {

    private final SdkHttpClient delegate;
    private final ConcurrentHashMap<Thread, Running> running = new ConcurrentHashMap<>();
    /**
     * The cancellation each thread's next request is sent under ({@link #watch}): one that came
     * before the request was in {@link #running} (while the SDK signed it) found nothing to abort,
     * so {@code call()} looks at it once the request is there.
     */
    private final ThreadLocal<Cancellation> watched = new ThreadLocal<>();
    /** The upload body each thread's next request sends ({@link #sendingBody}), watched for progress. */
    private final ThreadLocal<UploadBodyWatchdog.UploadBody> bodies = new ThreadLocal<>();
    private final UploadBodyWatchdog watchdog;

    AbortableRequests(SdkHttpClient delegate, UploadBodyWatchdog watchdog) {
        this.delegate = delegate;
        this.watchdog = watchdog;
    }

    @Override
    public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
        UploadBodyWatchdog.UploadBody body = bodies.get();
        ExecutableHttpRequest prepared = delegate.prepareRequest(body != null ? body.tracked(request) : request);
        return new ExecutableHttpRequest() {
            @Override
            public HttpExecuteResponse call() throws IOException {
                Thread self = Thread.currentThread();
                Cancellation cancellation = watched.get();
                Running call = new Running(prepared, cancellation);
                running.put(self, call);
                Runnable unwatch = body != null ? watchdog.watch(body, prepared) : null;
                try {
                    if (cancellation != null) {
                        cancellation.check("the request, not sent,");
                    }
                    return prepared.call();
                } finally {
                    if (unwatch != null) {
                        unwatch.run();
                    }
                    running.remove(self, call);
                }
            }

            @Override
            public void abort() {
                prepared.abort();
            }
        };
    }

    /**
     * Until the registration is closed, {@code cancellation} aborts the request the calling thread
     * sends (or is sending, or awaits the answer of), also when it comes before the request is sent.
     */
    Cancellation.Registration watch(Cancellation cancellation) {
        Thread self = Thread.currentThread();
        Cancellation before = watched.get();
        watched.set(cancellation);
        Cancellation.Registration abort = cancellation.onCancel(() -> abortRunningOn(self, cancellation));
        return () -> {
            abort.close();
            watched.set(before);
        };
    }

    /**
     * Until the registration is closed, the requests the calling thread sends carry {@code body}:
     * the watchdog aborts one whose body stops moving or whose answer does not come.
     */
    Cancellation.Registration sendingBody(UploadBodyWatchdog.UploadBody body) {
        UploadBodyWatchdog.UploadBody before = bodies.get();
        bodies.set(body);
        return () -> bodies.set(before);
    }

    /** Aborts the request {@code thread} is sending or awaiting the answer of under {@code cancellation}, if any. */
    void abortRunningOn(Thread thread, Cancellation cancellation) {
        Running r = running.get(thread);
        if (r != null && r.cancellation == cancellation) {
            r.request.abort();
        }
    }

    /** A request inside its {@code call()}, and the cancellation it was sent under (null: none). */
    private record Running(ExecutableHttpRequest request, Cancellation cancellation) {}

    @Override
    public String clientName() {
        return delegate.clientName();
    }

    @Override
    public void close() {
        watchdog.close();
        delegate.close();
    }
}
