package io.github.s3tiered.fs;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.BridgeContract.ErrorCode;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.S3Statistics;

import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The plugin's side of the {@link BridgeContract}: answers the operations of code outside the
 * plugin class loader (storage, backend metrics, inspector) with JDK types only, and every failure
 * with an {@link ErrorCode}. {@link AbstractS3TieredFileSystem#apply} hands each call here.
 */
final class BridgeEndpoint {

    private static final List<String> OPERATIONS = BridgeContract.OPERATION_NAMES;

    private final AbstractS3TieredFileSystem fs;

    BridgeEndpoint(AbstractS3TieredFileSystem fs) {
        this.fs = fs;
    }

    Map<String, Object> call(String operation, Map<String, Object> args) {
        // The caller runs in another class loader; the SDK loads classes through the context one.
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(BridgeEndpoint.class.getClassLoader());
        try {
            return switch (operation) {
                case BridgeContract.DESCRIBE -> Map.of(BridgeContract.CONTRACT_VERSION, BridgeContract.VERSION,
                        BridgeContract.OPERATIONS, OPERATIONS,
                        BridgeContract.OPTION_KEYS, List.copyOf(UnknownOptions.keysOf(S3TieredOptions.class)),
                        BridgeContract.CLUSTER_OPTIONS, fs.runtime().clusterOptions());
                case BridgeContract.RECORDED_CHECKSUM -> recordedChecksum(path(args));
                case BridgeContract.READ_DURABLE -> readDurable(path(args), sink(args), limit(args));
                case BridgeContract.TRANSFER_METRICS -> transferMetrics();
                case BridgeContract.PRE_UPLOAD -> preUpload(path(args), localFile(args), reuseWindowNanos(args),
                        Boolean.TRUE.equals(args.get(BridgeContract.NAME_PER_UPLOAD)));
                case BridgeContract.WITHDRAW_PRE_UPLOAD -> withdrawPreUpload(path(args));
                case BridgeContract.CLOSE_DEDUPLICATED -> closeDeduplicated(args);
                case BridgeContract.ABANDON_STREAM -> Map.of(BridgeContract.ABANDONED, stream(args).abandon());
                default -> error(ErrorCode.UNSUPPORTED_OPERATION, "this plugin jar implements contract version "
                        + BridgeContract.VERSION + " with the operations " + OPERATIONS, null);
            };
        } catch (BadArgument e) {
            return error(ErrorCode.BAD_ARGUMENT, operation + ": " + e.getMessage(), null);
        } catch (SinkFailure e) {
            return error(ErrorCode.SINK_FAILED, operation + " of " + args.get(BridgeContract.PATH)
                    + ": writing into the caller's stream failed: " + e.getCause(), e.getCause());
        } catch (FileNotFoundException e) {
            return error(ErrorCode.NOT_FOUND, e.getMessage(), e);
        } catch (InterruptedIOException e) {
            return error(ErrorCode.INTERRUPTED, e.getMessage(), e);
        } catch (IOException e) {
            return error(ErrorCode.UNREADABLE, e.getMessage(), e);
        } catch (RuntimeException e) {
            return error(ErrorCode.FAILED, operation + " of " + args.get(BridgeContract.PATH) + " failed: " + e, e);
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    private Map<String, Object> recordedChecksum(Path path) throws IOException {
        ObjectPath op = fs.objectPathOf(path);
        ObjectInfo info = headOrDropCopy(op);
        boolean dropped = fs.runtime().tier().dropIfStale(op.bucket(), op.key(), info.size(), info.crc32c());
        Map<String, Object> r = new HashMap<>();
        if (info.crc32c() != null) {
            r.put(BridgeContract.RECORDED_CRC32C, Integer.toUnsignedLong(info.crc32c()));
        }
        r.put(BridgeContract.STALE_COPY_DROPPED, dropped);
        return r;
    }

    /**
     * One HEAD (size and recorded CRC32C) and one streaming GET; never the local tier. With a
     * {@code limit} below the object's size, one ranged GET of that many bytes from its start.
     */
    private Map<String, Object> readDurable(Path path, OutputStream sink, long limit) throws IOException {
        ObjectPath op = fs.objectPathOf(path);
        ObjectInfo info = headOrDropCopy(op);
        if (limit < info.size()) {
            return readDurablePrefix(op, info, sink, limit);
        }
        CRC32C crc = new CRC32C();
        S3TieredRuntime runtime = fs.runtime();
        long length;
        try (S3InputStream in = S3InputStream.ofCheck(runtime.store(), op.bucket(), op.key(), info,
                runtime.config().readReopenAttempts())) {
            length = copy(in, sink, crc, Long.MAX_VALUE);
        }
        int actual = (int) crc.getValue();
        // Without a recorded checksum, the bytes just read are what S3 holds.
        int durable = info.crc32c() != null ? info.crc32c() : actual;
        boolean dropped = runtime.tier().dropIfStale(op.bucket(), op.key(), info.size(), durable)
                || runtime.tier().dropIfAlteredOnDisk(op.bucket(), op.key(), durable);
        return readResult(length, actual, info, dropped);
    }

    /**
     * The first {@code limit} bytes of the object the HEAD described (If-Match its ETag): a reader
     * that needs only a file's first bytes must not take them from a local copy, which this host
     * may hold intact while S3 does not. Only the recorded size and CRC32C can tell such a copy
     * stale here (the bytes read are not the whole object).
     */
    private Map<String, Object> readDurablePrefix(ObjectPath op, ObjectInfo info, OutputStream sink, long limit)
            throws IOException {
        CRC32C crc = new CRC32C();
        long length = 0;
        if (limit > 0) {
            try (InputStream in = fs.runtime().store().openRange(op.bucket(), op.key(), 0, limit - 1, info.etag())) {
                length = copy(in, sink, crc, limit);
            }
            if (length < limit) {
                throw new IOException("s3://" + op.bucket() + "/" + op.key() + ": the first " + limit
                        + " bytes of an object of " + info.size() + " bytes ended after " + length);
            }
        }
        boolean dropped = fs.runtime().tier().dropIfStale(op.bucket(), op.key(), info.size(), info.crc32c());
        return readResult(length, (int) crc.getValue(), info, dropped);
    }

    /** Copies up to {@code limit} bytes of {@code in} into the caller's sink; returns how many. */
    private static long copy(InputStream in, OutputStream sink, CRC32C crc, long limit) throws IOException {
        byte[] buffer = new byte[(int) Math.min(limit, 256 * 1024)];
        long length = 0;
        int n;
        while (length < limit && (n = in.read(buffer, 0, (int) Math.min(buffer.length, limit - length))) != -1) {
            crc.update(buffer, 0, n);
            try {
                sink.write(buffer, 0, n);
            } catch (IOException e) {
                throw new SinkFailure(e);
            }
            length += n;
        }
        return length;
    }

    private static Map<String, Object> readResult(long length, int crc32c, ObjectInfo info, boolean staleCopyDropped) {
        Map<String, Object> r = new HashMap<>();
        r.put(BridgeContract.LENGTH, length);
        r.put(BridgeContract.CRC32C, Integer.toUnsignedLong(crc32c));
        if (info.crc32c() != null) {
            r.put(BridgeContract.RECORDED_CRC32C, Integer.toUnsignedLong(info.crc32c()));
        }
        r.put(BridgeContract.STALE_COPY_DROPPED, staleCopyDropped);
        return r;
    }

    /** One HEAD; a copy of an object S3 no longer holds is dropped, as one that differs is. */
    private ObjectInfo headOrDropCopy(ObjectPath op) throws IOException {
        try {
            return fs.headOrNotFound(op);
        } catch (FileNotFoundException gone) {
            fs.runtime().tier().dropIfGone(op.bucket(), op.key());
            throw gone;
        }
    }

    private Map<String, Object> withdrawPreUpload(Path object) throws IOException {
        ObjectPath op = fs.objectPathOf(object);
        boolean withdrawn = fs.runtime().preUploads().withdraw(op);
        if (withdrawn) {
            fs.delete(object, false); // the object and its local-tier copy
        }
        return Map.of(BridgeContract.WITHDRAWN, withdrawn);
    }

    private static long reuseWindowNanos(Map<String, Object> args) {
        if (!(args.get(BridgeContract.REUSE_WINDOW_MILLIS) instanceof Long window) || window < 0) {
            throw new BadArgument("argument '" + BridgeContract.REUSE_WINDOW_MILLIS + "' must be a Long >= 0");
        }
        return java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(window);
    }

    private Map<String, Object> preUpload(Path directory, java.nio.file.Path file, long reuseWindowNanos, boolean namePerUpload)
            throws IOException {
        PreUpload.Result result = PreUpload.run(fs.runtime(), fs.objectPathOf(directory), file, reuseWindowNanos, namePerUpload);
        Map<String, Object> r = new HashMap<>();
        r.put(BridgeContract.OUTCOME, result.outcome().name());
        r.put(BridgeContract.LENGTH, result.length());
        if (result.object() != null) {
            r.put(BridgeContract.OBJECT, result.object().toString());
        }
        return r;
    }

    private Map<String, Object> closeDeduplicated(Map<String, Object> args) throws IOException {
        TieredOutputStream stream = stream(args);
        // the job's directory of pre-uploads; a caller that names none may be handed those of the stream's own
        ObjectPath directory = args.containsKey(BridgeContract.PATH) ? fs.objectPathOf(path(args)) : stream.target().parent();
        ObjectPath object = stream.closeDeduplicated(reuseWindowNanos(args), directory);
        return Map.of(BridgeContract.OBJECT, object.toString(), BridgeContract.DEDUPLICATED, !object.equals(stream.target()));
    }

    private Map<String, Object> transferMetrics() {
        S3TieredRuntime runtime = fs.runtime();
        S3Statistics s = runtime.store().statistics();
        Map<String, Long> m = new LinkedHashMap<>();
        long uploads = s.uploads.sum();
        m.put(BridgeContract.BYTES_UPLOADED, s.bytesUploaded.sum());
        m.put(BridgeContract.UPLOADS, uploads);
        m.put(BridgeContract.UPLOAD_LATENCY_AVG_MS, uploads == 0 ? 0 : s.uploadNanos.sum() / uploads / 1_000_000);
        m.put(BridgeContract.RETRIES, s.retries.sum());
        m.put(BridgeContract.THROTTLED_RETRIES, s.throttledRetries.sum());
        m.put(BridgeContract.RESTORE_BYTES_FROM_LOCAL_TIER, s.restoreBytesFromLocalTier.sum());
        m.put(BridgeContract.RESTORE_BYTES_FROM_S3, s.restoreBytesFromS3.sum());
        m.put(BridgeContract.BYTES_SERVED_FROM_LOCAL_TIER, s.bytesServedFromLocalTier.sum());
        m.put(BridgeContract.BYTES_DOWNLOADED, s.bytesDownloaded.sum());
        m.put(BridgeContract.LOCAL_TIER_USED_BYTES, runtime.tier().usedBytes());
        m.put(BridgeContract.LOCAL_TIER_CORRUPTIONS_DETECTED, runtime.tier().statistics().corruptionsDetected.sum());
        m.put(BridgeContract.LOCAL_TIER_STALE_COPIES_DROPPED, runtime.tier().statistics().staleCopiesDropped.sum());
        m.put(BridgeContract.TOTAL_REQUESTS, s.totalRequests());
        m.put(BridgeContract.PRE_UPLOADS, s.preUploads.sum());
        m.put(BridgeContract.PRE_UPLOADED_BYTES, s.preUploadedBytes.sum());
        m.put(BridgeContract.DEDUPLICATED_UPLOADS, s.deduplicatedUploads.sum());
        m.put(BridgeContract.DEDUPLICATED_BYTES, s.deduplicatedBytes.sum());
        m.put(BridgeContract.CONTENT_HASH_MILLIS, s.contentHashNanos.sum() / 1_000_000);
        return Map.of(BridgeContract.METRICS, m, BridgeContract.REQUESTS, s.requestCounts());
    }

    private static Path path(Map<String, Object> args) {
        if (!(args.get(BridgeContract.PATH) instanceof String uri) || !uri.startsWith(BridgeContract.SCHEME + "://")) {
            throw new BadArgument("argument '" + BridgeContract.PATH + "' must be a " + BridgeContract.SCHEME
                    + ":// URI, got " + args.get(BridgeContract.PATH));
        }
        return new Path(uri);
    }

    private static java.nio.file.Path localFile(Map<String, Object> args) {
        if (!(args.get(BridgeContract.LOCAL_FILE) instanceof String file) || !java.nio.file.Path.of(file).isAbsolute()) {
            throw new BadArgument("argument '" + BridgeContract.LOCAL_FILE + "' must be an absolute local path, got "
                    + args.get(BridgeContract.LOCAL_FILE));
        }
        return java.nio.file.Path.of(file);
    }

    private static TieredOutputStream stream(Map<String, Object> args) {
        if (!(args.get(BridgeContract.STREAM) instanceof TieredOutputStream stream)) {
            throw new BadArgument("argument '" + BridgeContract.STREAM + "' must be a stream that create() of an "
                    + BridgeContract.SCHEME + ":// file system returned, got " + args.get(BridgeContract.STREAM));
        }
        return stream;
    }

    private static long limit(Map<String, Object> args) {
        Object limit = args.get(BridgeContract.LIMIT);
        if (limit == null) {
            return Long.MAX_VALUE;
        }
        if (!(limit instanceof Long l) || l < 0) {
            throw new BadArgument("argument '" + BridgeContract.LIMIT + "' must be a Long of at least 0, got " + limit);
        }
        return l;
    }

    private static OutputStream sink(Map<String, Object> args) {
        if (!(args.get(BridgeContract.SINK) instanceof OutputStream sink)) {
            throw new BadArgument("argument '" + BridgeContract.SINK + "' must be a java.io.OutputStream");
        }
        return sink;
    }

    private static Map<String, Object> error(ErrorCode code, String message, Throwable cause) {
        Map<String, Object> r = new HashMap<>();
        r.put(BridgeContract.ERROR, code.name());
        r.put(BridgeContract.ERROR_MESSAGE, message);
        if (cause != null) {
            r.put(BridgeContract.ERROR_CAUSE, cause);
        }
        return r;
    }

    private static final class BadArgument extends RuntimeException {
        BadArgument(String message) {
            super(message);
        }
    }

    /** The caller's sink failed: not a failure to read S3. */
    private static final class SinkFailure extends IOException {
        SinkFailure(IOException cause) {
            super(cause);
        }
    }
}
