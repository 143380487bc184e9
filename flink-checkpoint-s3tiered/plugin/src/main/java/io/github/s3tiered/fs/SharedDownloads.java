package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.tier.ObjectKey;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Downloads of one object in this process that keep a copy in the local tier, one at a time. The
 * new subtasks of a rescaled job restore from the same files of an old subtask (the one whose key
 * groups two new ranges share), and in one TaskManager they restore at once: the second waits for
 * the first's download and then takes the copy it left in the tier, instead of downloading the same
 * bytes again. This holds for a RocksDB restore's batch download ({@link #run}) and for a heap
 * restore's reads checked before they are served ({@link #call}). When the first download fails,
 * is cancelled or leaves no copy (the tier full, the object larger than it), the waiter downloads
 * on its own, without waiting again; its own cancellation (or its stream's close) ends its wait at
 * once.
 *
 * <p>State: the download in flight per object, removed when it ends (by its owner only, before its
 * waiters are told).
 */
final class SharedDownloads {

    /** A download or a read of the tier's copy, on the caller's thread. */
    @FunctionalInterface
    interface IoCall<T> {
        T call() throws IOException;
    }

    private final ConcurrentHashMap<ObjectKey, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();
    /** Callers waiting for another's download (tests wait for one to be there). */
    private final AtomicInteger waiting = new AtomicInteger();

    /**
     * Runs {@code download} when no download of {@code key} is in flight in this process; else
     * waits for that one (or for {@code cancellation}) and then runs {@code afterOther}, which takes
     * the tier's copy or downloads. Non-blocking: for a batch's transfers on the shared pool.
     */
    CompletableFuture<Void> run(ObjectKey key, Cancellation cancellation, Supplier<CompletableFuture<Void>> download,
            Supplier<CompletableFuture<Void>> afterOther) {
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> other = inFlight.putIfAbsent(key, mine);
        if (other == null) {
            CompletableFuture<Void> started;
            try {
                started = download.get();
            } catch (RuntimeException e) {
                started = CompletableFuture.failedFuture(e);
            }
            return started.whenComplete((ok, failure) -> end(key, mine));
        }
        return waitFor(other, key, cancellation).thenCompose(ignored -> afterOther.get());
    }

    /** As {@link #run}, blocking the caller's thread (a reader's): {@code cancellation} ends its wait. */
    <T> T call(ObjectKey key, Cancellation cancellation, IoCall<T> download, IoCall<T> afterOther) throws IOException {
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> other = inFlight.putIfAbsent(key, mine);
        if (other == null) {
            try {
                return download.call();
            } finally {
                end(key, mine);
            }
        }
        try {
            waitFor(other, key, cancellation).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Waiting for another read's download of s3://" + key.bucket() + "/"
                    + key.key() + " was interrupted");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
        return afterOther.call();
    }

    private void end(ObjectKey key, CompletableFuture<Void> mine) {
        inFlight.remove(key, mine);
        mine.complete(null); // a waiter learns the outcome from the tier, not from here
    }

    /** Completes when {@code other} ended, or exceptionally when {@code cancellation} comes first. */
    private CompletableFuture<Void> waitFor(CompletableFuture<Void> other, ObjectKey key, Cancellation cancellation) {
        CompletableFuture<Void> waited = new CompletableFuture<>();
        waiting.incrementAndGet();
        Cancellation.Registration registration = cancellation.onCancel(() -> waited.completeExceptionally(
                new Cancellation.CancelledException("Waiting for another download of s3://" + key.bucket() + "/"
                        + key.key() + " was cancelled")));
        other.whenComplete((ok, failure) -> waited.complete(null));
        return waited.whenComplete((ok, failure) -> {
            registration.close();
            waiting.decrementAndGet();
        });
    }

    /** Callers of this process waiting for another's download. */
    int waiting() {
        return waiting.get();
    }
}
