package io.github.s3tiered.inspector.orphans;

import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.Path;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long an unreferenced upload ahead of a checkpoint ({@code shared/<sha256>-<id>.sst}) may still come
 * to be referenced, as the job's tiered storage recorded it ({@code s3tiered-preupload.json}): a
 * TaskManager may hand it to a checkpoint up to the job's reuse window after the upload, and that
 * checkpoint may run up to its timeout before its {@code _metadata} names it. The window follows
 * each job's checkpoint interval, so the search's fixed minimum age cannot cover every job.
 *
 * @param millis the grace, or {@link #UNKNOWN}: no record (a job of an older version, or one whose
 *     JobManager could not write it) or one that cannot be read; every such file is kept then
 * @param checkpointTimeoutMillis the job's checkpoint timeout as recorded, 0 when unknown: a
 *     checkpoint in progress may write files for that long before its {@code _metadata} names
 *     them, so no unreferenced file younger than this is an orphan of a running job
 * @param unreadable why a record that is there could not be read, or null: its checkpoint timeout
 *     is unknown then, and a checkpoint in progress for longer than the minimum age would lose
 *     files, so nothing is called an orphan
 */
record PreUploadGrace(long millis, long checkpointTimeoutMillis, String unreadable) {

    PreUploadGrace(long millis, long checkpointTimeoutMillis) {
        this(millis, checkpointTimeoutMillis, null);
    }

    static final long UNKNOWN = -1;
    private static final Pattern FIELD = field("orphanSearchGraceMillis");
    private static final Pattern TIMEOUT = field("checkpointTimeoutMillis");
    /** The record is about 200 bytes; more is not one the storage wrote. */
    private static final int MAX_RECORD_BYTES = 64 << 10;

    boolean unknown() {
        return millis == UNKNOWN;
    }

    /**
     * The grace for {@code jobDir}: the operator's when given (it overrides the record), else the
     * record's, read as the storage durably holds it (one request for the file, found without a
     * listing: some stores leave existing objects out of listings).
     */
    static PreUploadGrace of(Path jobDir, FileSystemCalls calls, ChecksumSource checksums, Duration given) {
        PreUploadGrace recorded = read(jobDir, calls, checksums);
        return given == null ? recorded
                : new PreUploadGrace(given.toMillis(), recorded.checkpointTimeoutMillis, recorded.unreadable);
    }

    private static PreUploadGrace read(Path jobDir, FileSystemCalls calls, ChecksumSource checksums) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        FileSystemCalls.DurableRead read;
        Path record = new Path(jobDir, CheckpointNames.PRE_UPLOAD_RECORD_FILE);
        try {
            read = calls.readDurable(record, bounded(bytes), checksums);
        } catch (java.io.FileNotFoundException absent) {
            return new PreUploadGrace(UNKNOWN, 0); // plain Flink's, or an older version's: pre-uploads are kept
        } catch (IOException e) {
            return new PreUploadGrace(UNKNOWN, 0, record + " cannot be read (" + e.getMessage() + ")");
        }
        return read.checksumMatches() ? parse(bytes.toString(StandardCharsets.UTF_8))
                : new PreUploadGrace(UNKNOWN, 0, record + " does not match the checksum recorded when it was written");
    }

    static PreUploadGrace parse(String json) {
        String whole = json.strip();
        Matcher grace = FIELD.matcher(whole);
        if (!whole.startsWith("{") || !whole.endsWith("}") || !grace.find()) {
            return new PreUploadGrace(UNKNOWN, 0);
        }
        Matcher timeout = TIMEOUT.matcher(whole);
        return new PreUploadGrace(Long.parseLong(grace.group(1)), timeout.find() ? Long.parseLong(timeout.group(1)) : 0);
    }

    private static Pattern field(String name) {
        return Pattern.compile("\"" + name + "\"\\s*:\\s*(\\d{1,18})\\s*[,}]");
    }

    private static OutputStream bounded(ByteArrayOutputStream sink) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (sink.size() + len > MAX_RECORD_BYTES) {
                    throw new RecordTooLarge();
                }
                sink.write(b, off, len);
            }
        };
    }

    /** Thrown by the sink when the file is larger than any record the storage writes. */
    private static final class RecordTooLarge extends IOException {
        RecordTooLarge() {
            super("larger than " + MAX_RECORD_BYTES + " bytes");
        }
    }
}
