package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The JobManager's verification status travels to the tasks inside the checkpoint's storage
 * location reference: Flink hands that reference, unchanged, to every task of the checkpoint (in
 * the trigger and in the barriers), and only the storage that made it reads it. So the status
 * reaches every TaskManager with the next checkpoint, with no request to S3.
 *
 * <p>Layout: a magic number, then the original reference (length -1 for Flink's default
 * reference), then the encoded {@link VerificationStatus}. A reference without the magic number is
 * Flink's own and passes through unchanged.
 */
final class LocationReferences {

    private static final int MAGIC = 0x53335456; // "S3TV"

    /** A decoded reference: Flink's own, and the status that came with it (null when none). */
    record Decoded(CheckpointStorageLocationReference original, VerificationStatus status) {}

    private LocationReferences() {}

    static CheckpointStorageLocationReference encode(CheckpointStorageLocationReference original, VerificationStatus status)
            throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            if (original.isDefaultReference()) {
                out.writeInt(-1);
            } else {
                byte[] o = original.getReferenceBytes();
                out.writeInt(o.length);
                out.write(o);
            }
            out.write(status.encode());
        }
        return new CheckpointStorageLocationReference(bytes.toByteArray());
    }

    static Decoded decode(CheckpointStorageLocationReference reference) throws IOException {
        if (reference.isDefaultReference()) {
            return new Decoded(reference, null);
        }
        byte[] bytes = reference.getReferenceBytes();
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        if (bytes.length < 8 || buf.getInt() != MAGIC) {
            return new Decoded(reference, null);
        }
        int length = buf.getInt();
        if (length > buf.remaining()) {
            throw new IOException("Malformed s3tiered checkpoint location reference (" + bytes.length + " bytes)");
        }
        CheckpointStorageLocationReference original = length < 0
                ? CheckpointStorageLocationReference.getDefault()
                : new CheckpointStorageLocationReference(Arrays.copyOfRange(bytes, 8, 8 + length));
        int statusStart = 8 + Math.max(length, 0);
        return new Decoded(original, VerificationStatus.decode(Arrays.copyOfRange(bytes, statusStart, bytes.length)));
    }
}
