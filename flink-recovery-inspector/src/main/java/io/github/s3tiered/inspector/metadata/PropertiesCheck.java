package io.github.s3tiered.inspector.metadata;

import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.checkpoint.CheckpointProperties;
import org.apache.flink.runtime.checkpoint.CheckpointType;
import org.apache.flink.runtime.checkpoint.SavepointType;
import org.apache.flink.runtime.checkpoint.SnapshotType;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.ObjectInputFilter;
import java.io.ObjectInputStream;
import java.util.Set;

/**
 * The Java-serialized {@link CheckpointProperties} that ends metadata of version 4 and later, which
 * {@code MetadataV4Serializer} reads with a plain, unfiltered {@link ObjectInputStream}. Reading the same
 * bytes here through a strict filter first means Flink's unfiltered read can only instantiate the classes
 * below: the bytes are identical and deserialization is deterministic.
 */
final class PropertiesCheck {

    /**
     * Every class whose descriptor a real CheckpointProperties stream carries, as seen by a filter on the
     * streams of forCheckpoint(every retention policy), forSavepoint(CANONICAL/NATIVE), forSyncSavepoint and
     * forUnclaimedSnapshot: the properties, both SnapshotType implementations, the three enums they hold, and
     * java.lang.Enum (the superclass descriptor of every enum). Strings need no descriptor.
     */
    static final Set<Class<?>> ALLOWED_CLASSES = Set.of(
            CheckpointProperties.class,
            CheckpointType.class,
            SavepointType.class,
            SavepointType.PostCheckpointAction.class,
            SnapshotType.SharingFilesStrategy.class,
            SavepointFormatType.class,
            Enum.class);

    // Real streams are 604-757 bytes, 4 objects deep, with at most 10 handles, and hold no arrays.
    static final long MAX_DEPTH = 8;
    static final long MAX_REFERENCES = 32;
    static final long MAX_STREAM_BYTES = 4096;
    static final long MAX_ARRAY_LENGTH = 0;

    private PropertiesCheck() {}

    /** Why {@code info} is refused, or null when it is allowed. */
    private static String refusal(ObjectInputFilter.FilterInfo info) {
        if (info.arrayLength() > MAX_ARRAY_LENGTH) {
            return "an array of " + info.arrayLength() + " elements (a CheckpointProperties holds no arrays)";
        }
        if (info.depth() > MAX_DEPTH) {
            return "objects nested " + info.depth() + " deep (at most " + MAX_DEPTH + ")";
        }
        if (info.references() > MAX_REFERENCES) {
            return info.references() + " object references (at most " + MAX_REFERENCES + ")";
        }
        if (info.streamBytes() > MAX_STREAM_BYTES) {
            return info.streamBytes() + " bytes (at most " + MAX_STREAM_BYTES + ")";
        }
        Class<?> type = info.serialClass();
        // a null class is a limits-only check (a back reference, block data)
        if (type != null && !ALLOWED_CLASSES.contains(type)) {
            return "class " + type.getName() + ", which no CheckpointProperties contains";
        }
        return null;
    }

    /** Remembers the first refusal, because ObjectInputStream only reports "filter status: REJECTED". */
    private static final class Filter implements ObjectInputFilter {
        private String refusal;

        @Override
        public Status checkInput(FilterInfo info) {
            String problem = refusal(info);
            if (problem == null) {
                return Status.ALLOWED;
            }
            if (refusal == null) {
                refusal = problem;
            }
            return Status.REJECTED;
        }
    }

    /**
     * Deserializes the properties starting at {@code offset} through the filter and returns how many
     * bytes the object took, which is exactly what Flink's {@link ObjectInputStream} consumes: it reads no
     * further ahead than the object when the top-level object is not block data.
     */
    static int serializedLength(byte[] bytes, int offset, int end) throws IOException {
        if (offset >= end) {
            throw MetadataCursor.error(offset, "the Java-serialized checkpoint properties that end metadata"
                    + " of version 4 and later are missing");
        }
        ByteArrayInputStream source = new ByteArrayInputStream(bytes, offset, end - offset);
        Filter filter = new Filter();
        Object properties;
        try {
            ObjectInputStream in = new ObjectInputStream(source);
            in.setObjectInputFilter(filter);
            properties = in.readObject();
        } catch (IOException | ClassNotFoundException | RuntimeException e) {
            throw MetadataCursor.error(offset, filter.refusal != null
                    ? "the Java-serialized checkpoint properties hold " + filter.refusal
                    : "the Java-serialized checkpoint properties cannot be deserialized (" + e + ")");
        }
        // Flink casts: null passes, anything else that got through the filter would be a ClassCastException
        if (properties != null && !(properties instanceof CheckpointProperties)) {
            throw MetadataCursor.error(offset, "the Java-serialized checkpoint properties are a "
                    + properties.getClass().getName() + ", not a CheckpointProperties");
        }
        return end - offset - source.available();
    }
}
