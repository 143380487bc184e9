package io.github.s3tiered.fs;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/** The SHA-256 (identity of content) and CRC32C (what S3 checks) of a file, in one read. */
record ContentHash(long length, String sha256, int crc32c) {

    private static final int BUFFER = 256 * 1024;

    PreUploads.ContentId id() {
        return new PreUploads.ContentId(length, sha256);
    }

    static ContentHash of(Path file) throws IOException {
        MessageDigest sha = newDigest();
        CRC32C crc = new CRC32C();
        byte[] buffer = new byte[BUFFER];
        long length = 0;
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buffer)) != -1) {
                sha.update(buffer, 0, n);
                crc.update(buffer, 0, n);
                length += n;
            }
        }
        return new ContentHash(length, HexFormat.of().formatHex(sha.digest()), (int) crc.getValue());
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }
}
