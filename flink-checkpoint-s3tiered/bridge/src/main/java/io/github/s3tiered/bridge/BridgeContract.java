package io.github.s3tiered.bridge;

import java.util.List;

/**
 * The contract between the {@code s3tiered://} file system, which Flink loads in a plugin class
 * loader, and the code that cannot link against it: the checkpoint storage and state backend in
 * Flink's {@code lib/}, the recovery inspector, the benchmarks and the demo.
 *
 * <p>Only JDK types cross. The plugin's file system implements
 * {@code BiFunction<String, Map<String, Object>, Map<String, Object>>}: an operation name and its
 * arguments in, its results out. Nothing is looked up by reflection, and no class of either side
 * needs to be visible to the other. A failure crosses as an {@link ErrorCode} under {@link #ERROR},
 * never as message text to parse; the message and the original exception travel along for people.
 *
 * <p>Adding an operation: give it a name here, implement it in the plugin's endpoint, list it in
 * {@link #OPERATION_NAMES}, and add a typed method to {@link S3TieredBridge}. A
 * caller newer than the plugin jar gets {@link ErrorCode#UNSUPPORTED_OPERATION}, which
 * {@link S3TieredBridge} turns into an error naming both jars.
 */
public final class BridgeContract {

    /** The URI scheme of the file system. */
    public static final String SCHEME = "s3tiered";

    /** Raised when an operation's arguments or results change incompatibly. */
    public static final int VERSION = 1;

    // ------------------------------------------------------------------ operations

    /**
     * No arguments. Results: {@link #CONTRACT_VERSION} (Integer), {@link #OPERATIONS} (List of String),
     * and since 0.3.0 {@link #OPTION_KEYS} (List of String: every key the file system reads, with its
     * fallback keys) and {@link #CLUSTER_OPTIONS} (Map of String to String: those of them its
     * process's configuration sets, as set; secrets as {@link #HIDDEN} with a hash).
     */
    public static final String DESCRIBE = "describe";

    /**
     * The CRC32C the file system recorded when it uploaded an object, from one HEAD. A local-tier
     * copy whose size or checksum differs from the object is dropped. Arguments: {@link #PATH}.
     * Results: {@link #RECORDED_CRC32C} (Long, unsigned 32-bit, absent when the object has none),
     * {@link #STALE_COPY_DROPPED} (Boolean).
     */
    public static final String RECORDED_CHECKSUM = "recordedChecksum";

    /**
     * Copies an object as S3 holds it into a sink, never from the local tier: what a host without
     * any local copy would restore. The content is not judged here. Arguments: {@link #PATH},
     * {@link #SINK} (java.io.OutputStream), optionally {@link #LIMIT} (Long: at most this many bytes
     * from the start; a plugin jar of 0.2.0 ignores it and copies the whole object). Results:
     * {@link #LENGTH} (Long), {@link #CRC32C} (Long, of the bytes read), {@link #RECORDED_CRC32C}
     * (Long, of the whole object; absent when none), {@link #STALE_COPY_DROPPED}.
     */
    public static final String READ_DURABLE = "readDurable";

    /**
     * This process's transfer figures. No arguments. Results: {@link #METRICS} (Map of the names in
     * {@link #METRIC_NAMES} to Long), {@link #REQUESTS} (Map of S3 operation name to requests sent).
     */
    public static final String TRANSFER_METRICS = "transferMetrics";

    /**
     * Uploads a local file that will not change (an SST file RocksDB just wrote) to a key in a
     * directory named by its content and unique to the upload, {@code <dir>/<sha256>-<16 hex
     * digits>.sst}, and keeps a local-tier copy.
     * A later {@link #CLOSE_DEDUPLICATED} of a stream with the same content refers to it. Arguments:
     * {@link #PATH} (the directory), {@link #LOCAL_FILE} (String, an absolute local path),
     * {@link #REUSE_WINDOW_MILLIS} (Long: older pre-uploads are forgotten), optionally
     * {@link #NAME_PER_UPLOAD} (Boolean: without it, a lib jar of 0.2.0 calls, whose orphan removal
     * knows only {@code <sha256>.sst}, and gets that name).
     * Results: {@link #OUTCOME} (String: UPLOADED, ALREADY_DURABLE, FILE_GONE), {@link #LENGTH}
     * (Long), {@link #OBJECT} (String URI, the object uploaded; absent unless UPLOADED).
     */
    public static final String PRE_UPLOAD = "preUpload";

    /**
     * Closes a stream created by the file system. When a file with the same content (length and
     * SHA-256) was pre-uploaded within {@link #REUSE_WINDOW_MILLIS}, nothing is uploaded and the
     * stream's own object is never created: the caller must refer to {@link #OBJECT} instead.
     * Otherwise the stream is closed as by {@code close()} and {@link #OBJECT} is its own path.
     * Each pre-uploaded object is handed out once, and only to a stream of the job whose directory
     * it was uploaded to. Arguments: {@link #STREAM} (java.io.OutputStream), {@link
     * #REUSE_WINDOW_MILLIS} (Long), optionally {@link #PATH} (String URI: the job's directory of
     * pre-uploads; without it, the stream's own directory). Results: {@link #OBJECT} (String URI),
     * {@link #DEDUPLICATED} (Boolean).
     */
    public static final String CLOSE_DEDUPLICATED = "closeDeduplicated";

    /**
     * Takes back a pre-uploaded object whose RocksDB instance is gone (its task ended or failed
     * over): if no checkpoint stream was handed it, nothing can reference it, so it is deleted with
     * its local-tier copy. Arguments: {@link #PATH} (the object). Results: {@link #WITHDRAWN}
     * (Boolean: deleted).
     */
    public static final String WITHDRAW_PRE_UPLOAD = "withdrawPreUpload";

    /**
     * Discards a stream created by the file system without uploading it, where {@code close()}
     * would upload what was written (for the file system, closing means committing). For a
     * checkpoint stream that Flink cancels: its partial file is then neither uploaded nor deleted.
     * A stream still open is dropped with its staging file and its object is never created; a
     * stream whose upload already runs has it cancelled as by a {@code close()} from another
     * thread; a closed stream is left as it is, answered true only when its close ended without
     * sending anything that could create its object; a stream abandoned before is answered as the first time. Arguments: {@link #STREAM} (java.io.OutputStream).
     * Results: {@link #ABANDONED} (Boolean: true only when this stream never created and never
     * will create its object, so the caller has nothing to delete; false means the caller deletes
     * the path as before).
     */
    public static final String ABANDON_STREAM = "abandonStream";

    /** Every operation of this contract version; the plugin answers {@link #DESCRIBE} with these. */
    public static final List<String> OPERATION_NAMES = List.of(DESCRIBE, RECORDED_CHECKSUM, READ_DURABLE, TRANSFER_METRICS,
            PRE_UPLOAD, CLOSE_DEDUPLICATED, WITHDRAW_PRE_UPLOAD, ABANDON_STREAM);

    // ------------------------------------------------------------------ argument and result keys

    /** A {@code s3tiered://bucket/key} URI, as a String. */
    public static final String PATH = "path";
    public static final String SINK = "sink";
    public static final String LOCAL_FILE = "localFile";
    public static final String OUTCOME = "outcome";
    public static final String OBJECT = "object";
    public static final String STREAM = "stream";
    public static final String REUSE_WINDOW_MILLIS = "reuseWindowMillis";
    public static final String NAME_PER_UPLOAD = "namePerUpload";
    public static final String DEDUPLICATED = "deduplicated";
    public static final String WITHDRAWN = "withdrawn";
    public static final String ABANDONED = "abandoned";
    public static final String LENGTH = "length";
    public static final String LIMIT = "limit";
    public static final String CRC32C = "crc32c";
    public static final String RECORDED_CRC32C = "recordedCrc32c";
    public static final String STALE_COPY_DROPPED = "staleCopyDropped";
    public static final String METRICS = "metrics";
    public static final String REQUESTS = "requests";
    public static final String CONTRACT_VERSION = "contractVersion";
    public static final String OPERATIONS = "operations";
    public static final String OPTION_KEYS = "optionKeys";
    public static final String CLUSTER_OPTIONS = "clusterOptions";
    /** How {@link #CLUSTER_OPTIONS} shows a secret's value: this, then a hash of it. */
    public static final String HIDDEN = "<hidden>";

    /** Present in a result when the operation failed: the {@link ErrorCode}'s name. */
    public static final String ERROR = "error";
    /** With {@link #ERROR}: what failed, naming the path, bucket and key. */
    public static final String ERROR_MESSAGE = "errorMessage";
    /** With {@link #ERROR}, optional: the original Throwable, for its stack trace. */
    public static final String ERROR_CAUSE = "errorCause";

    /** How an operation failed. */
    public enum ErrorCode {
        /** The object does not exist. */
        NOT_FOUND,
        /** S3 could not be read (throttled, timed out, unreachable, denied): nothing is known of the content. */
        UNREADABLE,
        /** Writing into the caller's sink failed; the cause is the sink's own exception. */
        SINK_FAILED,
        /** The calling thread was interrupted. */
        INTERRUPTED,
        /** An argument is missing or of the wrong type, or the path is not an s3tiered:// path. */
        BAD_ARGUMENT,
        /** The plugin jar does not know the operation: it is older than the caller. */
        UNSUPPORTED_OPERATION,
        /** Anything else (a defect): nothing is known of the object. */
        FAILED
    }

    // ------------------------------------------------------------------ transfer metrics

    public static final String BYTES_UPLOADED = "bytesUploaded";
    public static final String UPLOADS = "uploads";
    public static final String UPLOAD_LATENCY_AVG_MS = "uploadLatencyAvgMs";
    public static final String RETRIES = "retries";
    public static final String THROTTLED_RETRIES = "throttledRetries";
    public static final String RESTORE_BYTES_FROM_LOCAL_TIER = "restoreBytesFromLocalTier";
    public static final String RESTORE_BYTES_FROM_S3 = "restoreBytesFromS3";
    public static final String BYTES_SERVED_FROM_LOCAL_TIER = "bytesServedFromLocalTier";
    public static final String BYTES_DOWNLOADED = "bytesDownloaded";
    public static final String LOCAL_TIER_USED_BYTES = "localTierUsedBytes";
    public static final String LOCAL_TIER_CORRUPTIONS_DETECTED = "localTierCorruptionsDetected";
    public static final String LOCAL_TIER_STALE_COPIES_DROPPED = "localTierStaleCopiesDropped";
    public static final String PRE_UPLOADS = "preUploads";
    public static final String PRE_UPLOADED_BYTES = "preUploadedBytes";
    public static final String DEDUPLICATED_UPLOADS = "deduplicatedUploads";
    public static final String DEDUPLICATED_BYTES = "deduplicatedBytes";
    /** Milliseconds spent computing SHA-256 for deduplication: its CPU cost. */
    public static final String CONTENT_HASH_MILLIS = "contentHashMillis";
    /** HTTP requests sent to S3, every attempt counted. */
    public static final String TOTAL_REQUESTS = "requests";

    /** Every figure of {@link #TRANSFER_METRICS}, in the order the metric groups list them. */
    public static final List<String> METRIC_NAMES = List.of(
            BYTES_UPLOADED, UPLOADS, UPLOAD_LATENCY_AVG_MS, RETRIES, THROTTLED_RETRIES,
            RESTORE_BYTES_FROM_LOCAL_TIER, RESTORE_BYTES_FROM_S3, BYTES_SERVED_FROM_LOCAL_TIER, BYTES_DOWNLOADED,
            LOCAL_TIER_USED_BYTES, LOCAL_TIER_CORRUPTIONS_DETECTED, LOCAL_TIER_STALE_COPIES_DROPPED, TOTAL_REQUESTS,
            PRE_UPLOADS, PRE_UPLOADED_BYTES, DEDUPLICATED_UPLOADS, DEDUPLICATED_BYTES, CONTENT_HASH_MILLIS);

    private BridgeContract() {}
}
