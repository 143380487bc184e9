package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointStorageLocationReference;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * What the JobManager tells the tasks travels inside the checkpoint's storage location reference:
 * Flink hands that reference, unchanged, to every task of the checkpoint (in the trigger and in the
 * barriers), and only the storage that made it reads it. So it reaches every TaskManager with the
 * next checkpoint, with no request to S3. It carries:
 *
 * <ul>
 *   <li>the JobManager's reuse window for uploads ahead of checkpoints: the JobManager's orphan
 *       removal, and the grace it records for the inspector's {@code orphans}
 *       ({@link PreUploadGraceFile}), keep an unreferenced upload for as long as its window allows,
 *       so a task must not reuse one for longer, whatever its TaskManager's own configuration says;
 *   <li>the verification status ({@link VerificationStatus}), when completed checkpoints are verified.
 * </ul>
 *
 * <p>Layout: a magic number, then the original reference (length -1 for Flink's default
 * reference), the window in milliseconds ({@link #PRE_UPLOAD_OFF} when the JobManager has
 * pre-upload off, {@link #REUSE_HELD} while it holds reuse back), and, after a flag byte, the
 * encoded status. A reference without the magic number is Flink's own (a savepoint's) and passes
 * through unchanged.
 */
final class LocationReferences {

    private static final int MAGIC = 0x53335457; // "S3TW"

    /** The JobManager's window when it has pre-upload off: no task reuses an upload then. */
    static final long PRE_UPLOAD_OFF = io.github.s3tiered.preupload.JobManagerReuseWindows.NONE;
    /**
     * Sent instead of the window while the grace the JobManager records for the inspector is not
     * yet durable ({@link PreUploadGraceFile}): no task reuses an upload in this checkpoint, and
     * uploads ahead go on.
     */
    static final long REUSE_HELD = io.github.s3tiered.preupload.JobManagerReuseWindows.HELD;
    /**
     * Decoded from Flink's own reference: nothing came from the JobManager (a savepoint's, or a
     * checkpoint a legacy source triggered itself with the default reference).
     */
    static final long NOT_SENT = Long.MIN_VALUE;

    /**
     * A decoded reference: Flink's own, the JobManager's reuse window ({@link #PRE_UPLOAD_OFF},
     * {@link #REUSE_HELD}, {@link #NOT_SENT}) and the verification status (null when none came).
     */
    record Decoded(CheckpointStorageLocationReference original, long reuseWindowMillis, VerificationStatus.Received status) {}

    private LocationReferences() {}

    /** @param status null when completed checkpoints are not verified */
    static CheckpointStorageLocationReference encode(CheckpointStorageLocationReference original, long reuseWindowMillis,
            VerificationStatus status) throws IOException {
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
            out.writeLong(reuseWindowMillis);
            out.writeBoolean(status != null);
            if (status != null) {
                out.write(status.encode());
            }
        }
        return new CheckpointStorageLocationReference(bytes.toByteArray());
    }

    static Decoded decode(CheckpointStorageLocationReference reference) throws IOException {
        if (reference.isDefaultReference()) {
            return new Decoded(reference, NOT_SENT, null);
        }
        byte[] bytes = reference.getReferenceBytes();
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        if (bytes.length < 8 || buf.getInt() != MAGIC) {
            return new Decoded(reference, NOT_SENT, null);
        }
        int length = buf.getInt();
        if (length < -1 || length == 0 || Math.max(length, 0) > buf.remaining() - 9) {
            throw new IOException("Malformed s3tiered checkpoint location reference (" + bytes.length + " bytes)");
        }
        CheckpointStorageLocationReference original = length < 0
                ? CheckpointStorageLocationReference.getDefault()
                : new CheckpointStorageLocationReference(Arrays.copyOfRange(bytes, 8, 8 + length));
        buf.position(8 + Math.max(length, 0));
        long window = buf.getLong();
        byte flag = buf.get();
        if (flag != 0 && flag != 1) {
            throw new IOException("Malformed s3tiered checkpoint location reference (" + bytes.length + " bytes)");
        }
        boolean hasStatus = flag == 1;
        VerificationStatus.Received status = hasStatus
                ? VerificationStatus.decode(Arrays.copyOfRange(bytes, buf.position(), bytes.length)) : null;
        if (!hasStatus && buf.hasRemaining()) {
            throw new IOException("Malformed s3tiered checkpoint location reference (" + bytes.length + " bytes)");
        }
        return new Decoded(original, window, status);
    }
}
