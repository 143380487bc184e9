package io.github.s3tiered.s3;

import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.interceptor.SdkExecutionAttribute;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one file system: HTTP requests sent per S3 operation (every attempt counts),
 * retries, throttling, and bytes moved. Read by tests, benchmarks and metrics.
 */
public final class S3Statistics implements ExecutionInterceptor {

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    public final LongAdder retries = new LongAdder();
    public final LongAdder throttledRetries = new LongAdder();
    /**
     * Downloads repeated because their bytes arrived other than the recorded CRC32C says (altered
     * on the way); not request retries.
     */
    public final LongAdder corruptDownloadsRepeated = new LongAdder();
    /** Response bodies that broke midway and were reopened where they stopped (not request retries). */
    public final LongAdder reopens = new LongAdder();
    public final LongAdder bytesUploaded = new LongAdder();
    public final LongAdder bytesDownloaded = new LongAdder();
    /** Bytes the checks read from S3 past the local tier (durable reads), not in {@link #bytesDownloaded}. */
    public final LongAdder bytesReadByChecks = new LongAdder();
    public final LongAdder bytesServedFromLocalTier = new LongAdder();
    public final LongAdder uploadNanos = new LongAdder();
    /** Bytes of batch copies (RocksDB restores) served by local-tier copies, and by S3. */
    public final LongAdder restoreBytesFromLocalTier = new LongAdder();
    public final LongAdder restoreBytesFromS3 = new LongAdder();
    public final LongAdder uploads = new LongAdder();
    /** Files uploaded ahead of a checkpoint, and their bytes. */
    public final LongAdder preUploads = new LongAdder();
    public final LongAdder preUploadedBytes = new LongAdder();
    /** Checkpoint streams that referred to a pre-uploaded object instead of uploading, and their bytes. */
    public final LongAdder deduplicatedUploads = new LongAdder();
    public final LongAdder deduplicatedBytes = new LongAdder();
    /**
     * CPU time of the threads computing SHA-256 for pre-uploads and checkpoint streams (a
     * pre-upload's pass also reads the file, which is in the page cache): the cost of deduplication.
     */
    public final LongAdder contentHashNanos = new LongAdder();

    @Override
    public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
        String op = attributes.getAttribute(SdkExecutionAttribute.OPERATION_NAME);
        requestSent(op == null ? "Unknown" : op);
    }

    /** Counts one request sent (by the SDK's interceptor hook, or by an in-memory store in tests). */
    public void requestSent(String operation) {
        requests.computeIfAbsent(operation, k -> new LongAdder()).increment();
    }

    /** Requests sent for an operation name such as "GetObject" or "PutObject". */
    public long requestCount(String operation) {
        LongAdder a = requests.get(operation);
        return a == null ? 0 : a.sum();
    }

    public long totalRequests() {
        return requests.values().stream().mapToLong(LongAdder::sum).sum();
    }

    public Map<String, Long> requestCounts() {
        Map<String, Long> m = new TreeMap<>();
        requests.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }
}
