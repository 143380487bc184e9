package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;

/** Version edits written as RocksDB's version_edit.cc encodes them. */
class ManifestFilesTest {

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static void slice(ByteArrayOutputStream out, byte[] b) {
        varint(out, b.length);
        out.writeBytes(b);
    }

    /** NewFile4 of a file, with a unique id custom field or not, then other custom fields. */
    private static void newFile4(ByteArrayOutputStream out, long number, boolean uniqueId) {
        varint(out, 103);
        varint(out, 0); // level
        varint(out, number);
        varint(out, 12345); // size
        slice(out, "smallest-key-8by".getBytes());
        slice(out, "largest--key-8by".getBytes());
        varint(out, 1);
        varint(out, 99);
        varint(out, 5); // oldest ancester time
        slice(out, new byte[] {1});
        if (uniqueId) {
            varint(out, 12);
            slice(out, new byte[16]);
        }
        varint(out, 13); // epoch number
        slice(out, new byte[] {7});
        varint(out, 1); // terminate
    }

    @Test
    void filesWithAndWithoutUniqueIdsAcrossEdits() {
        ManifestFiles m = new ManifestFiles();
        ByteArrayOutputStream first = new ByteArrayOutputStream();
        varint(first, 1);
        slice(first, "leveldb.BytewiseComparator".getBytes());
        varint(first, 200);
        varint(first, 0);
        varint(first, (1 << 13) + 1); // db id, skippable by its length
        slice(first, "db-id".getBytes());
        newFile4(first, 7, false); // carried over from RocksDB 6
        newFile4(first, 8, true);
        newFile4(first, 9, true);
        varint(first, 2);
        varint(first, 4);
        m.edit(first.toByteArray());

        ByteArrayOutputStream second = new ByteArrayOutputStream();
        varint(second, 6); // deleted file 9 from level 0
        varint(second, 0);
        varint(second, 9);
        newFile4(second, 10, true);
        m.edit(second.toByteArray());

        assertThat(m.understood()).isTrue();
        assertThat(m.withUniqueId()).containsExactly(8L, 10L);
    }

    @Test
    void anEditNotUnderstoodLeavesNoFileWithAUniqueId() {
        ManifestFiles m = new ManifestFiles();
        ByteArrayOutputStream edit = new ByteArrayOutputStream();
        newFile4(edit, 8, true);
        varint(edit, 400); // a blob file addition: not read here, and RocksDB may not skip it
        slice(edit, new byte[] {1, 2});
        m.edit(edit.toByteArray());
        assertThat(m.understood()).isFalse();
        assertThat(m.withUniqueId()).isEmpty();

        ManifestFiles truncated = new ManifestFiles();
        ByteArrayOutputStream cut = new ByteArrayOutputStream();
        newFile4(cut, 8, true);
        byte[] bytes = cut.toByteArray();
        truncated.edit(java.util.Arrays.copyOf(bytes, bytes.length - 3));
        assertThat(truncated.withUniqueId()).isEmpty();
    }
}
