package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.PathKey;

import org.apache.flink.core.fs.Path;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Set;

/**
 * What the JobManager's verification knows, as sent to the TaskManagers with each checkpoint: the
 * newest checkpoint proven entirely in S3, how many were not, and the objects known to be missing
 * (a TaskManager must not reference them again).
 *
 * <p>The missing objects travel as 64-bit fingerprints of their paths, not as paths: the status
 * rides in every barrier on every channel, and 10,000 paths would make that about 1 MB each. A
 * TaskManager only asks "is this file one of them?"; a false "yes" (a collision) costs one upload
 * of a file that is in S3, never a reference to one that is not.
 *
 * @param newestVerified id of the newest checkpoint whose every file was found in S3, -1 if none yet
 * @param failedCheckpoints checkpoints found to reference a missing or resized object
 * @param missing paths of referenced objects not in S3 (as written in the state handles)
 */
public record VerificationStatus(long newestVerified, long failedCheckpoints, Set<String> missing) {

    /**
     * Fingerprints sent at most (4 KiB): the rest wait for a later checkpoint. A missing object is
     * dropped from the set once no newer checkpoint references it, so what was sent makes room.
     * Small, as Flink puts the reference into every barrier on every channel: 64 KiB made 2.6 GB of
     * barriers per checkpoint in a 200 by 200 all-to-all job.
     */
    static final int MAX_MISSING_SENT = 512;
    /** What a reference may hold: a JobManager with the lib jar of version 0.2 sends up to 8,192. */
    private static final int MAX_MISSING_ACCEPTED = 8_192;

    public VerificationStatus {
        missing = Set.copyOf(missing);
    }

    byte[] encode() throws IOException {
        int n = Math.min(missing.size(), MAX_MISSING_SENT);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(24 + 8 * n);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeLong(newestVerified);
            out.writeLong(failedCheckpoints);
            out.writeInt(missing.size());
            out.writeInt(n);
            int i = 0;
            for (String path : missing) {
                if (i++ == n) {
                    break;
                }
                out.writeLong(fingerprint(PathKey.of(new Path(path))));
            }
        }
        return bytes.toByteArray();
    }

    static Received decode(byte[] bytes) throws IOException {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
            long newest = in.readLong();
            long failed = in.readLong();
            int known = in.readInt();
            int n = in.readInt();
            if (n < 0 || n > MAX_MISSING_ACCEPTED || known < n) {
                throw new IOException("Malformed verification status: " + n + " of " + known + " missing objects sent");
            }
            long[] fingerprints = new long[n];
            for (int i = 0; i < n; i++) {
                fingerprints[i] = in.readLong();
            }
            if (in.read() != -1) {
                throw new IOException("Malformed verification status: " + bytes.length + " bytes, more than its "
                        + n + " missing objects");
            }
            Arrays.sort(fingerprints);
            return new Received(newest, failed, known, fingerprints);
        }
    }

    /**
     * FNV-1a over the UTF-8 bytes of the path's {@link PathKey}: the same on the JobManager and
     * every TaskManager, whatever their JVMs; no adversary chooses the paths.
     */
    static long fingerprint(String pathKey) {
        long h = 0xcbf29ce484222325L;
        for (byte b : pathKey.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    /**
     * The status as a TaskManager received it.
     *
     * @param missingObjects how many objects the JobManager knows to be missing (more than were sent
     *     when over {@link #MAX_MISSING_SENT})
     */
    public record Received(long newestVerified, long failedCheckpoints, int missingObjects, long[] sortedFingerprints) {

        public static final Received NONE = new Received(-1, 0, 0, new long[0]);

        boolean anyMissingSent() {
            return sortedFingerprints.length > 0;
        }

        /** True when the file is (or, rarely, collides with) one the JobManager found missing. */
        boolean mayBeMissing(Path file) {
            return Arrays.binarySearch(sortedFingerprints, fingerprint(PathKey.of(file))) >= 0;
        }
    }
}
