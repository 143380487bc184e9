package io.github.s3tiered.fs;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The objects this process uploaded ahead of a checkpoint (RocksDB's SST files, right after
 * RocksDB wrote them), by content: length and SHA-256. A checkpoint stream with the same content
 * then refers to the object instead of uploading the bytes again.
 *
 * <p>Invariants:
 * <ul>
 *   <li>An entry is handed out for reuse at most once ({@link #takeForReuse}). The one checkpoint
 *       that refers to the object then owns it: Flink deletes it with that checkpoint's state when
 *       the checkpoint is aborted or subsumed, so a second hand-out could point at a deleted
 *       object. A content seen again (an upload Flink repeats after a reuse veto or an aborted
 *       checkpoint) is simply uploaded again.
 *   <li>{@link Entry#durable} completes true only after S3 acknowledged the whole object; an entry
 *       whose upload failed completes false and is gone from the index.
 *   <li>An entry is reused only within the caller's window after its upload ended: the
 *       storage's orphan removal keeps unreferenced pre-uploaded objects twice that long, so an
 *       object handed out is never one it removed.
 *   <li>Content that a checkpoint stream uploaded itself is remembered (bounded), so that a
 *       pre-upload arriving late does not upload it a second time.
 * </ul>
 */
final class PreUploads {

    /** What identifies content: its length and its SHA-256, in hex. CRC32C alone is too weak. */
    record ContentId(long length, String sha256) {}

    /** An object uploaded, or being uploaded, ahead of a checkpoint. */
    static final class Entry {
        final ObjectPath object;
        final CompletableFuture<Boolean> durable = new CompletableFuture<>();
        /** System.nanoTime() when the upload ended; valid once {@link #durable} completed true. */
        volatile long endedNanos;

        Entry(ObjectPath object) {
            this.object = object;
        }
    }

    private static final int MAX_ENTRIES = 100_000;
    private static final int MAX_REMEMBERED_CHECKPOINT_UPLOADS = 10_000;

    private final Map<ContentId, Entry> entries = new ConcurrentHashMap<>();
    private final Map<ObjectPath, ContentId> byObject = new ConcurrentHashMap<>();
    private volatile long lastPruneNanos = System.nanoTime();
    private final Map<ContentId, Boolean> uploadedByCheckpoints = new LinkedHashMap<>();
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
     * received pre-uploads, so its content may be one of them at close.
     */
    boolean mayDeduplicate(ObjectPath target) {
        return !directories.isEmpty() && directories.contains(target.parent());
    }

    /**
     * Registers an upload about to start; null when the content is already in the index or was
     * uploaded by a checkpoint stream (nothing to do then).
     */
    Entry begin(ContentId id, ObjectPath object, long reuseWindowNanos) {
        directories.add(object.parent());
        synchronized (uploadedByCheckpoints) {
            if (uploadedByCheckpoints.containsKey(id)) {
                return null;
            }
        }
        pruneExpired(reuseWindowNanos);
        if (entries.size() >= MAX_ENTRIES) {
            pruneOldest();
        }
        Entry e = new Entry(object);
        if (entries.putIfAbsent(id, e) != null) {
            return null;
        }
        byObject.put(object, id);
        return e;
    }

    void succeeded(ContentId id, Entry e) {
        e.endedNanos = System.nanoTime();
        e.durable.complete(true);
    }

    void failed(ContentId id, Entry e) {
        remove(id, e);
        e.durable.complete(false);
    }

    /** The entry for this content, removed from the index (see the invariants); null if none. */
    Entry takeForReuse(ContentId id) {
        Entry e = entries.remove(id);
        if (e != null) {
            byObject.remove(e.object, id);
        }
        return e;
    }

    /**
     * Takes back an object whose RocksDB instance is gone (the task ended or failed over): true
     * when no checkpoint was handed it, so that nothing can reference it and the caller deletes it.
     */
    boolean withdraw(ObjectPath object) {
        ContentId id = byObject.get(object);
        if (id == null) {
            return false;
        }
        Entry e = entries.get(id);
        return e != null && e.object.equals(object) && e.durable.isDone() && remove(id, e);
    }

    private boolean remove(ContentId id, Entry e) {
        boolean removed = entries.remove(id, e);
        byObject.remove(e.object, id);
        return removed;
    }

    /** Entries older than the reuse window can no longer be handed out: forget them (rarely: once a second). */
    private void pruneExpired(long reuseWindowNanos) {
        long now = System.nanoTime();
        if (now - lastPruneNanos < 1_000_000_000L) {
            return;
        }
        lastPruneNanos = now;
        entries.forEach((id, e) -> {
            if (e.durable.isDone() && now - e.endedNanos > reuseWindowNanos) {
                remove(id, e);
            }
        });
    }

    /** A checkpoint stream uploaded this content itself. */
    void uploadedByCheckpoint(ContentId id) {
        synchronized (uploadedByCheckpoints) {
            uploadedByCheckpoints.put(id, Boolean.TRUE);
            if (uploadedByCheckpoints.size() > MAX_REMEMBERED_CHECKPOINT_UPLOADS) {
                Iterator<ContentId> it = uploadedByCheckpoints.keySet().iterator();
                it.next();
                it.remove();
            }
        }
    }

    int size() {
        return entries.size();
    }

    /** Keeps the index bounded when pre-uploads are never reused (a job without checkpoints). */
    private void pruneOldest() {
        long now = System.nanoTime();
        entries.forEach((id, e) -> {
            if (e.durable.isDone() && now - e.endedNanos > 60_000_000_000L) {
                remove(id, e);
            }
        });
        if (entries.size() >= MAX_ENTRIES) {
            entries.forEach((id, e) -> {
                if (e.durable.isDone()) {
                    remove(id, e);
                }
            });
        }
    }
}
