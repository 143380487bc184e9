package io.github.s3tiered.inspector.rehearsal;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The SST files a RocksDB MANIFEST adds and deletes, read from its version edits, and which of them
 * it recorded a unique id for: RocksDB compares that id with the file's own when it opens the
 * table, which is what tells a whole SST of the right size from the file written. RocksDB 8 (Flink
 * 2.x) records one for every file it writes; RocksDB 6 (Flink 1.x) none, and files carried over
 * from it keep none.
 *
 * <p>The format ({@code db/version_edit.cc}): each edit a sequence of a varint32 tag and its
 * fields; files added by NewFile4 (level, number, size, smallest and largest key, sequence
 * numbers, then custom fields, each a tag and a length-prefixed value, up to Terminate). A tag not
 * known here that RocksDB may not skip ends the reading: nothing is then known of any file.
 */
final class ManifestFiles {

    // Tag, NewFileCustomTag in RocksDB's version_edit.h
    private static final int COMPARATOR = 1;
    private static final int LOG_NUMBER = 2;
    private static final int NEXT_FILE_NUMBER = 3;
    private static final int LAST_SEQUENCE = 4;
    private static final int COMPACT_CURSOR = 5;
    private static final int DELETED_FILE = 6;
    private static final int NEW_FILE = 7;
    private static final int PREV_LOG_NUMBER = 9;
    private static final int MIN_LOG_NUMBER_TO_KEEP = 10;
    private static final int NEW_FILE2 = 100;
    private static final int NEW_FILE3 = 102;
    private static final int NEW_FILE4 = 103;
    private static final int COLUMN_FAMILY = 200;
    private static final int COLUMN_FAMILY_ADD = 201;
    private static final int COLUMN_FAMILY_DROP = 202;
    private static final int MAX_COLUMN_FAMILY = 203;
    private static final int IN_ATOMIC_GROUP = 300;
    private static final int TAG_SAFE_IGNORE_MASK = 1 << 13;
    private static final int CUSTOM_TERMINATE = 1;
    private static final int CUSTOM_OLDEST_ANCESTER_TIME = 5;
    private static final int CUSTOM_UNIQUE_ID = 12;

    /**
     * What the MANIFEST says of a file it added: whether it recorded a unique id, its smallest and
     * largest internal keys (a user key and 8 bytes of sequence number and type), and the oldest
     * ancestor time it recorded (seconds; -1 when none), which RocksDB also writes into the table's
     * properties as its creation time.
     */
    record Entry(boolean uniqueId, byte[] smallest, byte[] largest, long oldestAncesterTime) {}

    /** File number to what its last addition recorded; null once an edit was not understood. */
    private Map<Long, Entry> files = new HashMap<>();

    /** Reads one version edit (a log entry of the MANIFEST). */
    void edit(byte[] entry) {
        if (files == null) {
            return;
        }
        try {
            Reader in = new Reader(entry);
            while (in.more()) {
                int tag = in.varint32();
                switch (tag) {
                    case COMPARATOR, COLUMN_FAMILY_ADD -> in.slice();
                    case LOG_NUMBER, NEXT_FILE_NUMBER, LAST_SEQUENCE, PREV_LOG_NUMBER, MIN_LOG_NUMBER_TO_KEEP -> in.varint64();
                    case COMPACT_CURSOR -> {
                        in.varint32();
                        in.slice();
                    }
                    case DELETED_FILE -> {
                        in.varint32();
                        files.remove(in.varint64());
                    }
                    case NEW_FILE, NEW_FILE2, NEW_FILE3 -> {
                        in.varint32();
                        long number = in.varint64();
                        if (tag == NEW_FILE3) {
                            in.varint32(); // path id
                        }
                        in.varint64(); // size
                        byte[] smallest = in.slice();
                        byte[] largest = in.slice();
                        if (tag != NEW_FILE) {
                            in.varint64();
                            in.varint64();
                        }
                        files.put(number, new Entry(false, smallest, largest, -1));
                    }
                    case NEW_FILE4 -> {
                        in.varint32();
                        long number = in.varint64();
                        in.varint64();
                        byte[] smallest = in.slice();
                        byte[] largest = in.slice();
                        in.varint64();
                        in.varint64();
                        boolean uniqueId = false;
                        long oldestAncesterTime = -1;
                        while (true) {
                            int custom = in.varint32();
                            if (custom == CUSTOM_TERMINATE) {
                                break;
                            }
                            byte[] field = in.slice();
                            uniqueId |= custom == CUSTOM_UNIQUE_ID && field.length > 0;
                            if (custom == CUSTOM_OLDEST_ANCESTER_TIME && field.length > 0) {
                                oldestAncesterTime = new Reader(field).varint64();
                            }
                        }
                        files.put(number, new Entry(uniqueId, smallest, largest, oldestAncesterTime));
                    }
                    case COLUMN_FAMILY, MAX_COLUMN_FAMILY, IN_ATOMIC_GROUP -> in.varint32();
                    case COLUMN_FAMILY_DROP -> {
                        // nothing follows the tag
                    }
                    default -> {
                        if ((tag & TAG_SAFE_IGNORE_MASK) == 0) {
                            files = null; // a field RocksDB may not skip, not known here
                            return;
                        }
                        in.slice(); // RocksDB skips these by their length too
                    }
                }
            }
        } catch (IndexOutOfBoundsException | IllegalStateException truncated) {
            files = null;
        }
    }

    /** The files the MANIFEST holds with a unique id; empty when it could not be read through. */
    Set<Long> withUniqueId() {
        Set<Long> out = new TreeSet<>();
        if (files != null) {
            files.forEach((number, entry) -> {
                if (entry.uniqueId()) {
                    out.add(number);
                }
            });
        }
        return out;
    }

    /** What the MANIFEST recorded of the file, or null (not added, or the MANIFEST not read through). */
    Entry entry(long fileNumber) {
        return files == null ? null : files.get(fileNumber);
    }

    boolean understood() {
        return files != null;
    }

    /** Little-endian varints and length-prefixed slices, as RocksDB's coding.h writes them. */
    private static final class Reader {
        private final byte[] b;
        private int pos;

        Reader(byte[] b) {
            this.b = b;
        }

        boolean more() {
            return pos < b.length;
        }

        long varint64() {
            long result = 0;
            for (int shift = 0; shift <= 63; shift += 7) {
                int x = b[pos++] & 0xff;
                result |= (long) (x & 0x7f) << shift;
                if ((x & 0x80) == 0) {
                    return result;
                }
            }
            throw new IllegalStateException("varint64 too long at " + pos);
        }

        int varint32() {
            long v = varint64();
            if (v < 0 || v > 0xffffffffL) {
                throw new IllegalStateException("varint32 out of range at " + pos);
            }
            return (int) v;
        }

        byte[] slice() {
            int n = varint32();
            if (n < 0 || n > b.length - pos) {
                throw new IllegalStateException("slice of " + n + " bytes past the end at " + pos);
            }
            byte[] out = java.util.Arrays.copyOfRange(b, pos, pos + n);
            pos += n;
            return out;
        }
    }
}
