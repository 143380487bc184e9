package io.github.s3tiered.fs;

import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.tier.ObjectKey;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Uploads that failed after their request went out (a timeout, a 5xx, a cancel: S3 may complete
 * them all the same, their answer lost), of objects deleted since. S3 may create such an object
 * after the delete: a failed checkpoint's {@code _metadata} would then make an aborted checkpoint
 * look complete, any other file would stay as an orphan. Once S3 can no longer complete the
 * upload, the object is removed again, if it is that upload's: its size and the CRC32C it
 * recorded, so that a later write of the path is never taken.
 *
 * <p>Invariant: an entry is added before the failed stream reports its failure (its caller deletes
 * the path only after), and goes when a delete of its key (or of a prefix above it) schedules the
 * check, or when its deadline passed.
 */
final class LateUploads {

    private static final Logger LOG = LoggerFactory.getLogger(LateUploads.class);
    /** Above this many keys, a new entry purges the expired ones (a failed checkpoint's files are never deleted one by one). */
    static final int PURGE_ABOVE = 1024;

    /** One upload in doubt: what the object would be, and until when S3 may complete it. */
    record InDoubt(long size, int crc32c, long untilNanos) {}

    private final Map<ObjectKey, List<InDoubt>> inDoubt = new ConcurrentHashMap<>();
    private final S3TieredRuntime runtime;
    private final ScheduledExecutorService scheduler;

    LateUploads(S3TieredRuntime runtime, ScheduledExecutorService scheduler) {
        this.runtime = runtime;
        this.scheduler = scheduler;
    }

    /** An upload of {@code bucket/key} ({@code size} bytes, {@code crc32c}) failed with its request out. */
    void failed(String bucket, String key, long size, int crc32c, long untilNanos) {
        if (inDoubt.size() > PURGE_ABOVE) {
            long now = System.nanoTime();
            inDoubt.entrySet().removeIf(e -> e.getValue().stream().allMatch(w -> now - w.untilNanos() >= 0));
        }
        inDoubt.compute(new ObjectKey(bucket, key), (k, list) -> {
            List<InDoubt> next = list == null ? new ArrayList<>() : new ArrayList<>(list);
            next.add(new InDoubt(size, crc32c, untilNanos));
            return List.copyOf(next);
        });
    }

    /**
     * {@code bucket/key} was deleted, and with {@code childPrefix} (not null) everything under it:
     * an upload in doubt of a deleted key is checked for once S3 can no longer complete it.
     */
    void deleted(String bucket, String key, String childPrefix) {
        if (inDoubt.isEmpty()) {
            return;
        }
        for (ObjectKey k : List.copyOf(inDoubt.keySet())) {
            if (!k.bucket().equals(bucket) || !(k.key().equals(key) || childPrefix != null && k.key().startsWith(childPrefix))) {
                continue;
            }
            List<InDoubt> writes = inDoubt.remove(k);
            if (writes == null) {
                continue;
            }
            long now = System.nanoTime();
            long last = writes.stream().mapToLong(InDoubt::untilNanos).max().orElse(now);
            if (now - last >= 0) {
                continue; // S3 completed or dropped them before the delete, which took what it created
            }
            try {
                scheduler.schedule(() -> check(k, writes), last - now, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException closing) {
                LOG.warn("Not checking s3://{}/{} for an upload S3 may complete after its delete: the file system is"
                        + " closing (the inspector's orphans lists such a file)", k.bucket(), k.key());
            }
        }
    }

    /** Keys with uploads in doubt (tests). */
    int size() {
        return inDoubt.size();
    }

    private void check(ObjectKey k, List<InDoubt> writes) {
        try {
            runtime.transferPool().execute(() -> removeIfLate(k, writes));
        } catch (RejectedExecutionException closing) {
            LOG.warn("Not checking s3://{}/{} for an upload S3 may have completed after its delete: the file system is"
                    + " closing", k.bucket(), k.key());
        }
    }

    private void removeIfLate(ObjectKey k, List<InDoubt> writes) {
        try {
            Optional<ObjectInfo> now = runtime.store().head(k.bucket(), k.key());
            if (now.isPresent() && writes.stream().anyMatch(w -> w.size() == now.get().size()
                    && now.get().crc32c() != null && now.get().crc32c() == w.crc32c())) {
                runtime.store().deleteObject(k.bucket(), k.key());
                runtime.tier().drop(k.bucket(), k.key());
                LOG.warn("Deleted s3://{}/{} again: an upload of it whose answer was lost was completed by S3 after the"
                        + " object had been deleted", k.bucket(), k.key());
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not check s3://{}/{} for an upload S3 may have completed after its delete (the inspector's"
                    + " orphans lists such a file): {}", k.bucket(), k.key(), e.toString());
        }
    }
}
