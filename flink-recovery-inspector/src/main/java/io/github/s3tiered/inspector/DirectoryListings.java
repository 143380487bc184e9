package io.github.s3tiered.inspector;

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
 */
final class DirectoryListings {

    /** The entries of a directory by name; {@code exists} is false for a directory that is not there. */
    record Listing(Path dir, boolean exists, Map<String, FileStatus> entries) {

        FileStatus get(String name) {
            return entries.get(name);
        }
    }

    private final FileSystemCalls calls;
    private final Map<String, Listing> byDir = new HashMap<>();

    DirectoryListings(FileSystemCalls calls) {
        this.calls = calls;
    }

    FileSystemCalls calls() {
        return calls;
    }

    Listing list(Path dir) throws IOException {
        String key = PathKey.of(dir);
        Listing cached = byDir.get(key);
        if (cached != null) {
            return cached;
        }
        FileStatus[] statuses = calls.listStatus(dir);
        Listing listing;
        if (statuses == null) {
            listing = new Listing(dir, false, Collections.emptyMap());
        } else {
            Map<String, FileStatus> entries = new LinkedHashMap<>();
            for (FileStatus s : statuses) {
                // a listing of a file (some file systems answer so) is not a directory's content
                if (PathKey.of(s.getPath()).equals(key)) {
                    continue;
                }
                entries.put(s.getPath().getName(), s);
            }
            listing = new Listing(dir, true, entries);
        }
        byDir.put(key, listing);
        return listing;
    }
}
