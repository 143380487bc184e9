package io.github.s3tiered.inspector.orphans;

import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.storage.DirectoryListings;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long a running job's TaskManagers may still hand an unreferenced upload ahead of a
 * checkpoint ({@code shared/<sha256>.sst}) to a checkpoint in progress, as the tiered storage
 * records it in the job's verification status: such a file must not be called an orphan before.
 * The storage derives it from its reuse window, which follows the checkpoint interval, so a fixed
 * minimum age of the orphan search cannot cover every job.
 *
 * @param millis the grace; 0 when the job recorded none (no status file, or one from before the
 *     field); {@link #UNKNOWN} when a status file exists but could not be read
 */
record PreUploadGrace(long millis) {

    static final long UNKNOWN = -1;
    static final String FIELD = "preUploadOrphanGraceMillis";
    private static final Pattern FIELD_VALUE = Pattern.compile("\"" + FIELD + "\"\\s*:\\s*(\\d{1,18})");
    /** A status file is a few KiB; more is not one the storage wrote. */
    private static final int MAX_STATUS_BYTES = 16 << 20;

    static PreUploadGrace none() {
        return new PreUploadGrace(0);
    }

    boolean unknown() {
        return millis == UNKNOWN;
    }

    /** Reads the job directory's status file if its listing shows one. */
    static PreUploadGrace of(Path jobDir, DirectoryListings listings, ChecksumSource checksums) throws IOException {
        FileStatus status = listings.listOrThrow(jobDir).get(CheckpointNames.VERIFICATION_STATUS_FILE);
        if (status == null || status.isDir()) {
            return none();
        }
        if (status.getLen() > MAX_STATUS_BYTES) {
            return new PreUploadGrace(UNKNOWN);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream((int) Math.max(0, status.getLen()));
        try {
            listings.calls().readDurable(status.getPath(), bytes, checksums);
        } catch (FileNotFoundException gone) {
            // replaced between the listing and the read (the storage writes it after every checkpoint)
            return new PreUploadGrace(UNKNOWN);
        }
        return parse(bytes.toString(StandardCharsets.UTF_8));
    }

    static PreUploadGrace parse(String json) {
        Matcher m = FIELD_VALUE.matcher(json);
        if (m.find()) {
            return new PreUploadGrace(Long.parseLong(m.group(1)));
        }
        // written before the field existed, or not by the storage: a fixed 10 min window then
        String whole = json.strip();
        return whole.startsWith("{") && whole.endsWith("}") && whole.contains("\"schemaVersion\"")
                ? none() : new PreUploadGrace(UNKNOWN);
    }
}
