package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.metadata.MetadataStructure.Field;
import io.github.s3tiered.inspector.metadata.MetadataStructure.Kind;

import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.OperatorStateHandle;

import java.io.IOException;
import java.util.BitSet;
import java.util.List;

import static io.github.s3tiered.inspector.metadata.MetadataCursor.error;

/**
 * One pass over a {@code _metadata} file in the order Flink's reader takes it. Each method names the Flink
 * method it follows; see {@link MetadataStructure} for what the pass guarantees.
 */
final class MetadataWalker {

    // Type tags of MetadataV2V3SerializerBase (private there; a test compares them by reflection).
    static final int NULL_HANDLE = 0;
    static final int BYTE_STREAM_STATE_HANDLE = 1;
    static final int FILE_STREAM_STATE_HANDLE = 2;
    static final int KEY_GROUPS_HANDLE = 3;
    static final int PARTITIONABLE_OPERATOR_STATE_HANDLE = 4;
    static final int INCREMENTAL_KEY_GROUPS_HANDLE = 5;
    static final int RELATIVE_STREAM_STATE_HANDLE = 6;
    static final int SAVEPOINT_KEY_GROUPS_HANDLE = 7;
    static final int CHANGELOG_HANDLE = 8;
    static final int CHANGELOG_BYTE_INCREMENT_HANDLE = 9;
    static final int CHANGELOG_FILE_INCREMENT_HANDLE = 10;
    static final int INCREMENTAL_KEY_GROUPS_HANDLE_V2 = 11;
    static final int KEY_GROUPS_HANDLE_V2 = 12;
    static final int CHANGELOG_FILE_INCREMENT_HANDLE_V2 = 13;
    static final int CHANGELOG_HANDLE_V2 = 14;
    static final int SEGMENT_FILE_HANDLE = 15;
    static final int EMPTY_SEGMENT_FILE_HANDLE = 16;
    static final int SEGMENT_PARTITIONABLE_OPERATOR_STATE_HANDLE = 17;

    // Type tags of ChannelStateHandleSerializerV2 (private there as well).
    static final int INPUT_CHANNEL_STATE_HANDLE = 1;
    static final int RESULT_SUBPARTITION_STATE_HANDLE = 2;
    static final int MERGED_INPUT_CHANNEL_STATE_HANDLE = 3;
    static final int MERGED_RESULT_SUBPARTITION_STATE_HANDLE = 4;

    static final int MASTER_STATE_MAGIC_NUMBER = 0xc96b1696;
    static final int OLDEST_VERSION = 2;
    static final int NEWEST_VERSION = 6;

    /**
     * Flink's reader recurses once per nested handle (key groups inside key groups, changelog inside
     * changelog) with no limit, so a small file could overflow its stack. Flink itself writes at most three
     * levels (changelog, then a materialized keyed handle, then its stream handle).
     */
    static final int MAX_NESTING = 16;

    /**
     * {@code OperatorState} sizes its subtask map by the operator's parallelism, a field that no byte of the
     * file backs. The table appears with the first subtask, so the parallelism of operators with subtask
     * states is summed and may reach this allowance plus one per byte of the file: at most about 22 MiB of
     * hash-table slots plus 22 bytes per byte of file.
     */
    static final long FREE_PARALLELISM = 1 << 20;

    // Smallest encodings, used to bound counts by the bytes that remain.
    private static final int MIN_MASTER_STATE = 4 + 4 + 4 + 2 + 4; // magic, length, version, name, payload length
    private static final int MIN_V2_SUBTASK = 4 + 8 + 4 + 4 + 4 + 1 + 1; // index, duration, legacy, 2 flags, 2 tags
    private static final int MIN_FINISHED_SUBTASK = 4; // a negative index alone
    private static final int MIN_PARTITION = 2 + 1 + 4; // name, mode, number of offsets
    private static final int MIN_HANDLE_AND_PATH = 2 + 1; // local path, stream handle tag
    private static final int MIN_STATE_CHANGE = 4 + 4; // key group, length
    private static final int MIN_OFFSET_AND_HANDLE = 8 + 1;
    private static final int MIN_CHANNEL_V1 = 4 + 8 + 4 + 8 + 1; // subtask, info, offsets, size, delegate tag
    private static final int MIN_CHANNEL_V2 = 1 + 4 + 8 + 1 + 4; // a merged handle is the shortest
    private static final int MIN_UNMERGED_CHANNEL = 8 + 8 + 4; // info, size, number of offsets
    private static final int LONG = 8;

    private static final int MODES = OperatorStateHandle.Mode.values().length;
    private static final int SCOPES = CheckpointedStateScope.values().length;

    private final MetadataCursor in;
    private final long parallelismAllowance;
    private int version;
    private long checkpointId;
    private long parallelismSum;

    MetadataWalker(byte[] bytes, List<Field> fields) {
        this.in = new MetadataCursor(bytes, fields);
        this.parallelismAllowance = FREE_PARALLELISM + bytes.length;
    }

    int version() {
        return version;
    }

    long checkpointId() {
        return checkpointId;
    }

    /** Walks the whole file and returns where Flink's reader stops (everything after it Flink ignores). */
    int walk() throws IOException {
        header();
        metadata();
        if (version >= 4) {
            // MetadataV4Serializer.deserializeProperties
            int start = in.position();
            in.skip(PropertiesCheck.serializedLength(in.bytes(), start, start + in.remaining()),
                    "checkpoint properties");
        }
        return in.position();
    }

    /** Checkpoints.loadCheckpointMetadata and MetadataSerializers.getSerializer. */
    private void header() throws IOException {
        int magic = in.readInt(Kind.TYPE_TAG, "magic number");
        if (magic != Checkpoints.HEADER_MAGIC_NUMBER) {
            throw error(0, String.format("magic number 0x%08x is not 0x%08x: not a Flink checkpoint metadata file",
                    magic, Checkpoints.HEADER_MAGIC_NUMBER));
        }
        version = in.readInt(Kind.TYPE_TAG, "format version");
        if (version < OLDEST_VERSION || version > NEWEST_VERSION) {
            throw error(4, "format version " + version + " is not one Flink 2.3 reads (" + OLDEST_VERSION + " to "
                    + NEWEST_VERSION + (version == 1 ? "; version 1 is Flink 1.1/1.2)" : ")"));
        }
    }

    /** MetadataV2V3SerializerBase.deserializeMetadata. */
    private void metadata() throws IOException {
        int at = in.position();
        checkpointId = in.readLong(Kind.ID, "checkpoint id");
        if (checkpointId < 0) {
            throw error(at, "checkpoint id " + checkpointId + " is negative");
        }
        int masterStates = in.count("number of master states", MIN_MASTER_STATE);
        for (int i = 0; i < masterStates; i++) {
            masterState();
        }
        int operators = in.count("number of operator states", minOperatorState());
        for (int i = 0; i < operators; i++) {
            operatorState();
        }
    }

    private int minOperatorState() {
        // id (16), parallelism, max parallelism, then V2's chain length or V3's coordinator tag, subtask count
        int common = 16 + 4 + 4 + 4;
        return version == 2 ? common + 4 : common + 1 + (version >= 5 ? 2 + 2 : 0);
    }

    /** MetadataV2V3SerializerBase.deserializeMasterState: the payload is parsed again from its own array. */
    private void masterState() throws IOException {
        int at = in.position();
        int magic = in.readInt(Kind.TYPE_TAG, "master state magic number");
        if (magic != MASTER_STATE_MAGIC_NUMBER) {
            throw error(at, String.format("master state magic number 0x%08x is not 0x%08x", magic,
                    MASTER_STATE_MAGIC_NUMBER));
        }
        int lengthAt = in.position();
        int length = in.arrayLength("master state length");
        if (length == 0) {
            throw error(lengthAt, "master state length is 0 (Flink requires a positive length)");
        }
        int outer = in.enter(length);
        in.readInt(null, "master state version");
        in.utf("master state name");
        in.byteArray("master state payload length");
        if (in.remaining() > 0) {
            throw error(in.position(), in.remaining() + " bytes follow the master state payload inside its length"
                    + " (Flink rejects trailing bytes in master state)");
        }
        in.leave(outer);
    }

    /** MetadataV2Serializer, MetadataV3Serializer and MetadataV5Serializer.deserializeOperatorState. */
    private void operatorState() throws IOException {
        if (version >= 5) {
            in.utf("operator name");
            in.utf("operator uid");
        }
        in.readLong(null, "operator id (lower part)");
        in.readLong(null, "operator id (upper part)");
        int parallelismAt = in.position();
        int parallelism = in.readInt(Kind.PARALLELISM, "parallelism");
        int maxParallelism = in.readInt(Kind.PARALLELISM, "max parallelism");
        if (parallelism < 0 || parallelism > maxParallelism) {
            throw error(parallelismAt, "parallelism " + parallelism + " is not between 0 and the max parallelism "
                    + maxParallelism + " (OperatorState rejects it)");
        }
        int coordinatorTag = NULL_HANDLE;
        if (version == 2) {
            in.readInt(null, "unused chain length");
        } else {
            int tagAt = in.position();
            coordinatorTag = streamStateHandle(0, "coordinator state");
            if (coordinatorTag != NULL_HANDLE && coordinatorTag != BYTE_STREAM_STATE_HANDLE) {
                throw error(tagAt, "coordinator state has stream handle type " + coordinatorTag
                        + " but Flink expects a byte stream handle");
            }
        }
        int countAt = in.position();
        int subtasks = in.readInt(Kind.COUNT, "number of subtask states");
        if (subtasks < 0) {
            // V2 loops zero times; V3+ reads a fully finished operator, which cannot have coordinator state
            if (version >= 3 && coordinatorTag != NULL_HANDLE) {
                throw error(countAt, "a fully finished operator (negative number of subtask states) has"
                        + " coordinator state");
            }
            if (version >= 3 && subtasks != -1) {
                // Flink's reader takes any negative count for a fully finished operator, its writer
                // writes only -1: another one is a changed count (a stateless operator's 0 with its
                // sign bit set deploys the operator finished, or fails the restore)
                throw error(countAt, "number of subtask states " + subtasks + ": Flink writes -1 for a fully finished"
                        + " operator and never another negative count");
            }
            return;
        }
        in.requireFits(countAt, "number of subtask states", subtasks,
                version == 2 ? MIN_V2_SUBTASK : MIN_FINISHED_SUBTASK);
        if (subtasks > 0) {
            chargeParallelism(parallelismAt, parallelism);
        }
        BitSet seen = new BitSet();
        for (int i = 0; i < subtasks; i++) {
            int indexAt = in.position();
            int stored = in.readInt(Kind.INDEX, "subtask index");
            // V3+ stores a finished subtask as -(index + 1) and writes nothing else for it
            boolean finished = version >= 3 && stored < 0;
            int index = finished ? -stored - 1 : stored;
            if (index < 0 || index >= parallelism) {
                throw error(indexAt, "subtask index " + index + " is outside the parallelism " + parallelism);
            }
            if (seen.get(index)) {
                // Flink writes a map keyed by subtask: its reader keeps the last of the two, and the
                // state of the subtask whose index this was is silently not restored
                throw error(indexAt, "subtask index " + index + " appears twice in one operator (Flink writes each"
                        + " subtask once; its reader would drop one of the two subtasks' state)");
            }
            seen.set(index);
            if (!finished) {
                subtaskState();
            }
        }
    }

    private void chargeParallelism(int at, int parallelism) throws IOException {
        parallelismSum += parallelism;
        if (parallelismSum > parallelismAllowance) {
            throw error(at, "parallelism " + parallelism + " brings the parallelism of operators with subtask"
                    + " states to " + parallelismSum + ", more than the " + parallelismAllowance + " a file of "
                    + in.bytes().length + " bytes may have (Flink sizes each operator's subtask map by it)");
        }
    }

    /** MetadataV2Serializer/MetadataV3Serializer.deserializeSubtaskState and the base method. */
    private void subtaskState() throws IOException {
        if (version == 2) {
            in.readLong(null, "unused duration");
            int at = in.position();
            int legacy = in.readInt(Kind.COUNT, "number of legacy task states");
            if (legacy > 0) {
                throw error(at, "number of legacy task states " + legacy + " is positive; Flink no longer reads"
                        + " state of Flink 1.1 and earlier");
            }
        }
        optionalOperatorStateHandle("managed operator state");
        optionalOperatorStateHandle("raw operator state");
        keyedStateHandle(0, "managed keyed state");
        keyedStateHandle(0, "raw keyed state");
        if (version >= 3) {
            channelStateHandles(true);
            channelStateHandles(false);
        }
    }

    private void optionalOperatorStateHandle(String what) throws IOException {
        int at = in.position();
        if (in.readInt(null, "has " + what) != 0 && operatorStateHandle(what) == NULL_HANDLE) {
            // the builder's checkNotNull would throw
            throw error(at, what + " is marked present but its handle is null");
        }
    }

    // ------------------------------------------------------------------------
    //  operator state
    // ------------------------------------------------------------------------

    /** MetadataV2V3SerializerBase.deserializeOperatorStateHandle. */
    private int operatorStateHandle(String what) throws IOException {
        int tagAt = in.position();
        int tag = in.readByte(Kind.TYPE_TAG, "operator state handle type");
        if (tag == NULL_HANDLE) {
            return tag;
        }
        if (tag != PARTITIONABLE_OPERATOR_STATE_HANDLE && tag != SEGMENT_PARTITIONABLE_OPERATOR_STATE_HANDLE) {
            throw error(tagAt, what + " has unknown operator state handle type " + tag);
        }
        // CollectionUtil.newHashMapWithExpectedSize(size) rejects negatives and allocates for huge ones
        int states = in.count("number of operator state names", MIN_PARTITION);
        for (int i = 0; i < states; i++) {
            in.utf("operator state name");
            int modeAt = in.position();
            int mode = in.readByte(Kind.ORDINAL, "distribution mode");
            if (mode < 0 || mode >= MODES) {
                throw error(modeAt, "distribution mode " + mode + " is not an OperatorStateHandle.Mode ordinal");
            }
            offsets("number of partition offsets", "partition offset");
        }
        if (tag == SEGMENT_PARTITIONABLE_OPERATOR_STATE_HANDLE) {
            in.utf("task-owned directory");
            in.utf("shared directory");
            in.readByte(Kind.FLAG, "is-empty flag");
            int delegateAt = in.position();
            int delegate = streamStateHandle(0, what + " delegate");
            if (delegate != SEGMENT_FILE_HANDLE && delegate != EMPTY_SEGMENT_FILE_HANDLE) {
                throw error(delegateAt, "file-merging operator state has stream handle type " + delegate
                        + " but Flink expects a segment file handle");
            }
        } else {
            streamStateHandle(0, what + " delegate");
        }
        return tag;
    }

    /** A count of longs followed by the longs, read into {@code new long[n]} or a pre-sized list. */
    private void offsets(String countName, String offsetName) throws IOException {
        int n = in.count(countName, LONG);
        for (int i = 0; i < n; i++) {
            in.readLong(Kind.OFFSET, offsetName);
        }
    }

    // ------------------------------------------------------------------------
    //  keyed state
    // ------------------------------------------------------------------------

    /** MetadataV2V3SerializerBase.deserializeKeyedStateHandle. */
    private int keyedStateHandle(int depth, String what) throws IOException {
        int tagAt = in.position();
        checkNesting(tagAt, depth, what);
        int tag = in.readByte(Kind.TYPE_TAG, "keyed state handle type");
        switch (tag) {
            case NULL_HANDLE -> { }
            case KEY_GROUPS_HANDLE, KEY_GROUPS_HANDLE_V2, SAVEPOINT_KEY_GROUPS_HANDLE -> {
                keyGroupOffsets();
                streamStateHandle(depth + 1, "key-groups delegate");
                if (tag == KEY_GROUPS_HANDLE_V2) {
                    in.utf("state handle id");
                }
            }
            case INCREMENTAL_KEY_GROUPS_HANDLE, INCREMENTAL_KEY_GROUPS_HANDLE_V2 -> {
                in.readLong(Kind.ID, "checkpoint id of incremental handle");
                in.utf("backend id");
                keyGroupRange();
                if (tag == INCREMENTAL_KEY_GROUPS_HANDLE_V2) {
                    in.readLong(Kind.SIZE, "checkpointed size");
                }
                streamStateHandle(depth + 1, "incremental meta data");
                handlesAndLocalPaths(depth, "number of shared state handles");
                handlesAndLocalPaths(depth, "number of private state handles");
                if (tag == INCREMENTAL_KEY_GROUPS_HANDLE_V2) {
                    in.utf("state handle id");
                }
            }
            case CHANGELOG_HANDLE, CHANGELOG_HANDLE_V2 -> {
                keyGroupRange();
                in.readLong(Kind.SIZE, "checkpointed size");
                int materialized = in.count("number of materialized handles", 1);
                for (int i = 0; i < materialized; i++) {
                    keyedStateHandle(depth + 1, "materialized state");
                }
                int nonMaterialized = in.count("number of non-materialized handles", 1);
                for (int i = 0; i < nonMaterialized; i++) {
                    int deltaAt = in.position();
                    int delta = keyedStateHandle(depth + 1, "non-materialized state");
                    if (delta != NULL_HANDLE && delta != CHANGELOG_BYTE_INCREMENT_HANDLE
                            && delta != CHANGELOG_FILE_INCREMENT_HANDLE
                            && delta != CHANGELOG_FILE_INCREMENT_HANDLE_V2) {
                        throw error(deltaAt, "non-materialized state has keyed handle type " + delta
                                + " but Flink casts it to a ChangelogStateHandle");
                    }
                }
                in.readLong(null, "materialization id");
                if (tag == CHANGELOG_HANDLE_V2) {
                    in.readLong(Kind.ID, "checkpoint id of changelog handle");
                }
                in.utf("state handle id");
            }
            case CHANGELOG_BYTE_INCREMENT_HANDLE -> {
                keyGroupRange();
                in.readLong(null, "sequence number from");
                in.readLong(null, "sequence number to");
                int changes = in.count("number of state changes", MIN_STATE_CHANGE);
                for (int i = 0; i < changes; i++) {
                    in.readInt(null, "key group of state change");
                    in.byteArray("state change length");
                }
                in.utf("state handle id");
            }
            case CHANGELOG_FILE_INCREMENT_HANDLE, CHANGELOG_FILE_INCREMENT_HANDLE_V2 -> {
                keyGroupRange();
                int handles = in.count("number of changelog stream handles", MIN_OFFSET_AND_HANDLE);
                for (int i = 0; i < handles; i++) {
                    in.readLong(Kind.OFFSET, "changelog offset");
                    streamStateHandle(depth + 1, "changelog stream");
                }
                in.readLong(Kind.SIZE, "state size");
                in.readLong(Kind.SIZE, "checkpointed size");
                in.utf("state handle id");
                if (tag == CHANGELOG_FILE_INCREMENT_HANDLE_V2) {
                    in.utf("storage identifier");
                }
            }
            default -> throw error(tagAt, what + " has unknown keyed state handle type " + tag);
        }
        return tag;
    }

    /** Start and number of key groups where Flink allocates nothing by them (KeyGroupRange.of only). */
    private void keyGroupRange() throws IOException {
        in.readInt(null, "start key group");
        in.readInt(Kind.COUNT, "number of key groups");
    }

    /** Start and number of key groups followed by one offset each, read into {@code new long[n]}. */
    private void keyGroupOffsets() throws IOException {
        in.readInt(null, "start key group");
        offsets("number of key groups", "key-group offset");
    }

    /** MetadataV2V3SerializerBase.deserializeHandleAndLocalPathList: {@code new ArrayList<>(size)}. */
    private void handlesAndLocalPaths(int depth, String countName) throws IOException {
        int n = in.count(countName, MIN_HANDLE_AND_PATH);
        for (int i = 0; i < n; i++) {
            in.utf("local path");
            streamStateHandle(depth + 1, "incremental state file");
        }
    }

    // ------------------------------------------------------------------------
    //  stream state handles
    // ------------------------------------------------------------------------

    /** MetadataV2V3SerializerBase.deserializeStreamStateHandle. */
    private int streamStateHandle(int depth, String what) throws IOException {
        int tagAt = in.position();
        checkNesting(tagAt, depth, what);
        int tag = in.readUnsignedByte(Kind.TYPE_TAG, "stream state handle type");
        switch (tag) {
            case NULL_HANDLE, EMPTY_SEGMENT_FILE_HANDLE -> { }
            case FILE_STREAM_STATE_HANDLE -> {
                in.readLong(Kind.SIZE, "state size");
                in.utf("file path");
            }
            case BYTE_STREAM_STATE_HANDLE -> {
                in.utf("byte stream handle name");
                in.byteArray("byte stream length");
            }
            case RELATIVE_STREAM_STATE_HANDLE -> {
                in.utf("relative path");
                in.readLong(Kind.SIZE, "state size");
            }
            case KEY_GROUPS_HANDLE -> {
                keyGroupOffsets();
                streamStateHandle(depth + 1, "key-groups delegate");
            }
            case SEGMENT_FILE_HANDLE -> {
                in.readLong(Kind.OFFSET, "segment start position");
                in.readLong(Kind.SIZE, "state size");
                int scopeAt = in.position();
                int scope = in.readInt(Kind.ORDINAL, "state scope");
                if (scope < 0 || scope >= SCOPES) {
                    throw error(scopeAt, "state scope " + scope + " is not a CheckpointedStateScope ordinal");
                }
                in.utf("segment file path");
                in.utf("logical file id");
            }
            default -> throw error(tagAt, what + " has unknown stream state handle type " + tag);
        }
        return tag;
    }

    private void checkNesting(int at, int depth, String what) throws IOException {
        if (depth > MAX_NESTING) {
            throw error(at, what + " is nested " + depth + " handles deep, more than the " + MAX_NESTING
                    + " this check allows (Flink's reader recurses once per level)");
        }
    }

    // ------------------------------------------------------------------------
    //  channel state (unaligned checkpoints), V3 and later
    // ------------------------------------------------------------------------

    /** MetadataV2V3SerializerBase.deserializeCollection with ChannelStateHandleSerializerV1 or V2. */
    private void channelStateHandles(boolean input) throws IOException {
        String countName = input
                ? "number of input channel state handles"
                : "number of result subpartition state handles";
        int at = in.position();
        int n = in.readInt(Kind.COUNT, countName);
        // deserializeCollection uses an unsized list and loops zero times for a negative size
        if (n <= 0) {
            return;
        }
        in.requireFits(at, countName, n, version >= 6 ? MIN_CHANNEL_V2 : MIN_CHANNEL_V1);
        for (int i = 0; i < n; i++) {
            if (version >= 6) {
                channelStateHandleV2(input);
            } else {
                channelStateHandle();
            }
        }
    }

    /** ChannelStateHandleSerializerV2.deserializeInputStateHandle / deserializeOutputStateHandle. */
    private void channelStateHandleV2(boolean input) throws IOException {
        int tagAt = in.position();
        int tag = in.readUnsignedByte(Kind.TYPE_TAG, "channel state handle type");
        if (tag == (input ? INPUT_CHANNEL_STATE_HANDLE : RESULT_SUBPARTITION_STATE_HANDLE)) {
            channelStateHandle();
        } else if (tag == (input ? MERGED_INPUT_CHANNEL_STATE_HANDLE : MERGED_RESULT_SUBPARTITION_STATE_HANDLE)) {
            mergedChannelStateHandle();
        } else {
            throw error(tagAt, "unknown " + (input ? "input" : "output") + " channel state handle type " + tag);
        }
    }

    /** ChannelStateHandleSerializerV1.deserializeChannelStateHandle and ChannelStateHelper's info readers. */
    private void channelStateHandle() throws IOException {
        in.readInt(null, "channel state subtask index");
        in.readInt(Kind.INDEX, "gate or partition index");
        in.readInt(Kind.INDEX, "channel or subpartition index");
        offsets("number of channel offsets", "channel offset");
        in.readLong(Kind.SIZE, "channel state size");
        streamStateHandle(1, "channel state delegate");
    }

    /**
     * ChannelStateHandleSerializerV2.deserializeMergedChannelStateHandle, and then the serialized channel
     * offsets that AbstractMergedChannelStateHandle#restoreAndCacheUnmergedHandles parses lazily at restore:
     * a count of channels, each an info (two ints), a state size and a count of offsets with the offsets.
     * Bytes left at the end of that array are ignored by Flink, and so here.
     */
    private void mergedChannelStateHandle() throws IOException {
        in.readInt(null, "merged channel state subtask index");
        in.readLong(Kind.SIZE, "merged channel state size");
        streamStateHandle(1, "merged channel state delegate");
        int outer = in.enter(in.arrayLength("serialized channel offsets length"));
        int channels = in.count("number of merged channels", MIN_UNMERGED_CHANNEL);
        for (int i = 0; i < channels; i++) {
            in.readInt(Kind.INDEX, "gate or partition index");
            in.readInt(Kind.INDEX, "channel or subpartition index");
            in.readLong(Kind.SIZE, "channel state size");
            offsets("number of channel offsets", "channel offset");
        }
        in.leave(outer);
    }
}
