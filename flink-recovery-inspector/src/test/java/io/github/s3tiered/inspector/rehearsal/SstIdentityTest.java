package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.SstFileReader;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

/** A whole SST told apart from the one its MANIFEST names by its creation time and its keys. */
class SstIdentityTest {

    @TempDir
    Path dir;

    /** Flushes keys k10 to k19 into one SST, as a RocksDB of Flink's would; returns it. */
    private Path flushedTable() throws Exception {
        assumeTrue(RocksDbLibrary.load(), "RocksDB's native library does not load here");
        Path db = dir.resolve("db");
        try (org.rocksdb.StringAppendOperator merge = new org.rocksdb.StringAppendOperator();
                Options options = new Options().setCreateIfMissing(true).setMergeOperator(merge);
                RocksDB rocks = RocksDB.open(options, db.toString());
                FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            for (int i = 10; i < 20; i++) {
                rocks.put(key(i), ("value " + i).getBytes(StandardCharsets.UTF_8));
            }
            rocks.merge(key(19), "appended".getBytes(StandardCharsets.UTF_8)); // as Flink's list state writes
            rocks.flush(flush);
        }
        try (Stream<Path> files = Files.list(db)) {
            return files.filter(p -> p.toString().endsWith(".sst")).findFirst().orElseThrow();
        }
    }

    private static byte[] key(int i) {
        return ("k" + i).getBytes(StandardCharsets.UTF_8);
    }

    /** An internal key: the user key, then 8 bytes of sequence number and type. */
    private static byte[] internal(byte[] userKey) {
        return Arrays.copyOf(userKey, userKey.length + 8);
    }

    @Test
    void theTableTheManifestNamesPassesAnotherTimeOrKeyOutsideItsRangeDoesNot() throws Exception {
        Path table = flushedTable();
        try (org.rocksdb.StringAppendOperator merge = new org.rocksdb.StringAppendOperator();
                Options options = new Options().setMergeOperator(merge); SstFileReader reader = new SstFileReader(options)) {
            reader.open(table.toString());
            long created = reader.getTableProperties().getCreationTime();
            assumeTrue(created > 0, "this RocksDB writes no creation time");

            assertThat(SstIdentity.mismatch(reader, new ManifestFiles.Entry(false, internal(key(10)), internal(key(19)), created)))
                    .isNull();
            assertThat(SstIdentity.mismatch(reader, null)).as("not in the MANIFEST: nothing said").isNull();
            // a deletion hides the MANIFEST's smallest or largest key: visible keys inside the range pass
            assertThat(SstIdentity.mismatch(reader, new ManifestFiles.Entry(false, internal(key(0)), internal(key(99)), created)))
                    .isNull();
            assertThat(SstIdentity.mismatch(reader, new ManifestFiles.Entry(false, internal(key(12)), internal(key(19)), created)))
                    .contains("holds keys");
            assertThat(SstIdentity.mismatch(reader, new ManifestFiles.Entry(false, internal(key(10)), internal(key(15)), created)))
                    .contains("holds keys");

            // the time: only where no unique id is recorded, outside FIFO compaction, and never damage
            ManifestFiles.Entry earlier = new ManifestFiles.Entry(false, internal(key(10)), internal(key(19)), created - 30);
            assertThat(SstIdentity.timeMismatch(reader, earlier, false)).contains("created at " + created);
            assertThat(SstIdentity.timeMismatch(reader, earlier, true)).as("FIFO records the oldest key's time").isNull();
            assertThat(SstIdentity.timeMismatch(reader, new ManifestFiles.Entry(true, internal(key(10)), internal(key(19)),
                    created + 4), false)).as("RocksDB 8 compaction outputs: a later time, and a unique id").isNull();
            assertThat(SstIdentity.timeMismatch(reader, new ManifestFiles.Entry(false, internal(key(10)), internal(key(19)),
                    created), false)).isNull();
            assertThat(SstIdentity.timeMismatch(reader, new ManifestFiles.Entry(false, internal(key(10)), internal(key(19)),
                    -1), false)).as("no time recorded").isNull();
        }
    }
}
