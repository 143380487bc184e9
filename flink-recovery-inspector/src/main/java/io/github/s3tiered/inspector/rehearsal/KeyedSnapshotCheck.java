package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.base.ListSerializer;
import org.apache.flink.api.common.typeutils.base.MapSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataInputViewStreamWrapper;
import org.apache.flink.runtime.state.CompositeKeySerializationUtils;
import org.apache.flink.runtime.state.FullSnapshotUtil;
import org.apache.flink.runtime.state.KeyGroupPartitioner;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.Keyed;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.ListDelimitedSerializer;
import org.apache.flink.runtime.state.SnappyStreamCompressionDecorator;
import org.apache.flink.runtime.state.StateSerializerProvider;
import org.apache.flink.runtime.state.StateSnapshotKeyGroupReader;
import org.apache.flink.runtime.state.StreamCompressionDecorator;
import org.apache.flink.runtime.state.UncompressedStreamCompressionDecorator;
import org.apache.flink.runtime.state.metainfo.StateMetaInfoSnapshot;
import org.apache.flink.runtime.state.restore.FullSnapshotRestoreOperation;
import org.apache.flink.runtime.state.restore.KeyGroup;
import org.apache.flink.runtime.state.restore.KeyGroupEntry;
import org.apache.flink.runtime.state.restore.SavepointRestoreResult;
import org.apache.flink.runtime.state.restore.ThrowingIterator;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Restores a keyed state file written as a whole snapshot, as the backend that restores it would,
 * and throws the restored state away key group by key group (memory stays bounded by one entry):
 *
 * <ul>
 *   <li>a hashmap (heap) backend snapshot: {@code HeapRestoreOperation}'s loop, with its readers
 *       ({@link KeyGroupPartitioner#createKeyGroupPartitionReader}) and the restored serializers;
 *   <li>a full snapshot (canonical savepoint, or RocksDB without incremental checkpoints): Flink's
 *       {@link FullSnapshotRestoreOperation}, each entry decoded as {@code
 *       HeapSavepointRestoreOperation} decodes it (key group, key, namespace, value by state type).
 * </ul>
 *
 * Both formats are stricter here than in Flink where Flink wrote the file so: a key group's data
 * ends where the next one starts, an entry's key group prefix is its key group, every entry's key
 * belongs to its key group (a heap restore fails on a timer whose key does not), and every byte of
 * an entry is consumed by its serializers.
 */
final class KeyedSnapshotCheck {

    private final RehearsalContext ctx;
    /** See {@link #check(KeyGroupsStateHandle, int, boolean)}. */
    private boolean narrowable;
    /** Bytes of the key-group prefix of a full snapshot's keys, for the operator's max parallelism. */
    private int prefixBytes;
    /** Whether the snapshot's key groups are compressed. */
    private boolean compressed;

    KeyedSnapshotCheck(RehearsalContext ctx) {
        this.ctx = ctx;
    }

    /**
     * Decodes the snapshot; returns which format it was.
     *
     * @param handle the handle, reading local files
     * @param maxParallelism the operator's, for the key group prefix width of full snapshots
     */
    String check(KeyGroupsStateHandle handle, int maxParallelism) throws Exception {
        return check(handle, maxParallelism, false);
    }

    /**
     * As {@link #check(KeyGroupsStateHandle, int)}; {@code narrowable}: a handle that may hold only
     * a share of its file's key groups. The changelog backend writes its last materialization's
     * handles again in every checkpoint until the next one, as it restored them: after a rescale, a
     * heap (or full) snapshot of an old subtask narrowed to the new subtask's share
     * ({@code KeyGroupsStateHandle#getIntersection}). Key groups of the file before the first one
     * named, or after the last one, are then no damage; the named ones are held to everything else.
     */
    String check(KeyGroupsStateHandle handle, int maxParallelism, boolean narrowable) throws Exception {
        this.narrowable = narrowable;
        this.prefixBytes = CompositeKeySerializationUtils.computeRequiredBytesInKeyGroupPrefix(maxParallelism);
        KeyedStateSerializers serializers;
        long metaDataEnd;
        try (FSDataInputStream in = handle.openInputStream()) {
            KeyedBackendSerializationProxy<Object> proxy = new KeyedBackendSerializationProxy<>(ctx.classLoader());
            proxy.read(new DataInputViewStreamWrapper(in));
            serializers = KeyedStateSerializers.restore(proxy);
            metaDataEnd = in.getPos();
        }
        this.compressed = serializers.compressed;
        if (handle.getKeyGroupRange().getNumberOfKeyGroups() == 0) {
            return "no key groups";
        }
        boolean heap = !(handle instanceof KeyGroupsSavepointStateHandle) && isHeapSnapshot(handle);
        requireFirstKeyGroupAfterMetaData(handle, metaDataEnd, heap);
        if (heap) {
            if (serializers.compressed) {
                verifyCompressedKeyGroups(handle, true);
            }
            readHeapSnapshot(handle, serializers, maxParallelism);
            return serializers.compressed ? "hashmap backend snapshot, compressed (Snappy checksums checked)"
                    : "hashmap backend snapshot";
        }
        if (serializers.compressed) {
            verifyCompressedKeyGroups(handle, false);
        }
        readFullSnapshot(handle, serializers, maxParallelism);
        String format = handle instanceof KeyGroupsSavepointStateHandle ? "canonical savepoint" : "full snapshot";
        return serializers.compressed ? format + ", compressed (Snappy checksums checked)" : format;
    }

    /** The key groups and their offsets in the file: a heap snapshot's all, a full snapshot's but the empty ones (offset 0). */
    private static List<Tuple2<Integer, Long>> keyGroupsWithData(KeyGroupsStateHandle handle, boolean heap) {
        List<Tuple2<Integer, Long>> groups = new ArrayList<>();
        for (Tuple2<Integer, Long> g : handle.getGroupRangeOffsets()) {
            if (heap || g.f1 != 0) {
                groups.add(g);
            }
        }
        return groups;
    }

    /**
     * Compressed key groups ({@link SnappyFrames}): a heap snapshot writes each key group's id, then
     * a framed stream for each of its states; a full snapshot a framed stream from the recorded
     * offset (0 for an empty key group). Each key group's frames run to where the next one starts,
     * the last to the end of the file.
     */
    private void verifyCompressedKeyGroups(KeyGroupsStateHandle handle, boolean heap) throws Exception {
        List<Tuple2<Integer, Long>> groups = keyGroupsWithData(handle, heap);
        long streamEnd = handle.getDelegateStateHandle().getStateSize();
        try (FSDataInputStream in = handle.openInputStream()) {
            for (int i = 0; i < groups.size(); i++) {
                Tuple2<Integer, Long> group = groups.get(i);
                long end = i + 1 < groups.size() ? groups.get(i + 1).f1 : streamEnd;
                if (i + 1 == groups.size() && narrowable) {
                    if (heap) {
                        break; // key groups it does not name may follow: its frames are checked as they are read
                    }
                    // one framed stream a key group: it ends where the next stream starts, a later key group's
                    end = SnappyFrames.streamEnd(in, group.f1, streamEnd, "key group " + group.f0);
                    if (end < streamEnd) {
                        requireLaterKeyGroup(handle, end, streamEnd, group.f0);
                    }
                }
                long start = group.f1 + (heap ? Integer.BYTES : 0);
                if (end < start) {
                    throw new StateDecodingException("key group " + group.f0 + " starts at byte " + group.f1
                            + ", not before the data that follow it at byte " + end, true, null);
                }
                SnappyFrames.verify(in, start, end, "key group " + group.f0, !heap); // full: one stream a key group
            }
        }
    }

    /**
     * A heap snapshot starts every key group with its id at the recorded offset; a full snapshot
     * records offset 0 for empty key groups and starts the others with a state id.
     */
    private static boolean isHeapSnapshot(KeyGroupsStateHandle handle) throws Exception {
        for (Tuple2<Integer, Long> g : handle.getGroupRangeOffsets()) {
            if (g.f1 == 0) {
                return false;
            }
        }
        // Every key group's id at its offset, not the first one's only: a full snapshot starts each
        // key group with a state id (a short) and a key's length (an int), which read as the int 0
        // where state id 0 has a short key, so the subtask of key group 0 with every key group
        // filled read as a heap snapshot and failed at key group 1 (a false alarm).
        try (FSDataInputStream in = handle.openInputStream()) {
            DataInputViewStreamWrapper view = new DataInputViewStreamWrapper(in);
            long size = handle.getDelegateStateHandle().getStateSize();
            for (Tuple2<Integer, Long> g : handle.getGroupRangeOffsets()) {
                if (g.f1 + Integer.BYTES > size) {
                    return false;
                }
                in.seek(g.f1);
                if (view.readInt() != g.f0) {
                    return false;
                }
            }
            return true;
        }
    }

    private void readHeapSnapshot(KeyGroupsStateHandle handle, KeyedStateSerializers s, int maxParallelism) throws Exception {
        StateSnapshotKeyGroupReader[] readers = new StateSnapshotKeyGroupReader[s.states.size()];
        for (int i = 0; i < readers.length; i++) {
            KeyedStateSerializers.State state = s.states.get(i);
            if (state.kind() == StateMetaInfoSnapshot.BackendStateType.KEY_VALUE) {
                TypeSerializer<Object> ns = state.namespace();
                TypeSerializer<Object> value = state.value();
                readers[i] = KeyGroupPartitioner.createKeyGroupPartitionReader(in -> {
                    ns.deserialize(in);
                    Object key = s.key.deserialize(in);
                    value.deserialize(in);
                    return key;
                }, (key, keyGroup) -> requireKeyGroup(key, keyGroup, maxParallelism, state));
            } else {
                TypeSerializer<Object> element = state.value();
                readers[i] = KeyGroupPartitioner.createKeyGroupPartitionReader(element::deserialize,
                        (e, keyGroup) -> requireKeyGroup(keyOf(e), keyGroup, maxParallelism, state));
            }
        }
        StreamCompressionDecorator compression = s.compressed
                ? SnappyStreamCompressionDecorator.INSTANCE
                : UncompressedStreamCompressionDecorator.INSTANCE;
        try (FSDataInputStream in = handle.openInputStream()) {
            long streamEnd = handle.getDelegateStateHandle().getStateSize();
            Iterator<Tuple2<Integer, Long>> groups = handle.getGroupRangeOffsets().iterator();
            Tuple2<Integer, Long> next = groups.hasNext() ? groups.next() : null;
            while (next != null) {
                Tuple2<Integer, Long> group = next;
                next = groups.hasNext() ? groups.next() : null;
                in.seek(group.f1);
                int written = new DataInputViewStreamWrapper(in).readInt();
                if (written != group.f0) {
                    throw new StateDecodingException("key group " + group.f0 + " at byte " + group.f1 + " holds key group "
                            + written, true, null);
                }
                long end = next == null ? streamEnd : next.f1;
                // compressed: the key group's own frames (checked by SnappyFrames.verify), to be read to their end
                try (InputStream kgIn = s.compressed
                        ? SnappyFrames.element(in, group.f1 + Integer.BYTES, group.f1 + Integer.BYTES, end, "key group " + group.f0)
                        : compression.decorateWithCompression(in)) {
                    DataInputViewStreamWrapper view = new DataInputViewStreamWrapper(kgIn);
                    // Flink writes every state once in every key group (HeapSnapshotStrategy): an id
                    // seen twice is another state's entries that Flink would restore into this one
                    boolean[] seen = new boolean[readers.length];
                    for (int i = 0; i < readers.length; i++) {
                        int stateId = view.readShort();
                        if (stateId < 0 || stateId >= readers.length) {
                            throw new StateDecodingException("key group " + group.f0 + " names state id " + stateId + " of "
                                    + readers.length, true, null);
                        }
                        if (seen[stateId]) {
                            throw new StateDecodingException("key group " + group.f0 + " names state id " + stateId + " ('"
                                    + s.states.get(stateId).name() + "') twice", true, null);
                        }
                        seen[stateId] = true;
                        readers[stateId].readMappingsInKeyGroup(view, group.f0);
                    }
                    // (a narrowed share's last key group: later key groups follow, not read)
                    if (!(next == null && narrowable) && kgIn instanceof SnappyFrames.Element element && !element.exhausted()) {
                        throw new StateDecodingException("key group " + group.f0 + " holds more than its " + readers.length
                                + " states after " + element.consumed() + " uncompressed bytes", true, null);
                    }
                }
                if (!s.compressed) {
                    if (in.getPos() != end && !(next == null && narrowable && followedByKeyGroup(in, group.f0 + 1, end))) {
                        throw new StateDecodingException("key group " + group.f0 + " ends at byte " + in.getPos()
                                + ", the next data start at byte " + end, true, null);
                    }
                }
            }
        }
    }

    /** Whether key group {@code id} of a heap snapshot starts at the stream's position, before {@code end}. */
    private static boolean followedByKeyGroup(FSDataInputStream in, int id, long end) throws IOException {
        return in.getPos() + Integer.BYTES <= end && new DataInputViewStreamWrapper(in).readInt() == id;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void readFullSnapshot(KeyGroupsStateHandle handle, KeyedStateSerializers s, int maxParallelism) throws Exception {
        if (!s.compressed) {
            requireKeyGroupsBackToBack(handle);
        }
        StateSerializerProvider<Object> keys = StateSerializerProvider.fromNewRegisteredSerializer(s.key);
        FullSnapshotRestoreOperation<Object> restore = new FullSnapshotRestoreOperation<>(handle.getKeyGroupRange(),
                ctx.classLoader(), List.<KeyedStateHandle>of(handle), keys);
        int prefixBytes = CompositeKeySerializationUtils.computeRequiredBytesInKeyGroupPrefix(maxParallelism);
        DataInputDeserializer keyIn = new DataInputDeserializer();
        DataInputDeserializer valueIn = new DataInputDeserializer();
        ListDelimitedSerializer lists = new ListDelimitedSerializer();
        try (ThrowingIterator<SavepointRestoreResult> results = restore.restore()) {
            while (results.hasNext()) {
                SavepointRestoreResult result = results.next();
                try (ThrowingIterator<KeyGroup> groups = result.getRestoredKeyGroups()) {
                    while (groups.hasNext()) {
                        KeyGroup group = groups.next();
                        // each state's entries of a key group come as one block (RocksDB's merge
                        // iterator and the heap backend's iterator alike; not always in id order)
                        java.util.BitSet ended = new java.util.BitSet();
                        int current = -1;
                        try (ThrowingIterator<KeyGroupEntry> entries = group.getKeyGroupEntries()) {
                            while (entries.hasNext()) {
                                KeyGroupEntry e = entries.next();
                                if (e.getKvStateId() < 0 || e.getKvStateId() >= s.states.size()) {
                                    throw new StateDecodingException("key group " + group.getKeyGroupId() + " names state id "
                                            + e.getKvStateId() + " of " + s.states.size(), true, null);
                                }
                                if (e.getKvStateId() != current) {
                                    if (ended.get(e.getKvStateId())) {
                                        throw new StateDecodingException("key group " + group.getKeyGroupId() + " holds"
                                                + " entries of state id " + e.getKvStateId() + " ('"
                                                + s.states.get(e.getKvStateId()).name() + "') in two places", true, null);
                                    }
                                    if (current >= 0) {
                                        ended.set(current);
                                    }
                                    current = e.getKvStateId();
                                }
                                KeyedStateSerializers.State state = s.states.get(e.getKvStateId());
                                keyIn.setBuffer(e.getKey());
                                valueIn.setBuffer(e.getValue());
                                int keyGroup = CompositeKeySerializationUtils.readKeyGroup(prefixBytes, keyIn);
                                if (keyGroup != group.getKeyGroupId()) {
                                    throw new StateDecodingException("an entry of state '" + state.name() + "' in key group "
                                            + group.getKeyGroupId() + " has the key group prefix " + keyGroup, true, null);
                                }
                                decodeEntry(state, s.key, keyIn, valueIn, e.getValue(), lists, keyGroup, maxParallelism);
                                if (keyIn.available() > 0) {
                                    throw new StateDecodingException("an entry of state '" + state.name() + "' in key group "
                                            + keyGroup + " has " + keyIn.available() + " key bytes its serializers do not read",
                                            true, null);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * A full snapshot (RocksDB full, canonical savepoints) writes its key groups back to back in
     * key-group order, each a state id, its key/value pairs and, after a pair whose key carries the
     * "metadata follows" bit, the next state id or the end-of-key-group mark. Flink's restore reads
     * from each recorded offset to that mark, so an offset moved onto another state's section of the
     * same key group restores the key group without the entries it skipped, and without failing:
     * each key group must end exactly where the next one starts, the last at the end of the file.
     * (Compressed key groups are framed by the compression stream: not checked here.)
     */
    private void requireKeyGroupsBackToBack(KeyGroupsStateHandle handle) throws Exception {
        List<Tuple2<Integer, Long>> groups = keyGroupsWithData(handle, false);
        long streamEnd = handle.getDelegateStateHandle().getStateSize();
        try (FSDataInputStream in = handle.openInputStream()) {
            for (int i = 0; i < groups.size(); i++) {
                Tuple2<Integer, Long> group = groups.get(i);
                long end = i + 1 < groups.size() ? groups.get(i + 1).f1 : streamEnd;
                if (end <= group.f1) {
                    throw new StateDecodingException("key group " + group.f0 + " starts at byte " + group.f1
                            + ", not before the data that follow it at byte " + end, true, null);
                }
                in.seek(group.f1);
                // each read is checked against 'end' before it is made: buffering past it is harmless
                DataInputStream view = new DataInputStream(new BufferedInputStream(in, 64 * 1024));
                long pos = group.f1 + 2;
                view.readShort(); // the first state id
                while (true) {
                    int keyLength = view.readInt();
                    if (keyLength < 1 || keyLength > end - pos - 4) {
                        throw new StateDecodingException("key group " + group.f0 + " has a key of " + keyLength
                                + " bytes at byte " + pos + " (its data end at byte " + end + ")", true, null);
                    }
                    int flags = view.readUnsignedByte();
                    view.skipNBytes(keyLength - 1);
                    pos += 4 + keyLength;
                    int valueLength = view.readInt();
                    if (valueLength < 0 || valueLength > end - pos - 4) {
                        throw new StateDecodingException("key group " + group.f0 + " has a value of " + valueLength
                                + " bytes at byte " + pos + " (its data end at byte " + end + ")", true, null);
                    }
                    view.skipNBytes(valueLength);
                    pos += 4 + valueLength;
                    if ((flags & FullSnapshotUtil.FIRST_BIT_IN_BYTE_MASK) != 0) {
                        int next = view.readUnsignedShort();
                        pos += 2;
                        if (next == FullSnapshotUtil.END_OF_KEY_GROUP_MARK) {
                            break;
                        }
                    }
                }
                if (pos != end && !(narrowable && i + 1 == groups.size() && pos < end
                        && laterKeyGroup(handle, pos, end, group.f0))) {
                    throw new StateDecodingException("key group " + group.f0 + " ends at byte " + pos
                            + ", the next data start at byte " + end, true, null);
                }
            }
        } catch (EOFException e) {
            throw new StateDecodingException("a key group runs past the data recorded for it: " + e, true, null);
        }
    }

    /**
     * Both formats write the first key group right after the meta data; a first offset moved
     * further restores that key group without what it skipped (the checks of each key group's end
     * cannot see it: nothing precedes the first).
     */
    private void requireFirstKeyGroupAfterMetaData(KeyGroupsStateHandle handle, long metaDataEnd, boolean heap)
            throws Exception {
        for (Tuple2<Integer, Long> g : handle.getGroupRangeOffsets()) {
            if (g.f1 != 0) { // 0: an empty key group of a full snapshot
                if (g.f1 != metaDataEnd && !(narrowable && g.f1 > metaDataEnd && keyGroupsBefore(handle, metaDataEnd,
                        g.f0, heap))) {
                    throw new StateDecodingException("key group " + g.f0 + ", the first with data, is recorded at byte "
                            + g.f1 + ", but the meta data before it ends at byte " + metaDataEnd, true, null);
                }
                return;
            }
        }
        // No key group has data: a full snapshot (RocksDB, canonical savepoints) then ends with its
        // meta data. Flink restores a key group whose offset is 0 as empty, without reading on, so
        // the offsets of a subtask's key groups set to 0 (one 8-byte field where it had one key
        // group with data) restore it without its state and timers, and without an error.
        long streamEnd = handle.getDelegateStateHandle().getStateSize();
        if (streamEnd != metaDataEnd) {
            KeyGroupRange range = handle.getKeyGroupRange();
            int following = narrowable ? firstKeyGroupOfFullSnapshotData(handle, metaDataEnd, streamEnd) : -1;
            if (following >= 0 && !range.contains(following)) {
                return; // key groups of the file that this narrowed handle does not name
            }
            throw new StateDecodingException("no key group of " + range + " has data recorded (every offset is 0),"
                    + " but " + (streamEnd - metaDataEnd) + " bytes follow the meta data at byte " + metaDataEnd
                    + ": Flink would restore every key group empty", true, null);
        }
    }

    /**
     * Whether what follows the meta data can be key groups before {@code first} that the handle does
     * not name: the first one there must be lower, by the id a heap snapshot starts each key group
     * with, or by the key-group prefix of a full snapshot's first entry.
     */
    private boolean keyGroupsBefore(KeyGroupsStateHandle handle, long metaDataEnd, int first, boolean heap)
            throws IOException {
        int id;
        if (heap) {
            try (FSDataInputStream in = handle.openInputStream()) {
                in.seek(metaDataEnd);
                id = new DataInputViewStreamWrapper(in).readInt();
            }
        } else {
            id = firstKeyGroupOfFullSnapshotData(handle, metaDataEnd, handle.getDelegateStateHandle().getStateSize());
        }
        return id >= 0 && id < first;
    }

    /** Whether the full snapshot's data at {@code at} are of a key group after {@code last}. */
    private boolean laterKeyGroup(KeyGroupsStateHandle handle, long at, long end, int last) throws IOException {
        return firstKeyGroupOfFullSnapshotData(handle, at, end) > last;
    }

    private void requireLaterKeyGroup(KeyGroupsStateHandle handle, long at, long end, int last) throws IOException {
        if (!laterKeyGroup(handle, at, end, last)) {
            throw new StateDecodingException("key group " + last + ", the last its handle names, is followed at byte " + at
                    + " by data that are not of a later key group", true, null);
        }
    }

    /**
     * The key group of the first entry of a full snapshot's data starting at {@code at} (a state id,
     * then the key, whose first bytes are its key group, the top bit a flag); -1 when the bytes
     * there are no such entry.
     */
    private int firstKeyGroupOfFullSnapshotData(KeyGroupsStateHandle handle, long at, long end) throws IOException {
        try (FSDataInputStream in = handle.openInputStream()) {
            in.seek(at);
            InputStream data = compressed ? SnappyFrames.element(in, at, at, end, "the data at byte " + at) : in;
            DataInputStream view = new DataInputStream(data);
            view.readShort(); // the state id
            int keyLength = view.readInt();
            if (keyLength < prefixBytes) {
                return -1;
            }
            int group = view.readUnsignedByte() & ~FullSnapshotUtil.FIRST_BIT_IN_BYTE_MASK;
            for (int i = 1; i < prefixBytes; i++) {
                group = group << 8 | view.readUnsignedByte();
            }
            return group;
        } catch (EOFException | StateDecodingException e) {
            return -1;
        }
    }

    /**
     * Flink files every entry under its key's key group; a heap restore puts timers into the queue
     * of their key's group and fails when that group is not the subtask's.
     */
    private static void requireKeyGroup(Object key, int keyGroup, int maxParallelism, KeyedStateSerializers.State state)
            throws StateDecodingException {
        if (key == null) {
            return;
        }
        int actual = KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism);
        if (actual != keyGroup) {
            throw new StateDecodingException("an entry of state '" + state.name() + "' in key group " + keyGroup
                    + " has a key of key group " + actual, true, null);
        }
    }

    /** The key of a priority queue element (timers are {@link Keyed}), or null when it has none. */
    private static Object keyOf(Object element) {
        return element instanceof Keyed<?> keyed ? keyed.getKey() : null;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void decodeEntry(KeyedStateSerializers.State state, TypeSerializer<Object> key, DataInputDeserializer keyIn,
            DataInputDeserializer valueIn, byte[] value, ListDelimitedSerializer lists, int keyGroup, int maxParallelism)
            throws Exception {
        if (state.kind() == StateMetaInfoSnapshot.BackendStateType.PRIORITY_QUEUE) {
            requireKeyGroup(keyOf(state.value().deserialize(keyIn)), keyGroup, maxParallelism, state);
            return;
        }
        boolean ambiguous = key.getLength() < 0 && state.namespace().getLength() < 0;
        requireKeyGroup(CompositeKeySerializationUtils.readKey(key, keyIn, ambiguous), keyGroup, maxParallelism, state);
        CompositeKeySerializationUtils.readNamespace(state.namespace(), keyIn, ambiguous);
        switch (state.type()) {
            case LIST -> lists.deserializeList(value, ((ListSerializer) state.value()).getElementSerializer());
            case MAP -> {
                MapSerializer<Object, Object> map = (MapSerializer) state.value();
                map.getKeySerializer().deserialize(keyIn);
                if (!valueIn.readBoolean()) {
                    map.getValueSerializer().deserialize(valueIn);
                }
                requireConsumed(valueIn, state);
            }
            default -> {
                state.value().deserialize(valueIn);
                requireConsumed(valueIn, state);
            }
        }
    }

    private static void requireConsumed(DataInputDeserializer in, KeyedStateSerializers.State state) throws StateDecodingException {
        if (in.available() > 0) {
            throw new StateDecodingException("a value of state '" + state.name() + "' has " + in.available()
                    + " bytes its serializer does not read", true, null);
        }
    }
}
