package io.github.s3tiered.checkpoint;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

/**
 * {@code <checkpoint-dir>/<job-id>/s3tiered-verification.json}: where an operator (or a script)
 * sees which checkpoint was last proven entirely in S3 and what the last failure was. Written after
 * each verification, replacing the previous one; beside the checkpoints, outside {@code chk-N},
 * {@code shared/} and {@code taskowned/}, so Flink and the inspector ignore it. Its fields:
 *
 * <pre>{@code
 * {"schemaVersion": 1, "jobDirectory": "...", "updated": "2026-12-02T10:00:00Z",
 *  "newestVerifiedCheckpoint": 41, "lastCheckedCheckpoint": 42, "checkpointsVerified": 40,
 *  "checkpointsFailed": 1, "listRequests": 95,
 *  "lastFailure": {"checkpointId": 42, "time": "...", "missing": ["s3tiered://..."], "resized": []} | null,
 *  "knownMissing": ["s3tiered://..."]}
 * }</pre>
 */
final class VerificationStatusFile {

    static final String NAME = "s3tiered-verification.json";
    private static final Logger LOG = LoggerFactory.getLogger(VerificationStatusFile.class);

    /** The last checkpoint found to reference objects S3 does not hold as recorded. */
    record Failure(long checkpointId, long timeMillis, List<String> missing, List<String> resized) {}

    /** What the file says. */
    record Snapshot(long newestVerified, long lastChecked, long verified, long failed, Failure lastFailure,
            List<String> knownMissing, long listRequests, long updatedMillis) {}

    private final Path file;

    VerificationStatusFile(Path jobDir) {
        this.file = new Path(jobDir, NAME);
    }

    void write(Snapshot s) {
        StringBuilder j = new StringBuilder("{\n");
        j.append("  \"schemaVersion\": 1,\n");
        j.append("  \"jobDirectory\": ").append(quote(file.getParent().toString())).append(",\n");
        j.append("  \"updated\": ").append(quote(Instant.ofEpochMilli(s.updatedMillis()).toString())).append(",\n");
        j.append("  \"newestVerifiedCheckpoint\": ").append(s.newestVerified() < 0 ? "null" : s.newestVerified()).append(",\n");
        j.append("  \"lastCheckedCheckpoint\": ").append(s.lastChecked()).append(",\n");
        j.append("  \"checkpointsVerified\": ").append(s.verified()).append(",\n");
        j.append("  \"checkpointsFailed\": ").append(s.failed()).append(",\n");
        j.append("  \"listRequests\": ").append(s.listRequests()).append(",\n");
        if (s.lastFailure() == null) {
            j.append("  \"lastFailure\": null,\n");
        } else {
            Failure f = s.lastFailure();
            j.append("  \"lastFailure\": {\"checkpointId\": ").append(f.checkpointId())
                    .append(", \"time\": ").append(quote(Instant.ofEpochMilli(f.timeMillis()).toString()))
                    .append(", \"missing\": ").append(array(f.missing()))
                    .append(", \"resized\": ").append(array(f.resized())).append("},\n");
        }
        j.append("  \"knownMissing\": ").append(array(s.knownMissing())).append("\n}\n");
        try {
            FileSystem fs = file.getFileSystem();
            try (FSDataOutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
                out.write(j.toString().getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            LOG.warn("Could not write the verification status {}: {}", file, e.toString());
        }
    }

    private static String array(List<String> values) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(quote(values.get(i)));
        }
        return sb.append(']').toString();
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
