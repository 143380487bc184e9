package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.FSDataInputStream;

import org.xerial.snappy.SnappyFramedInputStream;

import java.io.IOException;
import java.io.InputStream;

/**
 * Checks compressed snapshot data ({@code execution.checkpointing.snapshot-compression}) against
 * the checksums it carries. Flink writes it in Snappy's framing format, whose every chunk holds a
 * CRC32C of its uncompressed bytes, but reads it without checking them
 * ({@code SnappyStreamCompressionDecorator}: {@code new SnappyFramedInputStream(in, false)}): most
 * damaged compressed bytes decompress into other bytes, which deserialize into other state
 * (a changed count or value) and restore without an error. With the checksums checked, a single
 * changed bit in a chunk is always caught.
 */
final class SnappyFrames {

    private SnappyFrames() {}

    /**
     * Reads bytes {@code [start, end)} of the stream as whole Snappy frames (one or more framed
     * streams back to back), checking every chunk's checksum.
     *
     * @throws StateDecodingException (damage) when a checksum, a chunk header or the framing is wrong,
     *     or the region ends inside a chunk
     * @throws IOException when reading the file itself failed (not a verdict on its content)
     */
    static void verify(FSDataInputStream in, long start, long end, String what) throws IOException {
        if (end < start) {
            throw new StateDecodingException(what + ": compressed data recorded at byte " + start + " end at byte " + end,
                    true, null);
        }
        in.seek(start);
        Region region = new Region(in, end - start);
        try (InputStream frames = new SnappyFramedInputStream(region, true)) {
            byte[] buffer = new byte[64 * 1024];
            while (frames.read(buffer) >= 0) {
                // the checksum of each chunk is checked as it is read
            }
        } catch (IOException e) {
            if (region.readFailure != null) {
                throw region.readFailure;
            }
            throw new StateDecodingException(what + ": the compressed bytes " + start + "-" + end + " are not intact Snappy"
                    + " frames (" + e.getMessage() + "); Flink's restore does not check their checksums and would decode"
                    + " whatever they decompress to", true, e);
        }
    }

    /** The framing format's stream identifier chunk, which starts every framed stream. */
    static final int HEADER_BYTES = 10;

    /**
     * The uncompressed bytes of {@code [start, end)}, chunks in the middle of the framed stream
     * that starts at {@code streamStart} (whose identifier is read from there), checksums checked;
     * as Flink's restore reads an element after seeking to its offset.
     */
    static byte[] decompress(FSDataInputStream in, long streamStart, long start, long end, String what) throws IOException {
        byte[] header = new byte[HEADER_BYTES];
        in.seek(streamStart);
        int got = 0;
        while (got < header.length) {
            int n = in.read(header, got, header.length - got);
            if (n < 0) {
                throw new StateDecodingException(what + ": the compressed stream at byte " + streamStart + " has no header",
                        true, null);
            }
            got += n;
        }
        if (end < start) {
            throw new StateDecodingException(what + ": compressed data recorded at byte " + start + " end at byte " + end,
                    true, null);
        }
        in.seek(start);
        Region region = new Region(in, end - start);
        try (InputStream frames = new SnappyFramedInputStream(
                new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(header), region), true)) {
            return frames.readAllBytes();
        } catch (IOException e) {
            if (region.readFailure != null) {
                throw region.readFailure;
            }
            throw new StateDecodingException(what + ": the compressed bytes " + start + "-" + end + " are not intact Snappy"
                    + " frames (" + e.getMessage() + ")", true, e);
        }
    }

    /** At most {@code remaining} bytes of the file, not closing it; a failed read is kept apart from damage. */
    private static final class Region extends InputStream {
        private final FSDataInputStream in;
        private long remaining;
        IOException readFailure;

        Region(FSDataInputStream in, long length) {
            this.in = in;
            this.remaining = length;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
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
