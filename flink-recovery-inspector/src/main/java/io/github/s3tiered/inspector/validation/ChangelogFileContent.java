package io.github.s3tiered.inspector.validation;

import org.xerial.snappy.Snappy;
import org.xerial.snappy.SnappyError;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * A changelog file of changes as it streams from the storage: its compression flag and, when
 * compressed (flag 1), its Snappy framing checked chunk by chunk against the CRC32C each data chunk
 * carries and the bytes they decompress to counted; the count is what Flink recorded as the file's
 * size ({@code flink-dstl-dfs}'s {@code OutputStreamWithPos} counts the bytes written before
 * compression). A compressed file's size on the storage proves nothing about that count, so only
 * this read tells a compressed file cut short, or whose chunks were replaced, from a whole one.
 *
 * <p>Never throws from {@code write}: the first damage found is kept and the rest of the bytes are
 * only counted, so a read of the storage is never taken for damage nor damage for a failed read.
 * Memory is one chunk (Flink's writer makes chunks of at most 64 KiB before compression).
 */
final class ChangelogFileContent extends OutputStream {

    static final int NO_FLAG = -1;

    private static final int COMPRESSED_FLAG = 1;
    private static final int COMPRESSED_CHUNK = 0x00;
    private static final int UNCOMPRESSED_CHUNK = 0x01;
    private static final int STREAM_IDENTIFIER = 0xff;
    private static final byte[] IDENTIFIER = "sNaPpY".getBytes(StandardCharsets.US_ASCII);
    /** The framing format's bound on a data chunk's uncompressed bytes. */
    private static final int MAX_UNCOMPRESSED = 65536;
    private static final int CHECKSUM_BYTES = 4;

    private final byte[] header = new byte[4];
    private final CRC32C crc = new CRC32C();
    private byte[] body = new byte[0];
    private byte[] uncompressed = new byte[MAX_UNCOMPRESSED];

    // Invariant: bytes [0, consumed) were seen; while neither flag nor damage stops the check,
    // either headerFilled < 4 (a chunk header in progress, starting at chunkStart) or bodyFilled <
    // bodyLength (its body in progress).
    private long consumed;
    private int flag = NO_FLAG;
    private int headerFilled;
    private int bodyLength = -1;
    private int bodyFilled;
    private long chunkStart = 1;
    private int chunkType = -1;
    private boolean identifierSeen;
    private long decompressed;
    private String damage;
    /** Shared by all checks of this process: whether Snappy's native library failed to load. */
    private static volatile boolean nativeSnappyUnavailable;

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ChangelogFileContent.class);

    @Override
    public void write(int b) {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
        int end = off + len;
        while (off < end) {
            if (consumed == 0) {
                flag = b[off++] & 0xff;
                consumed++;
                continue;
            }
            if (flag != COMPRESSED_FLAG || damage != null) {
                consumed += end - off; // nothing further to check in these bytes
                return;
            }
            int taken;
            if (bodyLength < 0) {
                taken = Math.min(header.length - headerFilled, end - off);
                System.arraycopy(b, off, header, headerFilled, taken);
                headerFilled += taken;
                if (headerFilled == header.length) {
                    startBody();
                }
            } else {
                taken = Math.min(bodyLength - bodyFilled, end - off);
                System.arraycopy(b, off, body, bodyFilled, taken);
                bodyFilled += taken;
            }
            off += taken;
            consumed += taken;
            if (damage == null && bodyLength >= 0 && bodyFilled == bodyLength) {
                endChunk();
            }
        }
    }

    /** As where Snappy's native library cannot load (for tests). */
    static void nativeSnappyUnavailable(boolean unavailable) {
        nativeSnappyUnavailable = unavailable;
    }

    /** The first byte, or {@link #NO_FLAG} for an empty file. */
    int flag() {
        return flag;
    }

    /**
     * Why the compressed content is not what Flink's writer leaves, read to its end: damaged or
     * unknown chunks, or the file cut short (see {@link #cutShort()}); null when whole (or not
     * compressed).
     */
    String damage() {
        if (cutShort()) {
            return identifierSeen || headerFilled > 0
                    ? "the Snappy chunk at byte " + chunkStart + " is cut off at the file's end, byte " + consumed
                            + ": the file was cut short"
                    : "it holds no Snappy stream after its flag: the file was cut short";
        }
        return damage;
    }

    /** Whether the compressed content, intact as far as it goes, ends inside a chunk or before any. */
    boolean cutShort() {
        return damage == null && flag == COMPRESSED_FLAG && (bodyLength >= 0 || headerFilled > 0 || !identifierSeen);
    }

    /** The bytes the compressed file's chunks decompress to (meaningful when {@link #damage()} is null). */
    long decompressedLength() {
        return decompressed;
    }

    private void startBody() {
        chunkType = header[0] & 0xff;
        int length = (header[1] & 0xff) | (header[2] & 0xff) << 8 | (header[3] & 0xff) << 16;
        if (!identifierSeen && chunkType != STREAM_IDENTIFIER) {
            damage = "it does not start with a Snappy stream identifier after its flag (a chunk of type 0x"
                    + Integer.toHexString(chunkType) + " at byte " + chunkStart + ")";
        } else if (chunkType == STREAM_IDENTIFIER && length != IDENTIFIER.length) {
            damage = "the Snappy stream identifier at byte " + chunkStart + " has length " + length;
        } else if (chunkType != STREAM_IDENTIFIER && chunkType != COMPRESSED_CHUNK && chunkType != UNCOMPRESSED_CHUNK) {
            // padding or a reserved type: Snappy's reader would skip it unchecked, Flink writes none
            damage = "a Snappy chunk of type 0x" + Integer.toHexString(chunkType) + " at byte " + chunkStart
                    + ", which Flink's compression never writes (a reader skips it unchecked)";
        } else if (chunkType != STREAM_IDENTIFIER && (length < CHECKSUM_BYTES
                || length > CHECKSUM_BYTES + Snappy.maxCompressedLength(MAX_UNCOMPRESSED))) {
            damage = "the Snappy chunk at byte " + chunkStart + " has length " + length + ", which no chunk of at most "
                    + MAX_UNCOMPRESSED + " bytes has";
        }
        if (damage == null && body.length < length) {
            body = new byte[length];
        }
        bodyLength = length;
        bodyFilled = 0;
    }

    private void endChunk() {
        if (chunkType == STREAM_IDENTIFIER) {
            if (!Arrays.equals(body, 0, bodyLength, IDENTIFIER, 0, IDENTIFIER.length)) {
                damage = "the Snappy stream identifier at byte " + chunkStart + " is not \"sNaPpY\"";
            }
            identifierSeen = true;
        } else {
            int recorded = (body[0] & 0xff) | (body[1] & 0xff) << 8 | (body[2] & 0xff) << 16 | (body[3] & 0xff) << 24;
            int length = chunkType == UNCOMPRESSED_CHUNK ? bodyLength - CHECKSUM_BYTES : uncompress();
            if (damage == null) {
                if (length > MAX_UNCOMPRESSED) {
                    damage = "the Snappy chunk at byte " + chunkStart + " holds " + length + " bytes, more than the "
                            + MAX_UNCOMPRESSED + " a chunk may";
                } else if (chunkType == COMPRESSED_CHUNK && nativeSnappyUnavailable) {
                    decompressed += length; // its bytes unknown here: the checksum cannot be checked
                } else {
                    byte[] data = chunkType == UNCOMPRESSED_CHUNK ? body : uncompressed;
                    int from = chunkType == UNCOMPRESSED_CHUNK ? CHECKSUM_BYTES : 0;
                    crc.reset();
                    crc.update(data, from, length);
                    if (masked((int) crc.getValue()) != recorded) {
                        damage = "the CRC32C of the Snappy chunk at byte " + chunkStart + " does not match its content";
                    }
                    decompressed += length;
                }
            }
        }
        chunkStart = consumed;
        headerFilled = 0;
        bodyLength = -1;
    }

    /**
     * Decompresses the chunk's data into {@link #uncompressed}; its length, or -1 with the damage
     * set. Where Snappy's native library cannot load here (a container whose temporary directory
     * forbids executables), the length comes from the compressed data's own preamble and the
     * chunk's checksum is not checked: a file cut short is still told, damage inside a chunk is not.
     */
    private int uncompress() {
        if (nativeSnappyUnavailable) {
            return preambleLength();
        }
        try {
            int length = Snappy.uncompressedLength(body, CHECKSUM_BYTES, bodyLength - CHECKSUM_BYTES);
            if (length < 0 || length > MAX_UNCOMPRESSED) {
                damage = "the Snappy chunk at byte " + chunkStart + " claims " + length + " bytes uncompressed, more than"
                        + " the " + MAX_UNCOMPRESSED + " a chunk may";
                return -1;
            }
            return Snappy.uncompress(body, CHECKSUM_BYTES, bodyLength - CHECKSUM_BYTES, uncompressed, 0);
        } catch (SnappyError e) {
            if (e.errorCode == org.xerial.snappy.SnappyErrorCode.FAILED_TO_LOAD_NATIVE_LIBRARY) {
                return withoutNativeSnappy(e);
            }
            damage = "the Snappy chunk at byte " + chunkStart + " does not decompress (" + e.getMessage() + ")";
            return -1;
        } catch (IOException e) {
            damage = "the Snappy chunk at byte " + chunkStart + " does not decompress (" + e.getMessage() + ")";
            return -1;
        } catch (LinkageError e) {
            return withoutNativeSnappy(e);
        }
    }

    private int withoutNativeSnappy(Throwable why) {
        nativeSnappyUnavailable = true;
        LOG.warn("Snappy's native library cannot load here ({}): compressed changelog files are checked for their"
                + " length only, not against their checksums", why.toString());
        return preambleLength();
    }

    /** The uncompressed length a Snappy block starts with (a little-endian base-128 varint), or -1 with the damage set. */
    private int preambleLength() {
        long length = 0;
        for (int i = 0, at = CHECKSUM_BYTES; i < 5; i++, at++) {
            if (at >= bodyLength) {
                break;
            }
            int b = body[at] & 0xff;
            length |= (long) (b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0) {
                if (length > MAX_UNCOMPRESSED) {
                    break;
                }
                return (int) length;
            }
        }
        damage = "the Snappy chunk at byte " + chunkStart + " does not start with the length of its uncompressed data";
        return -1;
    }

    /** The framing format's checksum: the CRC32C rotated and offset (as Snappy's framing defines it). */
    private static int masked(int crc) {
        return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
    }
}
