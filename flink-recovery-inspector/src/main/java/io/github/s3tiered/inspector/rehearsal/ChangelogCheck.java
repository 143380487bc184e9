package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;
import org.apache.flink.runtime.state.changelog.StateChange;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.xerial.snappy.SnappyFramedInputStream;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads the files of the changelog state backend's changes since its last materialization as
 * Flink's changelog storage writes them ({@code flink-dstl-dfs}: {@code StateChangeFsUploader},
 * {@code StateChangeFormat}): one flag byte (1: the rest is Snappy-framed, 0: it is not), then
 * change sets back to back, of every task whose changes one upload batched. A change set is the
 * number of its key groups, then per key group the number of changes and the key group, then each
 * change as a length and that many bytes. {@code _metadata} records, as the file's size, the bytes
 * after the flag counted before compression, and as each change set's offset its first byte in
 * those same bytes ({@code ChangelogStreamWrapper} skips that many after the flag).
 *
 * <p>Checked here: the flag; each change set the handle names, read at its offset as Flink's
 * restore reads it (one change set at each), with key groups of its operator or the metadata's;
 * the change sets read from the first byte, which end exactly at the recorded size and the file
 * there, and every recorded offset at the start of one (an offset inside one reads bytes of the
 * wrong kind); in a compressed file every Snappy chunk's checksum, which Flink's reader ignores.
 * The file also holds change sets of other tasks one upload batched, of operators with other
 * numbers of key groups: those are held only to any operator's, and the offsets their handles
 * record must start change sets too. Damage anywhere in the file fails it. A handle that records
 * its size holds change sets of its own key groups only, whose changes' bytes add up to that size
 * (Flink's {@code FsStateChangelogWriter}); a rescaled restore narrows the handles it keeps
 * referring to, until the next materialization, to size 0 ("unknown"), and their change sets,
 * of the old, wider ranges, are not held to the subtask's. The changes' bytes (state operations
 * in the backend's serialization) are not decoded.
 */
final class ChangelogCheck {

    private static final int FLAG_UNCOMPRESSED = 0;
    private static final int FLAG_COMPRESSED = 1;

    private final int maxParallelism;
    /** Every offset any handle of the checkpoint records, by file: each must start a change set. */
    private final Map<String, ? extends Collection<Long>> checkpointOffsets;

    ChangelogCheck(int maxParallelism, Map<String, ? extends Collection<Long>> checkpointOffsets) {
        this.maxParallelism = maxParallelism;
        this.checkpointOffsets = checkpointOffsets;
    }

    ChangelogCheck(int maxParallelism) {
        this(maxParallelism, Map.of());
    }

    /** The offsets every changelog handle of {@code metadata} records, by file (as {@link LocalizedHandles#describe} names it). */
    static Map<String, Set<Long>> offsetsOf(org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata metadata) {
        Map<String, Set<Long>> all = new java.util.HashMap<>();
        for (org.apache.flink.runtime.checkpoint.OperatorState op : metadata.getOperatorStates()) {
            for (org.apache.flink.runtime.checkpoint.OperatorSubtaskState s : op.getStates()) {
                for (KeyedStateHandle h : concat(s.getManagedKeyedState(), s.getRawKeyedState())) {
                    if (h instanceof ChangelogStateBackendHandle changelog) {
                        for (ChangelogStateHandle delta : changelog.getNonMaterializedStateHandles()) {
                            if (delta instanceof ChangelogStateHandleStreamImpl stream) {
                                stream.getHandlesAndOffsets().forEach(t -> all.computeIfAbsent(LocalizedHandles.describe(t.f0),
                                        k -> new java.util.HashSet<>()).add(t.f1));
                            }
                        }
                    }
                }
            }
        }
        return all;
    }

    private static List<KeyedStateHandle> concat(Collection<KeyedStateHandle> a, Collection<KeyedStateHandle> b) {
        List<KeyedStateHandle> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    /**
     * Checks every file {@code handle} names, each against all offsets the handle records in it.
     * Each file's outcome goes to {@code findings}: a file that fails does not stop the others.
     */
    void check(ChangelogStateHandleStreamImpl handle, LocalFiles local, Findings findings, RehearsalContext ctx) {
        Map<String, List<Long>> offsetsByFile = new LinkedHashMap<>();
        Map<String, StreamStateHandle> handles = new LinkedHashMap<>();
        for (Tuple2<StreamStateHandle, Long> t : handle.getHandlesAndOffsets()) {
            String name = LocalizedHandles.describe(t.f0);
            offsetsByFile.computeIfAbsent(name, n -> new ArrayList<>()).add(t.f1);
            handles.putIfAbsent(name, t.f0);
        }
        // Flink records a handle's size as the bytes of the changes of its change sets (0 once a
        // rescale narrowed it: unknown), all of its own key groups; a handle with a size is checked
        // against both, so that an offset moved onto another task's change set in a batched file
        // (which reads as well as its own) is not restored as this task's changes
        boolean sized = handle.getStateSize() > 0;
        long payload = 0;
        boolean allRead = true;
        for (Map.Entry<String, StreamStateHandle> e : handles.entrySet()) {
            StreamStateHandle remote = e.getValue();
            try {
                List<Long> own = offsetsByFile.get(e.getKey());
                Set<Long> named = new TreeSet<>(own);
                Collection<Long> others = checkpointOffsets.get(e.getKey());
                if (others != null) {
                    named.addAll(others);
                }
                payload += check(e.getKey(), remote.getStateSize(), LocalizedHandles.localize(remote, local), own, named,
                        sized ? handle.getKeyGroupRange() : null);
                findings.proved(remote, Proof.DECODED,
                        "change sets read at their offsets and to the recorded size (changes not decoded)");
            } catch (StateDecodingException failure) {
                allRead = false;
                if (failure.damage()) {
                    findings.failed(LocalizedHandles.fileOf(remote).map(Object::toString).orElse(ctx.metadataFile()),
                            failure.getMessage());
                } else {
                    findings.note(failure.getMessage());
                }
            }
        }
        if (sized && allRead && payload != handle.getStateSize()) {
            findings.failed(ctx.metadataFile(), "a changelog handle of key groups " + handle.getKeyGroupRange().getStartKeyGroup()
                    + "-" + handle.getKeyGroupRange().getEndKeyGroup() + " records " + handle.getStateSize() + " bytes of"
                    + " changes, its change sets hold " + payload + " (Flink records the sum of their changes' bytes): an"
                    + " offset points at another change set than the one written for it");
        }
    }

    /** As below, with no offsets of other handles in the file. */
    void check(String what, long recorded, StreamStateHandle localCopy, List<Long> offsets) throws StateDecodingException {
        check(what, recorded, localCopy, offsets, new TreeSet<>(offsets), null);
    }

    /** As below, without a key-group range for the handle's own change sets. */
    long check(String what, long recorded, StreamStateHandle localCopy, List<Long> offsets, Set<Long> named)
            throws StateDecodingException {
        return check(what, recorded, localCopy, offsets, named, null);
    }

    /**
     * Reads one file whose recorded size is {@code recorded}, whose change sets at {@code offsets}
     * are the handle's own and at {@code named} (a superset) any handle's of the checkpoint;
     * throws on the first contradiction. With {@code ownRange}, the handle's own change sets hold
     * no key group outside it. Returns the bytes of the changes of the handle's own change sets.
     */
    long check(String what, long recorded, StreamStateHandle localCopy, List<Long> offsets, Set<Long> named,
            org.apache.flink.runtime.state.KeyGroupRange ownRange) throws StateDecodingException {
        long fileLength = lengthOf(localCopy, what);
        if (fileLength < 1) {
            throw damage(what + ": the changelog file is empty (it starts with a compression flag)");
        }
        boolean compressed;
        try (FSDataInputStream in = localCopy.openInputStream()) {
            int flag = in.read();
            if (flag == FLAG_UNCOMPRESSED && fileLength - 1 != recorded) {
                throw damage(what + ": the uncompressed changelog file holds " + (fileLength - 1)
                        + " bytes after its flag byte, _metadata records " + recorded);
            }
            if (flag != FLAG_UNCOMPRESSED && flag != FLAG_COMPRESSED) {
                throw damage(what + ": the changelog file starts with flag byte " + flag + ", Flink writes "
                        + FLAG_UNCOMPRESSED + " or " + FLAG_COMPRESSED);
            }
            compressed = flag == FLAG_COMPRESSED;
            if (compressed) {
                // Flink's restore decompresses the whole file (ChangelogStreamHandleReaderWithCache)
                // without checking a chunk: a damaged chunk anywhere is read as other bytes, or fails it
                SnappyFrames.verify(in, 1, fileLength, what);
            }
        } catch (IOException e) {
            throw readFailure(e, what, recorded);
        }

        // each change set this handle names, read at its offset as Flink's restore reads it
        // (StateChangeIteratorImpl: one change set at each), with this operator's key groups
        long[] payload = {0};
        for (long offset : offsets) {
            if (offset < 0 || offset >= recorded) {
                throw damage(what + ": _metadata records a change set at byte " + offset + ", outside the file's "
                        + recorded + " bytes");
            }
            try (FSDataInputStream in = localCopy.openInputStream(); DataInputStream changes = changesFrom(in, compressed)) {
                changes.skipNBytes(offset);
                readChangeSet(what, offset, recorded, changes, maxParallelism, ownRange, payload);
            } catch (IOException e) {
                throw readFailure(e, what, recorded);
            }
        }

        // the whole file from its first byte: the change sets of every task one upload batched
        // (operators of other key-group counts too), to tell where each starts and where they end
        TreeSet<Long> starts = new TreeSet<>();
        long end = 0;
        try (FSDataInputStream in = localCopy.openInputStream(); DataInputStream changes = changesFrom(in, compressed)) {
            while (end < recorded) {
                starts.add(end);
                end = readChangeSet(what, end, recorded, changes, KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM, null,
                        new long[1]);
            }
            if (compressed && changes.read() >= 0) {
                throw damage(what + ": the compressed changelog file holds more than the " + recorded
                        + " bytes _metadata records");
            }
        } catch (IOException e) {
            // Damage anywhere fails the file, also past every change set the checkpoint names: a
            // count changed in a named one can make it end early and still read, and only the scan
            // that follows then trips, on the bytes it left out (which the restore would drop).
            throw readFailure(e, what, recorded);
        }
        requireStarts(what, recorded, named, starts);
        return payload[0];
    }

    /** Every offset at the start of a change set (offsets inside one read bytes of the wrong kind). */
    private static void requireStarts(String what, long recorded, Collection<Long> offsets, TreeSet<Long> starts)
            throws StateDecodingException {
        for (long offset : offsets) {
            if (!starts.contains(offset)) {
                throw damage(what + ": _metadata records a change set at byte " + offset + ", which is inside the one"
                        + " starting at byte " + starts.floor(offset) + " (change sets start at " + summary(starts) + ")");
            }
        }
    }

    private static DataInputStream changesFrom(FSDataInputStream in, boolean compressed) throws IOException {
        in.seek(1);
        InputStream bytes = new BufferedInputStream(in);
        return new DataInputStream(compressed ? new SnappyFramedInputStream(bytes, true) : bytes);
    }

    private static StateDecodingException readFailure(IOException e, String what, long recorded) {
        if (e instanceof StateDecodingException sde) {
            return sde;
        }
        if (e instanceof EOFException) {
            return damage(what + ": the changelog file ends before the " + recorded + " bytes _metadata records");
        }
        return new StateDecodingException(what + ": reading the changelog file failed: " + e, false, e);
    }

    /**
     * Reads the change set at {@code start} (as Flink's {@code StateChangeFormat} writes it) from
     * {@code in}, positioned there; returns where it ends. Key groups must be below {@code keyGroups},
     * or the metadata's, and within {@code ownRange} when given; the bytes of its changes are added
     * to {@code payload[0]}.
     */
    private static long readChangeSet(String what, long start, long recorded, DataInputStream in, int keyGroups,
            org.apache.flink.runtime.state.KeyGroupRange ownRange, long[] payload) throws IOException {
        long pos = start;
        int groups = readInt(in, what, start, pos, recorded, "number of key groups");
        pos += Integer.BYTES;
        // each key group takes at least its two ints and one change's length
        if (groups < 0 || groups > (recorded - pos) / (3 * Integer.BYTES)) {
            throw damage(what + ": the change set at byte " + start + " has " + groups + " key groups, "
                    + (recorded - pos) + " bytes before the recorded end");
        }
        for (int g = 0; g < groups; g++) {
            int changes = readInt(in, what, start, pos, recorded, "number of changes");
            int keyGroup = readInt(in, what, start, pos + Integer.BYTES, recorded, "key group");
            pos += 2 * Integer.BYTES;
            if (keyGroup != StateChange.META_KEY_GROUP && (keyGroup < 0 || keyGroup >= keyGroups)) {
                throw damage(what + ": the change set at byte " + start + " has changes of key group " + keyGroup
                        + ", outside the " + keyGroups + " key groups" + (keyGroups
                                == KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM ? " of any operator" : " of its operator"));
            }
            if (ownRange != null && keyGroup != StateChange.META_KEY_GROUP && !ownRange.contains(keyGroup)) {
                throw damage(what + ": the change set at byte " + start + " has changes of key group " + keyGroup
                        + ", outside its handle's key groups " + ownRange.getStartKeyGroup() + "-" + ownRange.getEndKeyGroup()
                        + " (another task's change set: Flink's restore would skip its changes, and lose this task's)");
            }
            // Flink writes a key group only with changes (and its reader misreads one without)
            if (changes < 1 || changes > (recorded - pos) / Integer.BYTES) {
                throw damage(what + ": the change set at byte " + start + " has " + changes + " changes in key group "
                        + keyGroup + ", " + (recorded - pos) + " bytes before the recorded end");
            }
            for (int c = 0; c < changes; c++) {
                int length = readInt(in, what, start, pos, recorded, "change length");
                pos += Integer.BYTES;
                if (length < 0 || length > recorded - pos) {
                    throw damage(what + ": a change of " + length + " bytes at byte " + pos + " (change set at byte "
                            + start + ") runs past the recorded end at byte " + recorded);
                }
                in.skipNBytes(length);
                pos += length;
                payload[0] += length;
            }
        }
        return pos;
    }

    private static int readInt(DataInputStream in, String what, long changeSet, long pos, long recorded, String field)
            throws IOException {
        if (pos + Integer.BYTES > recorded) {
            throw damage(what + ": the " + field + " at byte " + pos + " (change set at byte " + changeSet
                    + ") runs past the recorded end at byte " + recorded);
        }
        return in.readInt();
    }

    private static long lengthOf(StreamStateHandle localCopy, String what) throws StateDecodingException {
        try {
            if (localCopy instanceof ByteStreamStateHandle bytes) {
                return bytes.getData().length;
            }
            if (localCopy instanceof FileStateHandle file) {
                return file.getFilePath().getFileSystem().getFileStatus(file.getFilePath()).getLen();
            }
        } catch (IOException e) {
            throw new StateDecodingException(what + ": reading the changelog file's length failed: " + e, false, e);
        }
        throw new StateDecodingException(what + ": a changelog file in a " + localCopy.getClass().getSimpleName()
                + " cannot be read here", false, null);
    }

    private static String summary(TreeSet<Long> starts) {
        if (starts.size() <= 8) {
            return starts.toString();
        }
        List<Long> all = new ArrayList<>(starts);
        return all.subList(0, 8) + " and " + (all.size() - 8) + " more";
    }

    private static StateDecodingException damage(String message) {
        return new StateDecodingException(message, true, null);
    }
}
