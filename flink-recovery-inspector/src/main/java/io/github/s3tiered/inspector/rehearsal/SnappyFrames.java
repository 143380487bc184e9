package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.FSDataInputStream;

import org.xerial.snappy.SnappyFramedInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;

/**
 * Checks compressed snapshot data ({@code execution.checkpointing.snapshot-compression}) against
 * the checksums it carries. Flink writes it in Snappy's framing format, whose data chunks each hold
 * a CRC32C of their uncompressed bytes, but reads it without checking them
 * ({@code SnappyStreamCompressionDecorator}: {@code new SnappyFramedInputStream(in, false)}): most
 * damaged compressed bytes decompress into other bytes, which deserialize into other state (a
 * changed count or value) and restore without an error.
 *
 * <p>Flink's writer ({@code SnappyFramedOutputStream}) emits only the stream identifier chunk at the
 * start of each stream and data chunks (compressed or not, both checksummed). Snappy's readers skip
 * padding and reserved skippable chunk types unchecked, so a changed chunk type would silently drop
 * a chunk: every chunk type here must be one Flink writes.
 */
final class SnappyFrames {

    /** The framing format's stream identifier chunk, which starts every framed stream. */
    static final int HEADER_BYTES = 10;

    private static final int COMPRESSED = 0x00;
    private static final int UNCOMPRESSED = 0x01;
    private static final int STREAM_IDENTIFIER = 0xff;
    private static final byte[] IDENTIFIER = "sNaPpY".getBytes(StandardCharsets.US_ASCII);

    private SnappyFrames() {}

    /**
     * Reads bytes {@code [start, end)} of the stream as whole Snappy frames (one or more framed
     * streams back to back), checking every chunk's type and checksum.
     *
     * @throws StateDecodingException damage when a chunk's type, length or checksum is wrong, or the
     *     region ends inside a chunk; not damage when reading the file itself failed
     */
    static void verify(FSDataInputStream in, long start, long end, String what) throws IOException {
        verify(in, start, end, what, false);
    }

    /**
     * As {@link #verify(FSDataInputStream, long, long, String)}; with {@code oneStream}, the region
     * must be a single framed stream (a full snapshot's key group: a second stream inside it is
     * the next key group's, whose recorded offset was lost).
     */
    static void verify(FSDataInputStream in, long start, long end, String what, boolean oneStream) throws IOException {
        requireRegion(start, end, what);
        requireChunkTypes(in, start, end, what, oneStream);
        in.seek(start);
        Region region = new Region(in, end - start);
        try (InputStream frames = new SnappyFramedInputStream(region, true)) {
            byte[] buffer = new byte[64 * 1024];
            while (frames.read(buffer) >= 0) {
                // the checksum of each chunk is checked as it is read
            }
        } catch (IOException e) {
            throw failure(region, e, what, start, end);
        }
    }

    /**
     * Where the framed stream that starts at {@code start} ends: at the next stream identifier
     * chunk, or at {@code end}. For a full snapshot's key group followed by key groups its handle
     * does not name (one framed stream each).
     *
     * @throws StateDecodingException when a chunk header is cut off or a chunk runs past {@code end}
     */
    static long streamEnd(FSDataInputStream in, long start, long end, String what) throws IOException {
        requireRegion(start, end, what);
        long pos = start;
        byte[] head = new byte[4];
        while (pos < end) {
            long length = readChunkHeader(in, pos, end, head, what);
            if ((head[0] & 0xff) == STREAM_IDENTIFIER && pos != start) {
                return pos;
            }
            pos += head.length + length;
        }
        if (pos != end) {
            throw new StateDecodingException(what + ": the last Snappy chunk runs to byte " + pos + ", past the data's end at"
                    + " byte " + end, true, null);
        }
        return end;
    }

    /**
     * The uncompressed bytes of {@code [start, end)} as a stream: chunks in the middle of the framed
     * stream that starts at {@code streamStart} (whose identifier is read from there), checksums
     * checked; as Flink's restore reads an element after seeking to its offset. Reads go through
     * {@link Element#read}, which tells damage from a failed read of the file.
     */
    static Element element(FSDataInputStream in, long streamStart, long start, long end, String what) throws IOException {
        requireRegion(start, end, what);
        byte[] header = new byte[HEADER_BYTES];
        in.seek(streamStart);
        readFully(in, header, what);
        in.seek(start);
        Region region = new Region(in, end - start);
        try {
            return new Element(new SnappyFramedInputStream(new SequenceInputStream(new ByteArrayInputStream(header), region),
                    true), region, what, start, end);
        } catch (IOException e) {
            throw failure(region, e, what, start, end);
        }
    }

    /** An input stream whose single-byte read goes through its block read. */
    private abstract static class BlockInputStream extends InputStream {
        @Override
        public final int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }
    }

    /** An element's uncompressed bytes; counts what was read. */
    static final class Element extends BlockInputStream {
        private final InputStream frames;
        private final Region region;
        private final String what;
        private final long start;
        private final long end;
        private long consumed;

        private Element(InputStream frames, Region region, String what, long start, long end) {
            this.frames = frames;
            this.region = region;
            this.what = what;
            this.start = start;
            this.end = end;
        }

        long consumed() {
            return consumed;
        }

        /** Whether every uncompressed byte of the region was read. */
        boolean exhausted() throws IOException {
            return read() < 0;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n;
            try {
                n = frames.read(b, off, len);
            } catch (IOException e) {
                throw failure(region, e, what, start, end);
            }
            if (n > 0) {
                consumed += n;
            }
            return n;
        }

        @Override
        public void close() throws IOException {
            frames.close(); // the region under it leaves the file open
        }
    }

    private static void requireRegion(long start, long end, String what) throws StateDecodingException {
        if (end < start) {
            throw new StateDecodingException(what + ": compressed data recorded at byte " + start + " end at byte " + end,
                    true, null);
        }
    }

    /** Reads the 4-byte chunk header at {@code pos} into {@code head}; returns the chunk's length. */
    private static long readChunkHeader(FSDataInputStream in, long pos, long end, byte[] head, String what) throws IOException {
        if (end - pos < head.length) {
            throw new StateDecodingException(what + ": a Snappy chunk header at byte " + pos + " is cut off at byte " + end,
                    true, null);
        }
        in.seek(pos);
        readFully(in, head, what);
        return (head[1] & 0xff) | (head[2] & 0xff) << 8 | (head[3] & 0xff) << 16;
    }

    /** Every chunk header of the region: a type Flink's writer emits, and an identifier where one is. */
    private static void requireChunkTypes(FSDataInputStream in, long start, long end, String what, boolean oneStream)
            throws IOException {
        long pos = start;
        byte[] head = new byte[4];
        byte[] identifier = new byte[IDENTIFIER.length];
        while (pos < end) {
            long length = readChunkHeader(in, pos, end, head, what);
            int type = head[0] & 0xff;
            if (type == STREAM_IDENTIFIER) {
                if (oneStream && pos != start) {
                    throw new StateDecodingException(what + ": a second Snappy stream starts at byte " + pos + ", inside"
                            + " the data recorded for it (from byte " + start + "), where Flink writes one", true, null);
                }
                if (length != IDENTIFIER.length || end - pos - head.length < length) {
                    throw new StateDecodingException(what + ": the Snappy stream identifier at byte " + pos + " has length "
                            + length, true, null);
                }
                readFully(in, identifier, what);
                if (!java.util.Arrays.equals(identifier, IDENTIFIER)) {
                    throw new StateDecodingException(what + ": the Snappy stream identifier at byte " + pos + " is not"
                            + " \"sNaPpY\"", true, null);
                }
            } else if (type != COMPRESSED && type != UNCOMPRESSED) {
                // padding or a reserved type: Snappy's reader would skip it unchecked, Flink writes none
                throw new StateDecodingException(what + ": a Snappy chunk of type 0x" + Integer.toHexString(type)
                        + " at byte " + pos + ", which Flink's compression never writes (a reader skips it unchecked)",
                        true, null);
            }
            pos += head.length + length;
        }
        if (pos != end) {
            throw new StateDecodingException(what + ": the last Snappy chunk runs to byte " + pos + ", past the data's end at"
                    + " byte " + end, true, null);
        }
    }

    private static void readFully(FSDataInputStream in, byte[] into, String what) throws IOException {
        int got = 0;
        while (got < into.length) {
            int n;
            try {
                n = in.read(into, got, into.length - got);
            } catch (IOException e) {
                throw new StateDecodingException(what + ": reading the file failed: " + e, false, e);
            }
            if (n < 0) {
                throw new StateDecodingException(what + ": the file ends inside a Snappy chunk header at byte "
                        + (in.getPos() - got), true, null);
            }
            got += n;
        }
    }

    /** Damage, unless reading the file itself failed: that proves nothing about its content. */
    private static StateDecodingException failure(Region region, IOException e, String what, long start, long end) {
        if (e instanceof StateDecodingException sde) {
            return sde;
        }
        if (region.readFailure != null) {
            return new StateDecodingException(what + ": reading the file failed: " + region.readFailure, false,
                    region.readFailure);
        }
        return new StateDecodingException(what + ": the compressed bytes " + start + "-" + end + " are not intact Snappy"
                + " frames (" + e.getMessage() + "); Flink's restore does not check their checksums and would decode"
                + " whatever they decompress to", true, e);
    }

    /** At most {@code remaining} bytes of the file, not closing it; a failed read is kept apart from damage. */
    private static final class Region extends BlockInputStream {
        private final FSDataInputStream in;
        private long remaining;
        IOException readFailure;

        Region(FSDataInputStream in, long length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            int n;
            try {
                n = in.read(b, off, (int) Math.min(len, remaining));
            } catch (IOException e) {
                readFailure = e;
                throw e;
            }
            if (n > 0) {
                remaining -= n;
            }
            return n;
        }

        @Override
        public int available() {
            return 0; // only what read() gives: the file's own figure would count bytes past the region
        }

        @Override
        public void close() {
            // the caller's stream stays open
        }
    }
}
