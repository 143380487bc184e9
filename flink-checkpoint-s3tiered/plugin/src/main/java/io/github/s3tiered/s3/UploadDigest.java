package io.github.s3tiered.s3;

import java.io.EOFException;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.zip.CRC32C;

/**
 * The {@code Content-MD5} of an upload's body, computed from the file range about to be sent. S3
 * (and S3Proxy, MinIO) refuse a body whose MD5 differs (400 {@code BadDigest}), so bytes altered
 * between this process and the server never become the object: the request is sent again. Where
 * nothing else checks the bytes in flight (plain http, the SDK's own request checksums off with a
 * custom endpoint), an altered body was stored and the checkpoint completed on it; only a read
 * checking the recorded CRC32C would have found it, at restore time.
 *
 * <p>The same pass computes the range's CRC32C. A whole-file PUT compares it with the CRC32C
 * recorded while the file was written: a staged file altered on local disk since is never uploaded
 * (its recorded CRC32C would describe other bytes, and every read of the object would fail).
 */
final class UploadDigest {

    private static final int BUFFER_BYTES = 64 * 1024;

    private UploadDigest() {}

    /**
     * The base64 MD5 of {@code length} bytes of {@code file} from {@code offset}; when {@code
     * expectedCrc32c} is not null, fails with {@link StagedFileChangedException} if their CRC32C
     * differs. Read through a {@code java.io} stream: an interrupt does not close it (a cancelled
     * upload stops at its body).
     */
    static String contentMd5(Path file, long offset, long length, Integer expectedCrc32c, String what)
            throws IOException {
        return of(file, offset, length, expectedCrc32c, what).md5Base64();
    }

    /** The base64 MD5 and the CRC32C of a range of a file about to be sent. */
    record RangeDigest(String md5Base64, int crc32c) {}

    /** As {@link #contentMd5}, with the range's CRC32C. */
    static RangeDigest of(Path file, long offset, long length, Integer expectedCrc32c, String what) throws IOException {
        MessageDigest md5 = md5();
        CRC32C crc = new CRC32C();
        byte[] buf = new byte[(int) Math.min(BUFFER_BYTES, Math.max(1, length))];
        try (InputStream in = new FileInputStream(file.toFile())) {
            in.skipNBytes(offset);
            long left = length;
            while (left > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                if (n < 0) {
                    throw new EOFException("The file " + file + " of " + what + " ended " + left + " bytes before the "
                            + length + " to upload from offset " + offset);
                }
                md5.update(buf, 0, n);
                crc.update(buf, 0, n);
                left -= n;
            }
        } catch (EOFException e) {
            throw new StagedFileChangedException(e.getMessage());
        }
        if (expectedCrc32c != null && (int) crc.getValue() != expectedCrc32c) {
            throw new StagedFileChangedException("The file " + file + " of " + what + " changed on local disk after it was"
                    + " written: its CRC32C is " + Crc32c.toHex((int) crc.getValue()) + ", " + Crc32c.toHex(expectedCrc32c)
                    + " when written. It is not uploaded: the object would not hold what was written (a failing disk,"
                    + " or another process writing into the tier's staging directory).");
        }
        return new RangeDigest(Base64.getEncoder().encodeToString(md5.digest()), (int) crc.getValue());
    }

    /**
     * Fails when the parts' CRC32Cs, combined in order, are not the file's recorded one: the file
     * changed on local disk between its write and its parts' reads. Parts without a CRC32C (a body
     * the SDK did not read to its end, a store that does not compute it) are not checked.
     */
    static void requirePartsMatch(java.util.List<UploadedPart> parts, int recordedCrc32c, String what) throws IOException {
        Integer combined = null;
        for (UploadedPart p : parts) {
            if (p.crc32c() == null || p.length() < 0) {
                return;
            }
            combined = combined == null ? p.crc32c() : Crc32c.combine(combined, p.crc32c(), p.length());
        }
        if (combined != null && combined != recordedCrc32c) {
            throw new StagedFileChangedException("The parts of " + what + " hold CRC32C " + Crc32c.toHex(combined)
                    + ", the file's when written " + Crc32c.toHex(recordedCrc32c) + ": it changed on local disk after it"
                    + " was written. The upload is not completed: the object would not hold what was written.");
        }
    }

    /**
     * The CRC32C of the bytes a request body sent, as the SDK read them from the staged file. The
     * SDK opens the body anew for every attempt (and may read it once more to compute a checksum
     * before sending): the last one opened and read to its end is what S3 received. Content-MD5
     * (off by default over https) checks the bytes the SDK reads against those hashed just before;
     * this checks them against those written, at the cost of a CRC32C pass over bytes read anyway.
     */
    static final class SentBody {
        private final long length;
        private volatile Counting last;

        SentBody(long length) {
            this.length = length;
        }

        InputStream open(InputStream in) {
            Counting c = new Counting(in);
            last = c;
            return c;
        }

        /** The CRC32C of the body S3 received; null when no body was read to its end (nothing to compare). */
        Integer crc32c() {
            Counting c = last;
            return c != null && c.count == length ? (int) c.crc.getValue() : null;
        }

        private static final class Counting extends java.io.FilterInputStream {
            private final CRC32C crc = new CRC32C();
            private long count;

            Counting(InputStream in) {
                super(in);
            }

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    crc.update(b);
                    count++;
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    crc.update(b, off, n);
                    count += n;
                }
                return n;
            }

            @Override
            public long skip(long n) throws IOException {
                // bytes skipped were not sent: they do not count, so the body is not read to its end
                long skipped = super.skip(n);
                count = Long.MIN_VALUE;
                return skipped;
            }

            @Override
            public boolean markSupported() {
                return false; // the SDK opens the body again instead of resetting it
            }
        }
    }

    /** Fails when the body S3 received is not what was written: the staged file changed on local disk meanwhile. */
    static void requireSentAsWritten(SentBody body, int writtenCrc32c, Path file, String what, String objectFate)
            throws StagedFileChangedException {
        Integer sent = body.crc32c();
        if (sent != null && sent != writtenCrc32c) {
            throw new StagedFileChangedException("The file " + file + " of " + what + " changed on local disk after it was"
                    + " written: the body sent has CRC32C " + Crc32c.toHex(sent) + ", " + Crc32c.toHex(writtenCrc32c)
                    + " when written (a failing disk, or another process writing into the tier's staging directory). "
                    + objectFate);
        }
    }

    private static MessageDigest md5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is required of every Java platform", e);
        }
    }

    /** A file to upload that no longer holds what was written: sending it again cannot help. */
    static final class StagedFileChangedException extends IOException {
        private static final long serialVersionUID = 1L;

        StagedFileChangedException(String message) {
            super(message);
        }
    }
}
