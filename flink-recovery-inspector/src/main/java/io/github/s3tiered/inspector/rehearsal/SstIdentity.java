package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.ReadOptions;
import org.rocksdb.SstFileReader;
import org.rocksdb.SstFileReaderIterator;
import org.rocksdb.TableProperties;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * Whether a whole SST (its block checksums hold) is the one its MANIFEST names, where no unique id
 * tells (RocksDB 6, Flink 1.x, records none): another SST of the same size (an older checkpoint's,
 * another subtask's) opens and restores without an error, with other state. The MANIFEST records
 * for each file the time RocksDB also writes into the table's properties as its creation time, and
 * its smallest and largest keys: a table made at another time, or holding a key outside that range,
 * is another. Anything that cannot be read here proves nothing either way.
 */
final class SstIdentity {

    /** Bytes of sequence number and type after the user key in an internal key. */
    private static final int INTERNAL_KEY_TRAILER = 8;

    private SstIdentity() {}

    /**
     * Why the table may not be the MANIFEST's file though nothing proves it (its creation time is
     * not the one recorded), or null. Only for a file without a unique id, outside FIFO compaction:
     * RocksDB 8 records a later time in the MANIFEST than in the table for a compaction's outputs
     * and for imported files (and compares their unique ids at open instead), and FIFO compaction
     * records the oldest key's time against the table's creation. The caller treats it as a check
     * that could not prove the file, never as damage: RocksDB has more ways of recording a time.
     */
    static String timeMismatch(SstFileReader reader, ManifestFiles.Entry named, boolean fifo) {
        if (named == null || named.uniqueId() || fifo || named.oldestAncesterTime() <= 0) {
            return null;
        }
        try {
            TableProperties properties = reader.getTableProperties();
            long created = properties.getCreationTime();
            if (created > 0 && created != named.oldestAncesterTime()) {
                return "the table was created at " + created + " s, the MANIFEST's file at " + named.oldestAncesterTime()
                        + " s: it may be another SST of the same size";
            }
        } catch (Exception | LinkageError unreadable) {
            // no properties here: nothing said
        }
        return null;
    }

    /**
     * Why the table is not the MANIFEST's file (a visible key outside the MANIFEST's smallest and
     * largest), or null when nothing says so. The reader's options must carry a merge operator:
     * RocksDB's iterator crashes the process on a merge record without one.
     */
    static String mismatch(SstFileReader reader, ManifestFiles.Entry named) {
        if (named == null) {
            return null;
        }
        byte[] smallest = userKey(named.smallest());
        byte[] largest = userKey(named.largest());
        if (smallest == null || largest == null) {
            return null;
        }
        // the visible keys (a deletion hides its key) lie between the MANIFEST's smallest and largest
        try (ReadOptions options = new ReadOptions(); SstFileReaderIterator it = reader.newIterator(options)) {
            it.seekToFirst();
            if (!it.isValid()) {
                return null; // nothing visible, or not readable without the job's merge operator
            }
            byte[] first = it.key();
            it.seekToLast();
            if (!it.isValid()) {
                return null;
            }
            byte[] last = it.key();
            if (Arrays.compareUnsigned(first, smallest) < 0 || Arrays.compareUnsigned(last, largest) > 0) {
                HexFormat hex = HexFormat.of();
                return "it holds keys " + hex.formatHex(first) + " to " + hex.formatHex(last) + ", the MANIFEST's file "
                        + hex.formatHex(smallest) + " to " + hex.formatHex(largest);
            }
        } catch (Exception | LinkageError unreadable) {
            return null;
        }
        return null;
    }

    private static byte[] userKey(byte[] internalKey) {
        return internalKey == null || internalKey.length < INTERNAL_KEY_TRAILER ? null
                : Arrays.copyOf(internalKey, internalKey.length - INTERNAL_KEY_TRAILER);
    }
}
