package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataInputViewStreamWrapper;
import org.apache.flink.runtime.state.CompressibleFSDataInputStream;
import org.apache.flink.runtime.state.OperatorBackendSerializationProxy;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.RegisteredBroadcastStateBackendMetaInfo;
import org.apache.flink.runtime.state.RegisteredOperatorStateBackendMetaInfo;
import org.apache.flink.runtime.state.SnappyStreamCompressionDecorator;
import org.apache.flink.runtime.state.StreamCompressionDecorator;
import org.apache.flink.runtime.state.UncompressedStreamCompressionDecorator;
import org.apache.flink.runtime.state.metainfo.StateMetaInfoSnapshot;

import java.lang.reflect.Method;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Restores an operator state file as Flink's {@code OperatorStateRestoreOperation} does: the meta
 * data with its serializers, then every element of every list state at the offsets {@code
 * _metadata} records, and every entry of every broadcast state; the values are thrown away.
 * Stricter than Flink in one place: the state names in the file and in {@code _metadata} must be
 * the same (Flink silently restores nothing for a name it cannot match).
 */
final class OperatorStateCheck {

    private final RehearsalContext ctx;

    OperatorStateCheck(RehearsalContext ctx) {
        this.ctx = ctx;
    }

    private static void requireMode(String state, OperatorStateHandle.Mode inFile,
            Map<String, OperatorStateHandle.StateMetaInfo> offsets) throws StateDecodingException {
        OperatorStateHandle.Mode recorded = offsets.get(state).getDistributionMode();
        if (recorded != inFile) {
            throw new StateDecodingException("state '" + state + "' is " + inFile + " in the file, _metadata records it as "
                    + recorded, true, null);
        }
    }

    @SuppressWarnings("unchecked")
    void check(OperatorStateHandle handle) throws Exception {
        Map<String, OperatorStateHandle.StateMetaInfo> offsets = handle.getStateNameToPartitionOffsets();
        try (FSDataInputStream in = handle.openInputStream()) {
            OperatorBackendSerializationProxy proxy = new OperatorBackendSerializationProxy(ctx.classLoader());
            proxy.read(new DataInputViewStreamWrapper(in));
            long metaDataEnd = in.getPos();

            Map<String, TypeSerializer<Object>> lists = new HashMap<>();
            for (StateMetaInfoSnapshot s : proxy.getOperatorStateMetaInfoSnapshots()) {
                RegisteredOperatorStateBackendMetaInfo<Object> info = new RegisteredOperatorStateBackendMetaInfo<>(s);
                lists.put(s.getName(), (TypeSerializer<Object>) KeyedStateSerializers.usable(info.getPreviousPartitionStateSerializer(), s.getName()));
            }
            Map<String, TypeSerializer<Object>[]> broadcasts = new HashMap<>();
            for (StateMetaInfoSnapshot s : proxy.getBroadcastStateMetaInfoSnapshots()) {
                RegisteredBroadcastStateBackendMetaInfo<Object, Object> info = new RegisteredBroadcastStateBackendMetaInfo<>(s);
                broadcasts.put(s.getName(), new TypeSerializer[] {
                        KeyedStateSerializers.usable(info.getPreviousKeySerializer(), s.getName()),
                        KeyedStateSerializers.usable(info.getPreviousValueSerializer(), s.getName())});
            }
            Set<String> inFile = new TreeSet<>(lists.keySet());
            inFile.addAll(broadcasts.keySet());
            if (!inFile.equals(new TreeSet<>(offsets.keySet()))) {
                throw new StateDecodingException("the file holds states " + inFile + ", _metadata records offsets of "
                        + new TreeSet<>(offsets.keySet()), true, null);
            }
            // Flink writes each state's distribution mode into the file and into _metadata alike, and
            // redistributes by _metadata's at a rescale: a split state read as union state there hands
            // every subtask every split (a source reads its input twice), the reverse splits a union
            for (StateMetaInfoSnapshot s : proxy.getOperatorStateMetaInfoSnapshots()) {
                requireMode(s.getName(), new RegisteredOperatorStateBackendMetaInfo<>(s).getAssignmentMode(), offsets);
            }
            for (StateMetaInfoSnapshot s : proxy.getBroadcastStateMetaInfoSnapshots()) {
                requireMode(s.getName(), OperatorStateHandle.Mode.BROADCAST, offsets);
            }
            requireOrderOfTheMetaData(proxy, offsets);
            boolean compressed = usesCompression(proxy);
            StreamCompressionDecorator compression = compressed
                    ? SnappyStreamCompressionDecorator.INSTANCE
                    : UncompressedStreamCompressionDecorator.INSTANCE;
            // Uncompressed, Flink writes the elements of every state back to back after the meta
            // data, and records where each starts: each must end where the next starts, the last at
            // the end of the file. An offset moved into an element would otherwise decode bytes of
            // the right type from the wrong place (a source's split then fails, or is another one).
            TreeSet<Long> starts = new TreeSet<>();
            offsets.values().forEach(info -> {
                for (long o : info.getOffsets()) {
                    starts.add(o);
                }
            });
            long end = handle.getDelegateStateHandle().getStateSize();
            if (!compressed && !starts.isEmpty() && starts.first() != metaDataEnd) {
                throw new StateDecodingException("the first element of the operator state is recorded at byte "
                        + starts.first() + ", but the meta data before it ends at byte " + metaDataEnd, true, null);
            }
            if (compressed && !starts.isEmpty()) {
                // one framed stream after the meta data, flushed at every element's start (SnappyFrames)
                if (starts.first() != metaDataEnd + SnappyFrames.HEADER_BYTES) {
                    throw new StateDecodingException("the first element of the compressed operator state is recorded at byte "
                            + starts.first() + ", but its compressed stream starts at byte " + (metaDataEnd
                            + SnappyFrames.HEADER_BYTES) + " (after the meta data and the stream's header)", true, null);
                }
                SnappyFrames.verify(in, metaDataEnd, end, "the compressed operator state");
                requireCompressedElementsExact(in, metaDataEnd, lists, broadcasts, offsets, starts, end);
                in.seek(metaDataEnd);
            }
            try (CompressibleFSDataInputStream data = new CompressibleFSDataInputStream(in, compression)) {
                DataInputView view = new DataInputViewStreamWrapper(data);
                for (Map.Entry<String, TypeSerializer<Object>> e : lists.entrySet()) {
                    for (long offset : offsets.get(e.getKey()).getOffsets()) {
                        data.seek(offset);
                        e.getValue().deserialize(view);
                        if (!compressed) {
                            requireEndsWhereNextStarts(e.getKey(), offset, data.getPos(), starts, end);
                        }
                    }
                }
                for (Map.Entry<String, TypeSerializer<Object>[]> e : broadcasts.entrySet()) {
                    long[] at = offsets.get(e.getKey()).getOffsets();
                    if (at.length == 0) {
                        continue;
                    }
                    data.seek(at[0]);
                    readBroadcastEntries(e.getKey(), e.getValue(), view);
                    if (!compressed) {
                        requireEndsWhereNextStarts(e.getKey(), at[0], data.getPos(), starts, end);
                    }
                }
            }
        }
    }

    /**
     * Compressed, Flink flushes the compression at every element's start, so each element's
     * chunks run from its offset to the next element's: decompressed on their own, they must hold
     * exactly that element, or nothing for an element of no bytes (the uncompressed check,
     * {@link #requireEndsWhereNextStarts}, on the decompressed bytes). An offset moved onto another
     * element's start would otherwise decode that element twice, and a source restore another split
     * in place of its own.
     */
    private static void requireCompressedElementsExact(FSDataInputStream in, long streamStart,
            Map<String, TypeSerializer<Object>> lists, Map<String, TypeSerializer<Object>[]> broadcasts,
            Map<String, OperatorStateHandle.StateMetaInfo> offsets, TreeSet<Long> starts, long fileEnd) throws Exception {
        for (Map.Entry<String, TypeSerializer<Object>> e : lists.entrySet()) {
            for (long offset : offsets.get(e.getKey()).getOffsets()) {
                try (SnappyFrames.Element element = element(in, streamStart, offset, starts, fileEnd, e.getKey())) {
                    e.getValue().deserialize(new DataInputViewStreamWrapper(element));
                    requireWhole(e.getKey(), offset, element);
                }
            }
        }
        for (Map.Entry<String, TypeSerializer<Object>[]> e : broadcasts.entrySet()) {
            long[] at = offsets.get(e.getKey()).getOffsets();
            if (at.length == 0) {
                continue;
            }
            // one block of all its entries: streamed, as a broadcast table may be large
            try (SnappyFrames.Element entries = element(in, streamStart, at[0], starts, fileEnd, e.getKey())) {
                readBroadcastEntries(e.getKey(), e.getValue(), new DataInputViewStreamWrapper(entries));
                requireWhole(e.getKey(), at[0], entries);
            }
        }
    }

    /**
     * Flink writes the list states' meta data, then the broadcast states', then each state's
     * elements in that same order (one map, iterated for both), each list's in its order. So the
     * offsets, taken state by state in the meta data's order, never go back. Two states of one type
     * with their offsets swapped, or a state's elements reordered, decode as well as before, and
     * Flink restores one state's values into the other.
     */
    private static void requireOrderOfTheMetaData(OperatorBackendSerializationProxy proxy,
            Map<String, OperatorStateHandle.StateMetaInfo> offsets) throws StateDecodingException {
        java.util.List<StateMetaInfoSnapshot> inOrder = new java.util.ArrayList<>(proxy.getOperatorStateMetaInfoSnapshots());
        inOrder.addAll(proxy.getBroadcastStateMetaInfoSnapshots());
        long previous = Long.MIN_VALUE;
        String previousState = null;
        for (StateMetaInfoSnapshot s : inOrder) {
            for (long offset : offsets.get(s.getName()).getOffsets()) {
                if (offset < previous) {
                    throw new StateDecodingException("an element of operator state '" + s.getName() + "' is recorded at byte "
                            + offset + ", before one of " + (s.getName().equals(previousState) ? "its own" : "state '"
                            + previousState + "'") + " at byte " + previous + " that Flink wrote before it (it writes the"
                            + " states' elements in the order of their meta data, each list in its order)", true, null);
                }
                previous = offset;
                previousState = s.getName();
            }
        }
    }

    /** A broadcast state's block: its number of entries, then each key and value. */
    private static void readBroadcastEntries(String state, TypeSerializer<Object>[] keyAndValue, DataInputView view)
            throws java.io.IOException {
        int size = view.readInt();
        if (size < 0) {
            throw new StateDecodingException("broadcast state '" + state + "' has " + size + " entries", true, null);
        }
        for (int i = 0; i < size; i++) {
            keyAndValue[0].deserialize(view);
            keyAndValue[1].deserialize(view);
        }
    }

    private static SnappyFrames.Element element(FSDataInputStream in, long streamStart, long offset, TreeSet<Long> starts,
            long fileEnd, String state) throws java.io.IOException {
        Long next = starts.higher(offset);
        return SnappyFrames.element(in, streamStart, offset, next == null ? fileEnd : next,
                "an element of operator state '" + state + "' recorded at byte " + offset);
    }

    /** All of what the element's chunks hold, or none of it (an element of no bytes sharing its offset). */
    private static void requireWhole(String state, long offset, SnappyFrames.Element element) throws java.io.IOException {
        long consumed = element.consumed();
        if (!element.exhausted() && consumed > 0) {
            throw new StateDecodingException("an element of operator state '" + state + "' recorded at byte " + offset
                    + " ends after " + consumed + " uncompressed bytes, but its compressed chunks hold more before the"
                    + " next data start", true, null);
        }
    }

    private static void requireEndsWhereNextStarts(String state, long start, long endedAt, TreeSet<Long> starts,
            long fileEnd) throws StateDecodingException {
        Long next = starts.higher(start);
        long expected = next == null ? fileEnd : next;
        if (endedAt != expected && endedAt != start) { // start: an element of no bytes
            throw new StateDecodingException("an element of operator state '" + state + "' recorded at byte " + start
                    + " ends at byte " + endedAt + ", but the next data start at byte " + expected, true, null);
        }
    }

    /** Whether the file's elements are compressed; Flink reads the flag but keeps its getter package-private. */
    private static boolean usesCompression(OperatorBackendSerializationProxy proxy) throws Exception {
        Method m = OperatorBackendSerializationProxy.class.getDeclaredMethod("isUsingStateCompression");
        m.setAccessible(true);
        return (Boolean) m.invoke(proxy);
    }
}
