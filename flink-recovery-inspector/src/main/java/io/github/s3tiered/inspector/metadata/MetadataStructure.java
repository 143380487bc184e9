package io.github.s3tiered.inspector.metadata;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A bounded pre-parse of a checkpoint {@code _metadata} file, to run before Flink's own reader
 * ({@code Checkpoints.loadCheckpointMetadata}) so that a damaged or hostile file fails fast with an
 * IOException instead of making Flink's reader allocate by a garbled count or length.
 *
 * <p><b>Invariant.</b> If {@link #walk} returns, then Flink 2.3's reader, given the same bytes:
 * <ul>
 *   <li>reads exactly the first {@code bytes.length - trailingBytes()} bytes (it ignores the rest);</li>
 *   <li>sizes every array and pre-sized collection by a count or length that the walk checked to be
 *       non-negative and to fit, with the smallest encoding of its elements, in the bytes that remain (for
 *       the master state payload and the merged channel offsets: in their own byte array). So everything it
 *       allocates is O(file length), with one exception that is bounded instead: {@code OperatorState} sizes
 *       its subtask map by the operator's parallelism, and the walk caps the sum of those parallelisms at
 *       {@link MetadataWalker#FREE_PARALLELISM} plus the file length;</li>
 *   <li>meets only type tags it knows, modified UTF-8 that {@code readUTF} decodes, and enum ordinals in
 *       range, and recurses at most {@link MetadataWalker#MAX_NESTING} handles deep;</li>
 *   <li>for versions 4 and later, deserializes a Java-serialized tail that the walk already deserialized
 *       through a filter admitting only the classes of a {@code CheckpointProperties} (see
 *       {@link PropertiesCheck}), with limits on depth, references, arrays and bytes;</li>
 *   <li>will, when a merged channel state handle is restored, parse its serialized channel offsets with
 *       counts the walk checked the same way.</li>
 * </ul>
 * The walk does not judge content: Flink's reader may still throw (IllegalArgumentException for a
 * key-group range or path, NullPointerException for a null delegate, IOException for a relative handle
 * without a pointer, ...), and a file that passes may still not be restorable. The walk is stricter than
 * Flink's reader in three respects, all beyond anything Flink writes: nesting depth, total parallelism, and
 * the classes and size of the properties. Everything else it rejects, Flink's reader (or, for merged
 * channel state, the lazy parse at restore) would reject too.
 *
 * <p><b>What it mirrors.</b> {@code Checkpoints} (magic, version), {@code MetadataSerializers},
 * {@code MetadataV2Serializer} to {@code MetadataV6Serializer}, {@code MetadataV2V3SerializerBase} (all
 * handle tags), {@code ChannelStateHandleSerializerV1}/{@code V2}, {@code ChannelStateHelper},
 * {@code AbstractMergedChannelStateHandle}, {@code OperatorState}, {@code CollectionUtil},
 * {@code OperatorStateHandle.Mode}, {@code CheckpointedStateScope}, and {@code CheckpointProperties},
 * {@code CheckpointType}, {@code SavepointType}, {@code SnapshotType}, {@code SavepointFormatType} for the
 * properties. A Flink upgrade that changes any of them must be checked against this class;
 * MetadataStructureTest compares the tags and versions with Flink's by reflection.
 *
 * <p>The walk allocates nothing sized by the file. It keeps a reference to the bytes, which must not
 * change afterwards: {@link #fields()} walks them again to list the fields.
 */
public final class MetadataStructure {

    /** What a reported field holds. */
    public enum Kind {
        /** A number of elements that follow (or, for key groups, that a range spans). */
        COUNT,
        /** A number of bytes that follow: a byte array's int length or a string's 2-byte length. */
        LENGTH,
        /** An offset into a state file: key-group, partition, channel, changelog or segment offset. */
        OFFSET,
        /** A state size or checkpointed size. */
        SIZE,
        /** A tag that selects how the following bytes are read: handle types, magic numbers, format version. */
        TYPE_TAG,
        /** An enum ordinal Flink indexes {@code values()} with. */
        ORDINAL,
        /** An operator's parallelism or max parallelism; {@code OperatorState} sizes a map by it. */
        PARALLELISM,
        /** A subtask's, gate's, partition's, channel's or subpartition's index. */
        INDEX,
        /** A boolean. */
        FLAG,
        /** A checkpoint's id: the file's own, or that of the checkpoint that took a snapshot it holds. */
        ID
    }

    /** A field of the file: where it is, how many bytes wide, what it holds, and its name. */
    public record Field(int offset, int width, Kind kind, String name) {}

    private final byte[] bytes;
    private final int version;
    private final long checkpointId;
    private final int metadataEnd;

    private MetadataStructure(byte[] bytes, int version, long checkpointId, int metadataEnd) {
        this.bytes = bytes;
        this.version = version;
        this.checkpointId = checkpointId;
        this.metadataEnd = metadataEnd;
    }

    /**
     * Walks {@code bytes} as Flink's reader would, without building anything.
     *
     * @throws IOException naming the byte offset and the field, if Flink's reader should not see the bytes
     */
    public static MetadataStructure walk(byte[] bytes) throws IOException {
        Objects.requireNonNull(bytes, "bytes");
        MetadataWalker walker = new MetadataWalker(bytes, null);
        int end = walker.walk();
        return new MetadataStructure(bytes, walker.version(), walker.checkpointId(), end);
    }

    /** The format version, 2 to 6. */
    public int version() {
        return version;
    }

    public long checkpointId() {
        return checkpointId;
    }

    /** Bytes after the end of the metadata, which Flink's reader never looks at. */
    public int trailingBytes() {
        return bytes.length - metadataEnd;
    }

    /** Whether a keyed state handle of the changelog state backend is in it (read without Flink's reader: no lookups). */
    public boolean hasChangelogHandles() {
        boolean[] found = {false};
        // a list that keeps nothing: the JobManager asks this of every checkpoint's metadata
        List<Field> seen = new ArrayList<>() {
            @Override
            public boolean add(Field f) {
                if (f.kind() == Kind.TYPE_TAG && f.name().equals("keyed state handle type")) {
                    int tag = bytes[f.offset()];
                    found[0] |= tag == MetadataWalker.CHANGELOG_HANDLE || tag == MetadataWalker.CHANGELOG_HANDLE_V2
                            || tag == MetadataWalker.CHANGELOG_BYTE_INCREMENT_HANDLE
                            || tag == MetadataWalker.CHANGELOG_FILE_INCREMENT_HANDLE
                            || tag == MetadataWalker.CHANGELOG_FILE_INCREMENT_HANDLE_V2;
                }
                return true;
            }
        };
        try {
            new MetadataWalker(bytes, seen).walk();
        } catch (IOException e) {
            throw new IllegalStateException("the bytes changed after they were walked", e);
        }
        return found[0];
    }

    /** Every count, length, offset, size, type tag, ordinal and parallelism the walk read, in file order. */
    public List<Field> fields() {
        List<Field> fields = new ArrayList<>();
        try {
            new MetadataWalker(bytes, fields).walk();
        } catch (IOException e) {
            throw new IllegalStateException("the bytes changed after they were walked", e);
        }
        return Collections.unmodifiableList(fields);
    }
}
