package io.github.s3tiered.inspector.storage;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.StorageUnreadableException;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * Directory listings, each directory listed once per inspection: the files of a checkpoint sit in
 * a few directories (its own, {@code shared/}, {@code taskowned/}), so one listing per directory
 * replaces one request per file, and checkpoints of one job share the listing of {@code shared/}.
 * A listing that failed comes back as {@link State#UNREADABLE} (what it would have shown is
 * unknown) and is not kept: a later call lists again. The job's {@code shared/} may be listed ahead
 * ({@link #prefetch}) while a checkpoint's {@code _metadata} is read.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class DirectoryListings {

    public enum State { PRESENT, ABSENT, UNREADABLE }

    /**
     * The entries of a directory by name; empty unless {@link State#PRESENT}. {@code itselfAFile}:
     * the listing answered the path itself, a file (a local file system does so for a file).
     */
    public record Listing(Path dir, State state, Map<String, FileStatus> entries, StorageUnreadableException error,
            boolean itselfAFile) {

        Listing(Path dir, State state, Map<String, FileStatus> entries, StorageUnreadableException error) {
            this(dir, state, entries, error, false);
        }

        public FileStatus get(String name) {
            return entries.get(name);
        }

        public boolean exists() {
            return state == State.PRESENT;
        }

        public boolean unreadable() {
            return state == State.UNREADABLE;
        }
    }

    private final FileSystemCalls calls;
    /** Listings that were read (present or absent); a failed one is not kept: a later attempt may get an answer. */
    private final Map<String, Listing> byDir = new ConcurrentHashMap<>();
    /** Listings started ahead ({@link #prefetch}) that no {@link #list} call has taken yet. */
    private final Map<String, CompletableFuture<Listing>> ahead = new ConcurrentHashMap<>();

    public DirectoryListings(FileSystemCalls calls) {
        this.calls = calls;
    }

    public FileSystemCalls calls() {
        return calls;
    }

    /**
     * Starts listing {@code dir} on a thread of its own, unless it was listed or started already:
     * a later {@link #list} of it waits for this listing instead of sending its own. For a
     * directory the caller expects to need after other requests (a checkpoint's {@code shared/},
     * needed only once its {@code _metadata} was read and parsed), so that both go at once. The
     * listing counts as a call whether or not anything asks for it.
     */
    public void prefetch(Path dir) {
        String key = PathKey.of(dir);
        if (byDir.containsKey(key)) {
            return;
        }
        CompletableFuture<Listing> listing = new CompletableFuture<>();
        if (ahead.putIfAbsent(key, listing) != null) {
            return;
        }
        calls.countListStatus(); // now, not when the thread gets to it: the count must not depend on timing
        Thread t = new Thread(() -> {
            try {
                listing.complete(listNow(dir, key, false));
            } catch (Throwable e) { // whatever it is, the list() call that takes this listing gets it
                listing.completeExceptionally(e);
            }
        }, "recovery-inspector-listing");
        t.setDaemon(true);
        try {
            t.start();
        } catch (Throwable e) {
            // no thread: a later list() must not wait for a listing nobody runs
            ahead.remove(key, listing);
            listing.completeExceptionally(e);
            throw e;
        }
    }

    /**
     * The listing, or an UNREADABLE one when the storage did not answer. A listing started ahead is
     * taken by the first call, whatever its outcome: a failed one is not sent again by that call
     * (its retries were spent), only by a later one.
     */
    public synchronized Listing list(Path dir) throws IOException {
        String key = PathKey.of(dir);
        Listing cached = byDir.get(key);
        if (cached != null) {
            return cached;
        }
        CompletableFuture<Listing> started = ahead.remove(key);
        if (started != null) {
            return awaited(started, dir);
        }
        return listNow(dir, key, true);
    }

    private static Listing awaited(CompletableFuture<Listing> started, Path dir) throws IOException {
        try {
            return started.get();
        } catch (InterruptedException e) {
            // as when the caller's own listing is interrupted: the storage did not answer in time
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted = new InterruptedIOException("Interrupted while listing " + dir);
            interrupted.initCause(e);
            return new Listing(dir, State.UNREADABLE, Collections.emptyMap(), new StorageUnreadableException("list", dir, interrupted));
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IOException("Listing " + dir + " failed", cause);
        }
    }

    private Listing listNow(Path dir, String key, boolean count) throws IOException {
        Listing listing;
        try {
            FileStatus[] statuses = calls.listStatus(dir, count);
            if (statuses == null) {
                listing = new Listing(dir, State.ABSENT, Collections.emptyMap(), null);
            } else {
                Map<String, FileStatus> entries = new LinkedHashMap<>();
                boolean itselfAFile = false;
                for (FileStatus s : statuses) {
                    // a listing of a file (some file systems answer so) is not a directory's content
                    if (PathKey.of(s.getPath()).equals(key)) {
                        itselfAFile |= !s.isDir();
                        continue;
                    }
                    entries.put(s.getPath().getName(), s);
                }
                listing = new Listing(dir, State.PRESENT, entries, null, itselfAFile && entries.isEmpty());
            }
        } catch (StorageUnreadableException e) {
            return new Listing(dir, State.UNREADABLE, Collections.emptyMap(), e);
        }
        byDir.put(key, listing);
        return listing;
    }

    /** The listing, or the storage failure as an exception (for callers that cannot go on without it). */
    public Listing listOrThrow(Path dir) throws IOException {
        Listing l = list(dir);
        if (l.unreadable()) {
            throw l.error();
        }
        return l;
    }
}
