package io.github.s3tiered.inspector.storage;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.StorageUnreadableException;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Directory listings, each directory listed once per inspection: the files of a checkpoint sit in
 * a few directories (its own, {@code shared/}, {@code taskowned/}), so one listing per directory
 * replaces one request per file, and checkpoints of one job share the listing of {@code shared/}.
 * A listing that failed is kept as {@link State#UNREADABLE}: what it would have shown is unknown.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class DirectoryListings {

    public enum State { PRESENT, ABSENT, UNREADABLE }

    /** The entries of a directory by name; empty unless {@link State#PRESENT}. */
    public record Listing(Path dir, State state, Map<String, FileStatus> entries, StorageUnreadableException error) {

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
    private final Map<String, Listing> byDir = new HashMap<>();

    public DirectoryListings(FileSystemCalls calls) {
        this.calls = calls;
    }

    public FileSystemCalls calls() {
        return calls;
    }

    /** The listing, or an UNREADABLE one when the storage did not answer. */
    public synchronized Listing list(Path dir) throws IOException {
        String key = PathKey.of(dir);
        Listing cached = byDir.get(key);
        if (cached != null) {
            return cached;
        }
        Listing listing;
        try {
            FileStatus[] statuses = calls.listStatus(dir);
            if (statuses == null) {
                listing = new Listing(dir, State.ABSENT, Collections.emptyMap(), null);
            } else {
                Map<String, FileStatus> entries = new LinkedHashMap<>();
                for (FileStatus s : statuses) {
                    // a listing of a file (some file systems answer so) is not a directory's content
                    if (PathKey.of(s.getPath()).equals(key)) {
                        continue;
                    }
                    entries.put(s.getPath().getName(), s);
                }
                listing = new Listing(dir, State.PRESENT, entries, null);
            }
        } catch (StorageUnreadableException e) {
            // not cached: a later attempt in the same inspection may get an answer
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
