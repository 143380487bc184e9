package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The objects this process uploaded ahead of a checkpoint (RocksDB's SST files, right after
 * RocksDB wrote them), by content: length and SHA-256. A checkpoint stream with the same content
 * then refers to the object instead of uploading the bytes again. Each upload has a key of its own
 * ({@link PreUpload#objectName}), so an object is only ever this entry's: deleting one (a
 * withdrawal, Flink discarding a checkpoint) never takes another upload of the same bytes. Not so
 * for a lib jar of 0.2.0, which does not ask for that key: its uploads go to the content's key,
 * {@code <sha256>.sst}, one object for every upload of the same bytes (as that release had it).
 *
 * <p>Invariants:
 * <ul>
 *   <li>An entry is handed out for reuse at most once ({@link #takeForReuseOrClaim}). The one checkpoint
 *       that refers to the object then owns it: Flink deletes it with that checkpoint's state when
 *       the checkpoint is aborted or subsumed, so a second hand-out could point at a deleted
 *       object. A content seen again (an upload Flink repeats after a reuse veto or an aborted
 *       checkpoint) is simply uploaded again.
 *   <li>{@link Entry#durable} completes true only after S3 acknowledged the whole object; an entry
 *       whose upload failed completes false and is gone from the index.
 *   <li>An entry is reused only within the caller's window after its upload began: the
 *       storage's orphan removal keeps unreferenced pre-uploaded objects twice that long after
 *       S3's stamp, so an object handed out is never one it removed.
 *   <li>An entry is handed only to a stream of the job whose directory it was uploaded to: that
 *       job's checkpoints own it, and its orphan removal, or the deletion of its directory, would
 *       remove it while another job's checkpoints still referred to it. (Two jobs can hold the
 *       same SST file: one restored from the other's native savepoint.)
 *   <li>Content a checkpoint stream took (handed an entry, or uploading it itself) is claimed
 *       for checkpoints (remembered, bounded) from that moment: a pre-upload arriving meanwhile or
 *       later does not upload it again. In a burst of compaction output the checkpoint and the
 *       pre-uploader reach the same files at once, and both would otherwise load S3 with them.
 *       Taking or claiming is one step for the stream, as checking
 *       the claims and adding an entry is for a pre-upload: of the two, exactly one uploads
 *       (unless the stream gives up on a pre-upload that stalled: then
 *       both do, and the pre-upload's object is never handed out). A
 *       checkpoint's own upload that fails or is cancelled takes its claim back.
 * </ul>
 */
final class PreUploads {

    /** What identifies content: its length and its SHA-256, in hex. CRC32C alone is too weak. */
    record ContentId(long length, String sha256) {}

    /** An object uploaded, or being uploaded, ahead of a checkpoint. */
    static final class Entry {
        final ObjectPath object;
        /**
         * The window of the job that uploaded it: jobs of one TaskManager may have different ones
         * (the window follows each job's checkpoint interval), and one job's must not expire another's.
         */
        final long reuseWindowNanos;
        final CompletableFuture<Boolean> durable = new CompletableFuture<>();
        /**
         * System.nanoTime() just before its upload began. The window is measured from here, not
         * from the upload's end: S3 stamps the object no later than it received the upload's first
         * request, and the orphan removal goes by that stamp, so an upload slower than the window
         * must not stretch it.
         */
        final long startedNanos = System.nanoTime();
        /**
         * The upload's requests: never cancelled (a pre-upload runs to its end), but they show
         * whether it makes progress, for a checkpoint stream waiting for it.
         */
        final Cancellation upload = new Cancellation();

        Entry(ObjectPath object, long reuseWindowNanos) {
            this.object = object;
            this.reuseWindowNanos = reuseWindowNanos;
        }
    }

    private static final int MAX_ENTRIES = 100_000;
    private static final int MAX_CLAIMS = 10_000;

    private final Map<ContentId, Entry> entries = new ConcurrentHashMap<>();
    private final Map<ObjectPath, ContentId> byObject = new ConcurrentHashMap<>();
    private volatile long lastPruneNanos = System.nanoTime();
    private final Map<ContentId, Boolean> claimedByCheckpoints = new LinkedHashMap<>();
    /**
     * Uploads past their window that no checkpoint was handed: none can be any more, so their
     * RocksDB instance's close may still delete them ({@link #withdraw}). Bounded (oldest dropped:
     * those are left to the orphan removal). Guarded by {@link #claimedByCheckpoints}, as the
     * entries' arrival is: an expiry and a new entry for the same object are never interleaved.
     */
    private final Map<ObjectPath, Boolean> expiredUntaken = new LinkedHashMap<>();
    private static final int MAX_EXPIRED = 20_000;
    /**
     * Objects handed to a checkpoint stream that has neither referred to them nor given them back,
     * each with whether a withdrawal came meanwhile (its RocksDB instance closed): such a
     * withdrawal cannot delete an object a checkpoint may still refer to, so the stream does when
     * it gives the object back. Out of the index, the object would otherwise never be withdrawn
     * again. Guarded by {@link #claimedByCheckpoints}.
     */
    private final Map<ObjectPath, Boolean> takenUndecided = new java.util.HashMap<>();
    /**
     * The directories pre-uploads went to (bucket and key prefix): a checkpoint stream into one
     * of them hashes its bytes as they stream. Few (a job's {@code shared/} each), never pruned.
     */
    private final Set<ObjectPath> directories = ConcurrentHashMap.newKeySet();

    /** Whether any pre-upload is known: if not, a checkpoint stream need not hash its content. */
    boolean isEmpty() {
        return entries.isEmpty();
    }

    /**
     * Whether a stream to this object should hash its bytes while they stream: its directory has
     * received pre-uploads, so its content may be one of them at close; or it is a {@code shared/}
     * directory of this process's pre-uploads spelled with entropy (the job's {@code shared/}
     * with its entropy marker replaced by random characters, while the pre-uploads go to the one
     * without): else each such stream read its whole staging file again at close to hash it, on
     * the checkpoint's critical path.
     */
    boolean mayDeduplicate(ObjectPath target) {
        if (directories.isEmpty()) {
            return false;
        }
        ObjectPath dir = target.parent();
        return directories.contains(dir) || dir.key().equals("shared") || dir.key().endsWith("/shared");
    }

    /**
     * Registers an upload about to start; null when the content is already in the index or
     * claimed by a checkpoint stream (nothing to do then).
     */
    Entry begin(ContentId id, ObjectPath object, long reuseWindowNanos) {
        directories.add(object.parent());
        pruneExpired();
        if (entries.size() >= MAX_ENTRIES) {
            pruneOldest();
        }
        Entry e = new Entry(object, reuseWindowNanos);
        synchronized (claimedByCheckpoints) {
            if (claimedByCheckpoints.containsKey(id) || entries.putIfAbsent(id, e) != null) {
                return null;
            }
            byObject.put(object, id);
            expiredUntaken.remove(object); // the new entry says whether a checkpoint was handed it
        }
        return e;
    }

    void succeeded(ContentId id, Entry e) {
        e.durable.complete(true);
    }

    void failed(ContentId id, Entry e) {
        remove(id, e);
        e.durable.complete(false);
    }

    /**
     * For a checkpoint stream at close: the entry for this content uploaded to {@code directory}
     * (the stream's job's), removed from the index so that it is handed out once (see the
     * invariants), or null when there is none (the stream then uploads the content itself).
     * Either way the content is claimed for checkpoints: a later pre-upload of the same bytes
     * uploads nothing (see the invariants).
     */
    Entry takeForReuseOrClaim(ContentId id, ObjectPath directory) {
        synchronized (claimedByCheckpoints) {
            Entry e = entries.get(id);
            if (e != null && e.object.parent().equals(directory) && entries.remove(id, e)) {
                byObject.remove(e.object, id);
                takenUndecided.put(e.object, Boolean.FALSE);
            } else {
                e = null; // none, or another job's: this job's checkpoint uploads the bytes itself
            }
            claimedByCheckpoints.put(id, Boolean.TRUE);
            if (claimedByCheckpoints.size() > MAX_CLAIMS) {
                Iterator<ContentId> it = claimedByCheckpoints.keySet().iterator();
                it.next();
                it.remove();
            }
            return e;
        }
    }

    /**
     * Takes back an object whose RocksDB instance is gone (the task ended or failed over): true
     * when no checkpoint was handed it, so that nothing can reference it and the caller deletes it.
     */
    boolean withdraw(ObjectPath object) {
        // One step with the stream's taking: a stream that took the entry between a check that
        // found it untaken and the look-up in the index left it to nobody.
        synchronized (claimedByCheckpoints) {
            if (expiredUntaken.remove(object) != null) {
                return true;
            }
            if (takenUndecided.containsKey(object)) {
                takenUndecided.put(object, Boolean.TRUE); // the stream deletes it if it gives it back
                return false;
            }
            ContentId id = byObject.get(object);
            if (id == null) {
                return false;
            }
            Entry e = entries.get(id);
            return e != null && e.object.equals(object) && e.durable.isDone() && remove(id, e);
        }
    }

    /** An entry no checkpoint was handed leaves the index unused: withdrawable still. */
    private void expire(ContentId id, Entry e) {
        synchronized (claimedByCheckpoints) {
            if (remove(id, e) && e.durable.getNow(false)) {
                addExpiredUntaken(e.object);
            }
        }
    }

    /**
     * An entry a stream took and then did not refer to (its upload began before the stream's
     * window): no checkpoint was handed it and none can be any more, so it stays withdrawable, as
     * an expired one does; out of the index, a withdrawal would otherwise never find it. True when
     * it was withdrawn while taken: the caller deletes it once durable.
     */
    boolean takenButNotUsed(Entry e) {
        synchronized (claimedByCheckpoints) {
            if (Boolean.TRUE.equals(takenUndecided.remove(e.object))) {
                return true;
            }
            if (e.durable.isDone() && !e.durable.isCompletedExceptionally() && e.durable.getNow(false)) {
                addExpiredUntaken(e.object);
            }
            return false;
        }
    }

    /** A stream refers to the entry it took: the checkpoint owns the object now (see the invariants). */
    void referred(Entry e) {
        synchronized (claimedByCheckpoints) {
            takenUndecided.remove(e.object);
        }
    }

    /** Guarded by {@link #claimedByCheckpoints}. */
    private void addExpiredUntaken(ObjectPath object) {
        expiredUntaken.put(object, Boolean.TRUE);
        if (expiredUntaken.size() > MAX_EXPIRED) {
            Iterator<ObjectPath> it = expiredUntaken.keySet().iterator();
            it.next();
            it.remove();
        }
    }

    private boolean remove(ContentId id, Entry e) {
        boolean removed = entries.remove(id, e);
        byObject.remove(e.object, id);
        return removed;
    }

    /** Entries older than their reuse window can no longer be handed out: forget them (rarely: once a second). */
    private void pruneExpired() {
        long now = System.nanoTime();
        if (now - lastPruneNanos < 1_000_000_000L) {
            return;
        }
        lastPruneNanos = now;
        entries.forEach((id, e) -> {
            if (e.durable.isDone() && now - e.startedNanos > e.reuseWindowNanos) {
                expire(id, e);
            }
        });
    }

    /**
     * Undoes {@link #takeForReuseOrClaim} for a stream that never used the entry (its close was
     * cancelled or interrupted while the pre-upload ran): the entry can be handed out or withdrawn
     * again, and the content is no longer claimed. True when it was withdrawn while taken: it is
     * not handed out again, and the caller deletes it once durable.
     */
    boolean giveBack(ContentId id, Entry e) {
        synchronized (claimedByCheckpoints) {
            claimedByCheckpoints.remove(id);
            if (Boolean.TRUE.equals(takenUndecided.remove(e.object))) {
                return true;
            }
            if (entries.putIfAbsent(id, e) == null) {
                byObject.put(e.object, id);
            }
            return false;
        }
    }

    /** Takes back a claim whose checkpoint upload failed or was cancelled: a later pre-upload may run. */
    void releaseClaim(ContentId id) {
        synchronized (claimedByCheckpoints) {
            claimedByCheckpoints.remove(id);
        }
    }

    int size() {
        return entries.size();
    }

    /** Keeps the index bounded when pre-uploads are never reused (a job without checkpoints). */
    private void pruneOldest() {
        long now = System.nanoTime();
        entries.forEach((id, e) -> {
            if (e.durable.isDone() && now - e.startedNanos > 60_000_000_000L) {
                expire(id, e);
            }
        });
        if (entries.size() >= MAX_ENTRIES) {
            entries.forEach((id, e) -> {
                if (e.durable.isDone()) {
                    expire(id, e);
                }
            });
        }
    }
}
