package io.github.s3tiered.checkpoint;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * What the JobManager's verification knows, as sent to the TaskManagers with each checkpoint: the
 * newest checkpoint proven entirely in S3, how many were not, and the objects known to be missing
 * (a TaskManager must not reference them again).
 *
 * @param newestVerified id of the newest checkpoint whose every file was found in S3, -1 if none yet
 * @param failedCheckpoints checkpoints found to reference a missing or resized object
 * @param missing paths of referenced objects not in S3 (as written in the state handles)
 */
public record VerificationStatus(long newestVerified, long failedCheckpoints, Set<String> missing) {

    /** Sent at most: the rest waits for a later checkpoint (the status is sent with every one). */
    static final int MAX_MISSING_SENT = 10_000;

    public static final VerificationStatus NONE = new VerificationStatus(-1, 0, Set.of());

    public VerificationStatus {
        missing = Set.copyOf(missing);
    }

    byte[] encode() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeLong(newestVerified);
            out.writeLong(failedCheckpoints);
            int n = Math.min(missing.size(), MAX_MISSING_SENT);
            out.writeInt(n);
            int i = 0;
            for (String path : missing) {
                if (i++ == n) {
                    break;
                }
                out.writeUTF(path);
            }
        }
        return bytes.toByteArray();
    }

    static VerificationStatus decode(byte[] bytes) throws IOException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            long newest = in.readLong();
            long failed = in.readLong();
            int n = in.readInt();
            if (n < 0 || n > MAX_MISSING_SENT) {
                throw new IOException("verification status with " + n + " missing objects");
            }
            Set<String> missing = new LinkedHashSet<>();
            for (int i = 0; i < n; i++) {
                missing.add(in.readUTF());
            }
            return new VerificationStatus(newest, failed, missing);
        }
    }
}
