package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.metadata.MetadataStructure.Field;
import io.github.s3tiered.inspector.metadata.MetadataStructure.Kind;

import java.io.IOException;
import java.util.List;

/**
 * Reads big-endian primitives from a {@code _metadata} byte array the way {@link java.io.DataInputStream}
 * does, but never past {@link #limit}, and turns every problem into an IOException naming the byte offset.
 * Nested byte arrays that Flink parses with a second stream (master state payload, merged channel offsets)
 * are walked in place by narrowing the limit, so their counts are bounded by their own length.
 */
final class MetadataCursor {

    private final byte[] bytes;
    private final List<Field> fields; // null unless fields() asked for them
    private int pos;
    private int limit;

    MetadataCursor(byte[] bytes, List<Field> fields) {
        this.bytes = bytes;
        this.fields = fields;
        this.limit = bytes.length;
    }

    int position() {
        return pos;
    }

    int remaining() {
        return limit - pos;
    }

    byte[] bytes() {
        return bytes;
    }

    static IOException error(int offset, String message) {
        return new IOException("_metadata byte " + offset + ": " + message);
    }

    // ------------------------------------------------------------------------
    //  primitives (DataInputStream semantics)
    // ------------------------------------------------------------------------

    int readInt(Kind kind, String name) throws IOException {
        int at = take(4, kind, name);
        return (bytes[at] & 0xff) << 24 | (bytes[at + 1] & 0xff) << 16
                | (bytes[at + 2] & 0xff) << 8 | (bytes[at + 3] & 0xff);
    }

    long readLong(Kind kind, String name) throws IOException {
        int at = take(8, kind, name);
        long value = 0;
        for (int i = 0; i < 8; i++) {
            value = value << 8 | (bytes[at + i] & 0xff);
        }
        return value;
    }

    /** {@code DataInputStream.readByte()}: signed, as Flink reads keyed and operator handle tags. */
    int readByte(Kind kind, String name) throws IOException {
        return bytes[take(1, kind, name)];
    }

    /** {@code DataInputStream.read()}: unsigned, as Flink reads stream and channel handle tags. */
    int readUnsignedByte(Kind kind, String name) throws IOException {
        return bytes[take(1, kind, name)] & 0xff;
    }

    void skip(int n, String name) throws IOException {
        take(n, null, name);
    }

    private int take(int n, Kind kind, String name) throws IOException {
        int at = pos;
        if (limit - at < n) {
            throw error(at, name + " needs " + n + " bytes but only " + (limit - at) + " remain");
        }
        if (fields != null && kind != null) {
            fields.add(new Field(at, n, kind, name));
        }
        pos = at + n;
        return at;
    }

    // ------------------------------------------------------------------------
    //  counts and lengths: checked before Flink would allocate by them
    // ------------------------------------------------------------------------

    /**
     * A count that Flink pre-sizes an array or collection by, or loops over reading at least
     * {@code minElementBytes} each: it must be non-negative and its elements must fit in what remains.
     */
    int count(String name, int minElementBytes) throws IOException {
        int at = pos;
        int n = readInt(Kind.COUNT, name);
        if (n < 0) {
            throw error(at, name + " " + n + " is negative");
        }
        requireFits(at, name, n, minElementBytes);
        return n;
    }

    /** Fails unless {@code n} elements of at least {@code minElementBytes} each fit in what remains. */
    void requireFits(int at, String name, int n, int minElementBytes) throws IOException {
        if ((long) n * minElementBytes > remaining()) {
            throw error(at, name + " " + n + " cannot fit in the remaining " + remaining() + " bytes"
                    + (minElementBytes > 1 ? " (each needs at least " + minElementBytes + ")" : ""));
        }
    }

    /** An int length followed by that many bytes, which Flink reads with {@code new byte[length]}. */
    void byteArray(String name) throws IOException {
        int length = arrayLength(name); // not "pos += arrayLength(..)": that would add to the old position
        pos += length;
    }

    /** The int length of a byte array, checked to fit; the cursor stays at the first byte of the array. */
    int arrayLength(String name) throws IOException {
        int at = pos;
        int n = readInt(Kind.LENGTH, name);
        if (n < 0) {
            throw error(at, name + " " + n + " is negative");
        }
        if (n > remaining()) {
            throw error(at, name + " " + n + " cannot fit in the remaining " + remaining() + " bytes");
        }
        return n;
    }

    /** A string written with {@code writeUTF}; well formed as {@code DataInputStream.readUTF} demands. */
    void utf(String name) throws IOException {
        int at = pos;
        int len = readInt2(name);
        if (len > remaining()) {
            throw error(at, "length " + len + " of " + name + " cannot fit in the remaining " + remaining() + " bytes");
        }
        int bad = firstMalformedUtf(pos, pos + len);
        if (bad >= 0) {
            throw error(at, name + " is not modified UTF-8 (readUTF fails at byte " + bad + ")");
        }
        pos += len;
    }

    private int readInt2(String name) throws IOException {
        int at = take(2, Kind.LENGTH, "length of " + name);
        return (bytes[at] & 0xff) << 8 | (bytes[at + 1] & 0xff);
    }

    /** Mirrors the decoding loop of {@code DataInputStream.readUTF}; returns -1 when it would succeed. */
    private int firstMalformedUtf(int from, int to) {
        int i = from;
        while (i < to) {
            int c = bytes[i] & 0xff;
            switch (c >> 4) {
                case 0, 1, 2, 3, 4, 5, 6, 7 -> i += 1;
                case 12, 13 -> {
                    if (i + 2 > to || !continuation(i + 1)) {
                        return i;
                    }
                    i += 2;
                }
                case 14 -> {
                    if (i + 3 > to || !continuation(i + 1) || !continuation(i + 2)) {
                        return i;
                    }
                    i += 3;
                }
                default -> {
                    return i;
                }
            }
        }
        return -1;
    }

    private boolean continuation(int i) {
        return (bytes[i] & 0xC0) == 0x80;
    }

    // ------------------------------------------------------------------------
    //  nested byte arrays
    // ------------------------------------------------------------------------

    /** Narrows reading to the next {@code length} bytes (already checked to fit); returns the old limit. */
    int enter(int length) {
        int outer = limit;
        limit = pos + length;
        return outer;
    }

    /** Leaves a nested array: continues after its end, whatever was left unread inside it. */
    void leave(int outerLimit) {
        pos = limit;
        limit = outerLimit;
    }
}
