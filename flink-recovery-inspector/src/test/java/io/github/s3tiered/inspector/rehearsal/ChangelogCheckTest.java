package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.SnappyStreamCompressionDecorator;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.StateChange;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;

/**
 * Changelog files as Flink's changelog storage writes them ({@code StateChangeFsUploader},
 * {@code StateChangeFormat}): a compression flag byte, then change sets back to back; {@code
 * _metadata} records the bytes after the flag, before compression, and each change set's offset in
 * them. Change sets here: at 0 one of metadata and key group 3 (37 bytes), at 37 an empty one (4
 * bytes), at 41 one of key groups 5 and 120 (34 bytes): 75 bytes.
 */
class ChangelogCheckTest {

    private static final int MAX_PARALLELISM = 128;
    private static final long SIZE = 75;

    @TempDir java.nio.file.Path dir;

    private final ChangelogCheck check = new ChangelogCheck(MAX_PARALLELISM);

    @Test
    void changeSetsReadToTheRecordedSizeAtTheirOffsets() throws Exception {
        for (boolean compressed : new boolean[] {false, true}) {
            StreamStateHandle file = handle(file(compressed, changeSets()));
            assertThatCode(() -> check.check("f", SIZE, file, List.of(0L, 37L, 41L))).doesNotThrowAnyException();
            assertThatCode(() -> check.check("f", SIZE, file, List.of(41L))).doesNotThrowAnyException();
        }
        // the same through the local file system, whose length is read from the file
        java.nio.file.Path onDisk = dir.resolve("changes");
        Files.write(onDisk, file(false, changeSets()));
        FileStateHandle local = new FileStateHandle(new Path(onDisk.toUri()), SIZE);
        assertThatCode(() -> check.check("f", SIZE, local, List.of(37L))).doesNotThrowAnyException();
    }

    @Test
    void aFileCutShortOrLongerThanRecordedIsRefused() throws Exception {
        byte[] plain = file(false, changeSets());
        assertThatThrownBy(() -> check.check("f", SIZE, handle(Arrays.copyOf(plain, plain.length - 1)), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("holds 74 bytes after its flag byte");
        assertThatThrownBy(() -> check.check("f", SIZE, handle(Arrays.copyOf(plain, plain.length + 4)), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("holds 79 bytes after its flag byte");

        byte[] compressed = file(true, changeSets());
        assertThatThrownBy(() -> check.check("f", SIZE, handle(Arrays.copyOf(compressed, compressed.length - 1)), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("runs to byte");
        // whole Snappy chunks, but the change sets hold more than the recorded size, or less
        byte[] moreThanRecorded = file(true, concat(changeSets(), changeSet(new int[] {7}, 2)));
        assertThatThrownBy(() -> check.check("f", SIZE, handle(moreThanRecorded), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("holds more than the 75 bytes");
        assertThatThrownBy(() -> check.check("f", SIZE + 20, handle(compressed), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("ends before the 95 bytes");
    }

    @Test
    void everyOffsetMustStartAChangeSet() throws Exception {
        StreamStateHandle file = handle(file(false, changeSets()));
        // at 45 the third change set's first key group, 4 bytes in, reads as a change set of one key
        // group with 5 changes, more than the bytes left hold
        assertThatThrownBy(() -> check.check("f", SIZE, file, List.of(0L, 45L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("change set at byte 45 has 5 changes");
        assertThatThrownBy(() -> check.check("f", SIZE, file, List.of(75L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("outside the file's 75 bytes");
    }

    @Test
    void aDamagedFrameOrFlagIsRefused() throws Exception {
        byte[] wrongFlag = file(false, changeSets());
        wrongFlag[0] = 2;
        assertThatThrownBy(() -> check.check("f", SIZE, handle(wrongFlag), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("flag byte 2");

        byte[] count = file(false, changeSets());
        // the empty change set now claims a key group, which it reads from the next set's bytes; the
        // scan after it then starts inside the next set
        count[1 + 37 + 3] = 1;
        assertThatThrownBy(() -> check.check("f", SIZE, handle(count), List.of(0L, 37L, 41L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("change set at byte 62 has 65536 key groups");

        byte[] keyGroup = file(false, changeSets());
        keyGroup[1 + 41 + 4 + 4 + 3] = (byte) MAX_PARALLELISM; // key group 5 becomes 128
        assertThatThrownBy(() -> check.check("f", SIZE, handle(keyGroup), List.of(41L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("key group 128");

        byte[] length = file(false, changeSets());
        length[1 + 4 + 8 + 3] = 100; // the metadata change's length runs past the end
        assertThatThrownBy(() -> check.check("f", SIZE, handle(length), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("runs past the recorded end");

        // a byte changed inside compressed data: Flink's reader would decompress other bytes
        byte[] compressed = file(true, changeSets());
        compressed[compressed.length - 3] ^= 0x40;
        assertThatThrownBy(() -> check.check("f", SIZE, handle(compressed), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).matches(e -> ((StateDecodingException) e).damage());
    }

    /**
     * One upload batches the change sets of every task of a TaskManager: operators with other
     * numbers of key groups share the file. Their key groups are held to any operator's; those of
     * the change sets a handle names, to its operator's.
     */
    @Test
    void changeSetsOfOtherOperatorsInTheFileAreHeldToAnyOperatorsKeyGroups() throws Exception {
        byte[] sets = concat(changeSet(new int[] {5}, 2), concat(changeSet(new int[] {300}, 2), changeSet(new int[] {7}, 2)));
        long size = sets.length; // three sets of 18 bytes
        for (boolean compressed : new boolean[] {false, true}) {
            StreamStateHandle file = handle(file(compressed, sets));
            assertThatCode(() -> check.check("f", size, file, List.of(0L, 36L))).doesNotThrowAnyException();
            assertThatThrownBy(() -> check.check("f", size, file, List.of(18L)))
                    .isInstanceOf(StateDecodingException.class).hasMessageContaining("key group 300, outside the 128");
        }
        // before the set the handle names, a key group no operator can have
        byte[] beyondAny = concat(changeSet(new int[] {32768}, 2), changeSet(new int[] {5}, 2));
        assertThatThrownBy(() -> check.check("f", beyondAny.length, handle(file(false, beyondAny)), List.of(18L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("of any operator");
    }

    /**
     * Damage anywhere in the file fails it, also past every change set the handle names: a count
     * changed in a named one can make it end early and still read, and only the bytes it then
     * leaves out trip the scan (Flink's restore would drop them).
     */
    @Test
    void damageAnywhereInTheFileFailsIt() throws Exception {
        byte[] damaged = changeSets();
        damaged[41] = 0x7f; // the third change set's number of key groups
        for (boolean compressed : new boolean[] {false, true}) {
            StreamStateHandle file = handle(file(compressed, damaged));
            assertThatThrownBy(() -> check.check("f", SIZE, file, List.of(0L, 37L)))
                    .isInstanceOf(StateDecodingException.class).hasMessageContaining("change set at byte 41 has");
        }
        // one change fewer in a named set's only key group: it ends a change early and still reads;
        // the scan after it trips on the change it left out (5 bytes: a length of 1 and its byte)
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(1);
        out.writeInt(1); // was 2
        out.writeInt(5);
        out.writeInt(1);
        out.write(0xaa);
        out.writeInt(1);
        out.write(0xbb);
        out.flush();
        assertThatThrownBy(() -> check.check("f", 22, handle(file(false, bytes.toByteArray())), List.of(0L)))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("change set at byte 17 has 1 key groups");
    }

    /**
     * An offset another handle of the checkpoint records in the file must start a change set too:
     * a count changed in one set can make it swallow the next whole, which this handle alone
     * would not see.
     */
    @Test
    void theOffsetsOfOtherHandlesInTheFileMustStartChangeSets() throws Exception {
        // an empty change set, then one whose bytes read as one key group's header and a change of
        // 6 bytes (its key group, 6, is the length of what follows): the empty one claiming a key
        // group reads the next set whole
        byte[] sets = concat(changeSet(new int[] {}, 0), changeSet(new int[] {6}, 2));
        sets[3] = 1;
        StreamStateHandle file = handle(file(false, sets));
        assertThatCode(() -> check.check("f", 22, file, List.of(0L), new java.util.TreeSet<>(List.of(0L))))
                .as("undetectable by the handle alone").doesNotThrowAnyException();
        assertThatThrownBy(() -> check.check("f", 22, file, List.of(0L), new java.util.TreeSet<>(List.of(0L, 4L))))
                .isInstanceOf(StateDecodingException.class)
                .hasMessageContaining("change set at byte 4, which is inside the one starting at byte 0");
    }

    /**
     * Files written by Flink's own uploader ({@code StateChangeFsUploader}), uncompressed and
     * compressed: one upload of two tasks of operators with different numbers of key groups, as
     * Flink batches them. Each task's change sets pass at the offsets and the size Flink records,
     * held to its own operator's key groups; the file cut by a byte fails.
     */
    @Test
    void filesOfFlinksOwnUploaderPassAtTheOffsetsItRecords() throws Exception {
        for (boolean compressed : new boolean[] {false, true}) {
            java.nio.file.Path base = Files.createDirectories(dir.resolve("dstl-" + compressed));
            org.apache.flink.changelog.fs.StateChangeFsUploader uploader = new org.apache.flink.changelog.fs.StateChangeFsUploader(
                    new org.apache.flink.api.common.JobID(), new Path(base.toUri()),
                    org.apache.flink.core.fs.FileSystem.getLocalFileSystem(), compressed, 4096,
                    new org.apache.flink.changelog.fs.ChangelogStorageMetricGroup(
                            new org.apache.flink.metrics.groups.UnregisteredMetricsGroup()),
                    org.apache.flink.changelog.fs.TaskChangelogRegistry.NO_OP);
            java.util.Map<String, List<Long>> offsets = new java.util.HashMap<>();
            java.util.UUID logA = java.util.UUID.randomUUID();
            java.util.UUID logB = java.util.UUID.randomUUID();
            org.apache.flink.changelog.fs.StateChangeUploadScheduler.UploadTask a = task("a", offsets,
                    changes(logA, 0, StateChange.ofMetadataChange(new byte[7]), StateChange.ofDataChange(5, new byte[3]),
                            StateChange.ofDataChange(5, new byte[0]), StateChange.ofDataChange(127, new byte[2])),
                    changes(logA, 1, StateChange.ofDataChange(9, new byte[40])));
            org.apache.flink.changelog.fs.StateChangeUploadScheduler.UploadTask b = task("b", offsets,
                    changes(logB, 0, StateChange.ofDataChange(300, new byte[5])), changes(logB, 1));
            org.apache.flink.changelog.fs.StateChangeUploader.UploadTasksResult result = uploader.upload(List.of(a, b));
            result.complete();
            FileStateHandle file = (FileStateHandle) result.getStreamStateHandle();
            java.util.Set<Long> all = new java.util.TreeSet<>(offsets.get("a"));
            all.addAll(offsets.get("b"));
            assertThat(all).as("four change sets at offsets of their own").hasSize(4);

            assertThatCode(() -> new ChangelogCheck(128).check("f", file.getStateSize(), file, offsets.get("a"), all))
                    .doesNotThrowAnyException();
            assertThatCode(() -> new ChangelogCheck(512).check("f", file.getStateSize(), file, offsets.get("b"), all))
                    .doesNotThrowAnyException();
            assertThatThrownBy(() -> new ChangelogCheck(128).check("f", file.getStateSize(), file, offsets.get("b"), all))
                    .isInstanceOf(StateDecodingException.class).hasMessageContaining("key group 300");

            java.nio.file.Path written = java.nio.file.Paths.get(file.getFilePath().toUri());
            byte[] bytes = Files.readAllBytes(written);
            assertThat(bytes[0]).as("the compression flag").isEqualTo((byte) (compressed ? 1 : 0));
            Files.write(written, Arrays.copyOf(bytes, bytes.length - 1));
            assertThatThrownBy(() -> new ChangelogCheck(128).check("f", file.getStateSize(), file, offsets.get("a"), all))
                    .isInstanceOf(StateDecodingException.class);
        }
    }

    private static org.apache.flink.changelog.fs.StateChangeSet changes(java.util.UUID log, long sequenceNumber,
            StateChange... changes) {
        return new org.apache.flink.changelog.fs.StateChangeSet(log,
                org.apache.flink.runtime.state.changelog.SequenceNumber.of(sequenceNumber), List.of(changes));
    }

    /** An upload task of one task's change sets; its offsets go to {@code offsets} under {@code name} once uploaded. */
    private static org.apache.flink.changelog.fs.StateChangeUploadScheduler.UploadTask task(String name,
            java.util.Map<String, List<Long>> offsets, org.apache.flink.changelog.fs.StateChangeSet... changeSets) {
        return new org.apache.flink.changelog.fs.StateChangeUploadScheduler.UploadTask(List.of(changeSets),
                results -> offsets.put(name, results.stream().map(r -> r.offset).toList()),
                (sequenceNumbers, error) -> {
                    throw new AssertionError("upload failed", error);
                });
    }

    /** The three change sets of the class comment. */
    private static byte[] changeSets() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(2); // key groups: metadata first, as Flink writes it
        group(out, StateChange.META_KEY_GROUP, 5);
        group(out, 3, 4);
        out.writeInt(0);
        out.write(changeSet(new int[] {5, 120}, 3));
        out.flush();
        return bytes.toByteArray();
    }

    /** A change set of one change of {@code changeBytes} bytes in each of {@code keyGroups}. */
    private static byte[] changeSet(int[] keyGroups, int changeBytes) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(keyGroups.length);
        for (int kg : keyGroups) {
            group(out, kg, changeBytes);
        }
        out.flush();
        return bytes.toByteArray();
    }

    private static void group(DataOutputStream out, int keyGroup, int changeBytes) throws IOException {
        out.writeInt(1);
        out.writeInt(keyGroup);
        out.writeInt(changeBytes);
        out.write(new byte[changeBytes]);
    }

    /** A changelog file: the flag, then the change sets, compressed as Flink compresses them. */
    private static byte[] file(boolean compressed, byte[] changeSets) throws IOException {
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(compressed ? 1 : 0);
        if (compressed) {
            try (OutputStream out = SnappyStreamCompressionDecorator.INSTANCE.decorateWithCompression(file)) {
                out.write(changeSets);
            }
        } else {
            file.write(changeSets);
        }
        return file.toByteArray();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static StreamStateHandle handle(byte[] bytes) {
        return new ByteStreamStateHandle("changes", bytes);
    }
}
