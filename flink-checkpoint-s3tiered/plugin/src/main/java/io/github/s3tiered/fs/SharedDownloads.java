package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.tier.ObjectKey;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Restore downloads of one object in this process, one at a time. The new subtasks of a rescaled
 * job restore from the same files of an old subtask (the one whose key groups two new ranges
 * share), and in one TaskManager they restore at once: the second waits for the first's download
 * and then takes the copy it left in the local tier, instead of downloading the same bytes again.
 * When the first download fails, is cancelled or leaves no copy (the tier off or full, the object
 * larger than the tier), the waiter downloads on its own; its own cancellation ends its wait at
 * once.
 *
 * <p>State: the download in flight per object, removed when it ends (by its owner only).
 */
final class SharedDownloads {

    private final ConcurrentHashMap<ObjectKey, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();
    /** Restores waiting for another's download (tests wait for one to be there). */
    private final AtomicInteger waiting = new AtomicInteger();

    /**
     * Runs {@code download} when no download of {@code key} is in flight in this process; else
     * waits for that one (or for {@code cancellation}) and then runs {@code afterOther}, which takes
     * the tier's copy or downloads.
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
            return started.whenComplete((ok, failure) -> {
                inFlight.remove(key, mine);
                mine.complete(null); // a waiter learns the outcome from the tier, not from here
            });
        }
        CompletableFuture<Void> waited = new CompletableFuture<>();
        waiting.incrementAndGet();
        Cancellation.Registration registration = cancellation.onCancel(() -> waited.completeExceptionally(
                new Cancellation.CancelledException("Waiting for another restore's download of s3://" + key.bucket() + "/"
                        + key.key() + " was cancelled")));
        other.whenComplete((ok, failure) -> waited.complete(null));
        return waited.whenComplete((ok, failure) -> {
            registration.close();
            waiting.decrementAndGet();
        }).thenCompose(ignored -> afterOther.get());
    }

    /** Restores of this process waiting for another's download. */
    int waiting() {
        return waiting.get();
    }
}
