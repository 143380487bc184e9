package io.github.s3tiered.bridge;

import io.github.s3tiered.bridge.BridgeContract.ErrorCode;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.LimitedConnectionsFileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.util.WrappingProxy;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.URI;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * The callers' side of the {@link BridgeContract}: typed methods over the {@code s3tiered://} file
 * system, for code that cannot link against it (it lives in Flink's plugin class loader). Every
 * call into the plugin from the storage, the backend's metrics, the inspector, the benchmarks and
 * the demo goes through here.
 *
 * <p>Failures arrive as codes and leave as types: {@link FileNotFoundException} for a missing
 * object, {@link InterruptedIOException} for an interrupt, the sink's own {@link IOException} when
 * writing into it failed, and {@link S3TieredBridgeException} with its {@link ErrorCode} for the rest.
 */
public final class S3TieredBridge {

    private final BiFunction<String, Map<String, Object>, Map<String, Object>> endpoint;
    private final String fileSystem;

    private S3TieredBridge(BiFunction<String, Map<String, Object>, Map<String, Object>> endpoint, String fileSystem) {
        this.endpoint = endpoint;
        this.fileSystem = fileSystem;
    }

    /** Whether the path names an {@code s3tiered://} object or directory. */
    public static boolean isTieredPath(Path path) {
        return BridgeContract.SCHEME.equals(path.toUri().getScheme());
    }

    /** Whether the URI string names an {@code s3tiered://} object or directory. */
    public static boolean isTieredPath(String uri) {
        return uri != null && uri.startsWith(BridgeContract.SCHEME + "://");
    }

    /** The bridge to the file system of an {@code s3tiered://} path; empty for any other scheme. */
    public static Optional<S3TieredBridge> of(Path path) throws IOException {
        return isTieredPath(path) ? of(path.getFileSystem()) : Optional.empty();
    }

    /**
     * The bridge to a file system: empty unless it is the {@code s3tiered://} one, found behind
     * Flink's wrappers (the plugin class loader's, the safety net's). Flink's connection limiter
     * ({@code fs.s3tiered.limit.*}) hides the file system: with it, the bridge is empty and the
     * storage falls back to Flink's own streams and checks.
     */
    @SuppressWarnings("unchecked")
    public static Optional<S3TieredBridge> of(FileSystem fileSystem) {
        Object fs = fileSystem;
        while (fs instanceof WrappingProxy<?> proxy) {
            fs = proxy.getWrappedDelegate();
        }
        URI uri = fs instanceof FileSystem f ? f.getUri() : null;
        if (!(fs instanceof BiFunction<?, ?, ?> function) || uri == null || !BridgeContract.SCHEME.equals(uri.getScheme())) {
            return Optional.empty();
        }
        return Optional.of(new S3TieredBridge((BiFunction<String, Map<String, Object>, Map<String, Object>>) function,
                fs.toString()));
    }

    /**
     * The bridge for reading what S3 holds (durable reads, recorded checksums, stale-copy checks):
     * as {@link #of(Path)}, and also behind Flink's connection limiter. Without the bridge a reader
     * would go through {@code open()}, which serves a verified local-tier copy that S3 may no longer
     * hold: the recovery guard would judge a checkpoint damaged in S3 by this host's intact copy.
     * These reads hold none of the limiter's stream slots (the limiter counts streams opened
     * through it, and the inspector bounds its own parallel reads).
     */
    public static Optional<S3TieredBridge> forReads(Path path) throws IOException {
        return isTieredPath(path) ? forReads(path.getFileSystem()) : Optional.empty();
    }

    /** See {@link #forReads(Path)}. */
    public static Optional<S3TieredBridge> forReads(FileSystem fileSystem) {
        Optional<S3TieredBridge> direct = of(fileSystem);
        if (direct.isPresent()) {
            return direct;
        }
        Object fs = fileSystem;
        while (fs instanceof WrappingProxy<?> proxy) {
            fs = proxy.getWrappedDelegate();
        }
        FileSystem limited = fs instanceof LimitedConnectionsFileSystem l ? ConnectionLimiter.wrappedBy(l) : null;
        return limited == null ? Optional.empty() : of(limited);
    }

    /** Flink's {@link LimitedConnectionsFileSystem} keeps the file system it limits to itself. */
    private static final class ConnectionLimiter {
        private static final java.lang.reflect.Field ORIGINAL = originalField();

        private static java.lang.reflect.Field originalField() {
            try {
                java.lang.reflect.Field f = LimitedConnectionsFileSystem.class.getDeclaredField("originalFs");
                f.setAccessible(true);
                return f;
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null; // a Flink version that names it otherwise: no bridge, the callers refuse to read
            }
        }

        static FileSystem wrappedBy(LimitedConnectionsFileSystem limited) {
            try {
                return ORIGINAL == null ? null : (FileSystem) ORIGINAL.get(limited);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }
    }

    /** The operations the plugin jar knows, and the contract version it implements. */
    @SuppressWarnings("unchecked")
    public Description describe() throws IOException {
        Map<String, Object> r = call(BridgeContract.DESCRIBE, Map.of());
        List<String> ops = (List<String>) r.get(BridgeContract.OPERATIONS);
        Object keys = r.get(BridgeContract.OPTION_KEYS);
        Object cluster = r.get(BridgeContract.CLUSTER_OPTIONS);
        return new Description((Integer) r.get(BridgeContract.CONTRACT_VERSION), Set.copyOf(ops),
                keys == null ? null : Set.copyOf((List<String>) keys),
                cluster == null ? null : Map.copyOf((Map<String, String>) cluster));
    }

    /**
     * The plugin's answer to {@link #describe()}; {@code optionKeys} and {@code clusterOptions} are
     * null from a plugin jar older than 0.3.0.
     */
    public record Description(int contractVersion, Set<String> operations, Set<String> optionKeys,
            Map<String, String> clusterOptions) {}

    /** See {@link BridgeContract#RECORDED_CHECKSUM}. */
    public RecordedChecksum recordedChecksum(Path path) throws IOException {
        Map<String, Object> r = call(BridgeContract.RECORDED_CHECKSUM, Map.of(BridgeContract.PATH, path.toUri().toString()));
        return new RecordedChecksum(optionalLong(r.get(BridgeContract.RECORDED_CRC32C)),
                Boolean.TRUE.equals(r.get(BridgeContract.STALE_COPY_DROPPED)));
    }

    /** The recorded CRC32C of an object (unsigned), and whether a stale local copy was dropped. */
    public record RecordedChecksum(OptionalLong crc32c, boolean staleLocalCopyDropped) {}

    /** See {@link BridgeContract#READ_DURABLE}. */
    public DurableRead readDurable(Path path, OutputStream sink) throws IOException {
        return readDurable(path, sink, -1);
    }

    /**
     * As {@link #readDurable(Path, OutputStream)}, at most {@code limit} bytes from the start (one
     * ranged GET); a negative limit reads the whole object. A plugin jar of 0.2.0 copies the whole
     * object whatever the limit: the sink must take that too.
     */
    public DurableRead readDurable(Path path, OutputStream sink, long limit) throws IOException {
        Map<String, Object> args = new HashMap<>();
        args.put(BridgeContract.PATH, path.toUri().toString());
        args.put(BridgeContract.SINK, sink);
        if (limit >= 0) {
            args.put(BridgeContract.LIMIT, limit);
        }
        Map<String, Object> r = call(BridgeContract.READ_DURABLE, args);
        return new DurableRead((Long) r.get(BridgeContract.LENGTH), ((Long) r.get(BridgeContract.CRC32C)).intValue(),
                optionalLong(r.get(BridgeContract.RECORDED_CRC32C)), Boolean.TRUE.equals(r.get(BridgeContract.STALE_COPY_DROPPED)));
    }

    /**
     * One read of the durable copy: its length, the CRC32C of the bytes read, the CRC32C recorded
     * at upload (unsigned; empty when the object carries none), and whether a local copy that
     * differed from the object was dropped.
     */
    public record DurableRead(long length, int crc32c, OptionalLong recordedCrc32c, boolean staleLocalCopyDropped) {}

    /** See {@link BridgeContract#PRE_UPLOAD}. */
    public PreUploaded preUpload(Path directory, java.nio.file.Path localFile, long reuseWindowMillis) throws IOException {
        Map<String, Object> r = call(BridgeContract.PRE_UPLOAD, Map.of(BridgeContract.PATH, directory.toUri().toString(),
                BridgeContract.LOCAL_FILE, localFile.toAbsolutePath().toString(),
                BridgeContract.REUSE_WINDOW_MILLIS, reuseWindowMillis, BridgeContract.NAME_PER_UPLOAD, true));
        Object object = r.get(BridgeContract.OBJECT);
        return new PreUploaded(PreUploaded.Outcome.valueOf((String) r.get(BridgeContract.OUTCOME)),
                object == null ? null : new Path((String) object), (Long) r.get(BridgeContract.LENGTH));
    }

    /** See {@link BridgeContract#WITHDRAW_PRE_UPLOAD}: true when the object was deleted. */
    public boolean withdrawPreUpload(Path object) throws IOException {
        return Boolean.TRUE.equals(call(BridgeContract.WITHDRAW_PRE_UPLOAD,
                Map.of(BridgeContract.PATH, object.toUri().toString())).get(BridgeContract.WITHDRAWN));
    }

    /** The outcome of {@link #preUpload}: the object uploaded (null unless UPLOADED) and the file's length. */
    public record PreUploaded(Outcome outcome, Path object, long length) {
        public enum Outcome { UPLOADED, ALREADY_DURABLE, FILE_GONE }
    }

    /**
     * See {@link BridgeContract#CLOSE_DEDUPLICATED}: closes a stream that {@code create()} of this
     * file system returned (Flink's wrappers around it are looked through) and returns the object
     * that holds its bytes, which is not the stream's own when it was deduplicated.
     */
    public ClosedStream closeDeduplicated(OutputStream stream, long reuseWindowMillis) throws IOException {
        return closeDeduplicated(stream, reuseWindowMillis, null);
    }

    /**
     * As {@link #closeDeduplicated(OutputStream, long)}, handed only what was pre-uploaded to
     * {@code preUploadDirectory} (the job's; null: the stream's own directory).
     */
    public ClosedStream closeDeduplicated(OutputStream stream, long reuseWindowMillis, Path preUploadDirectory)
            throws IOException {
        Map<String, Object> args = new HashMap<>();
        args.put(BridgeContract.STREAM, unwrapped(stream));
        args.put(BridgeContract.REUSE_WINDOW_MILLIS, reuseWindowMillis);
        if (preUploadDirectory != null) {
            args.put(BridgeContract.PATH, preUploadDirectory.toUri().toString());
        }
        Map<String, Object> r = call(BridgeContract.CLOSE_DEDUPLICATED, args);
        return new ClosedStream(new Path((String) r.get(BridgeContract.OBJECT)), Boolean.TRUE.equals(r.get(BridgeContract.DEDUPLICATED)));
    }

    /** The object holding a closed stream's bytes, and whether that is a pre-uploaded one. */
    public record ClosedStream(Path object, boolean deduplicated) {}

    /**
     * See {@link BridgeContract#ABANDON_STREAM}: discards a stream that {@code create()} of this
     * file system returned without uploading it. True when its object was never and will never be
     * created, so there is nothing to delete. False when the caller must close and delete as it
     * would without this operation: the stream's upload had started (or it was closed and may have
     * created its object), or the plugin jar is older than this one and does not know the operation.
     */
    public boolean abandon(OutputStream stream) throws IOException {
        Map<String, Object> args = new HashMap<>();
        args.put(BridgeContract.STREAM, unwrapped(stream));
        try {
            return Boolean.TRUE.equals(call(BridgeContract.ABANDON_STREAM, args).get(BridgeContract.ABANDONED));
        } catch (S3TieredBridgeException e) {
            if (e.code() == ErrorCode.UNSUPPORTED_OPERATION) {
                return false; // an older plugin jar: closing and deleting still discards the stream, more slowly
            }
            throw e;
        }
    }

    /** The file system's own stream behind Flink's wrappers (the plugin class loader's, the safety net's). */
    private static Object unwrapped(OutputStream stream) {
        Object inner = stream;
        while (inner instanceof WrappingProxy<?> proxy) {
            inner = proxy.getWrappedDelegate();
        }
        return inner;
    }

    /** See {@link BridgeContract#TRANSFER_METRICS}. */
    public TransferFigures transferMetrics() throws IOException {
        Map<String, Object> r = call(BridgeContract.TRANSFER_METRICS, Map.of());
        return new TransferFigures(longs(r.get(BridgeContract.METRICS)), longs(r.get(BridgeContract.REQUESTS)));
    }

    /**
     * The figures of {@link BridgeContract#METRIC_NAMES} and the S3 requests sent per operation
     * (such as {@code GetObject}), both since the process started.
     */
    public record TransferFigures(Map<String, Long> figures, Map<String, Long> requests) {
        public long figure(String name) {
            return figures.getOrDefault(name, 0L);
        }

        public long requests(String operation) {
            return requests.getOrDefault(operation, 0L);
        }
    }

    @Override
    public String toString() {
        return "S3TieredBridge{" + fileSystem + "}";
    }

    private Map<String, Object> call(String operation, Map<String, Object> args) throws IOException {
        Map<String, Object> result;
        try {
            result = endpoint.apply(operation, args);
        } catch (RuntimeException e) {
            // The endpoint answers every failure with a code; this is a defect in it.
            throw new S3TieredBridgeException(ErrorCode.FAILED, operation, "s3tiered bridge operation " + operation
                    + " on " + fileSystem + " failed: " + e, e);
        }
        Object error = result.get(BridgeContract.ERROR);
        if (error == null) {
            return result;
        }
        ErrorCode code = ErrorCode.valueOf((String) error);
        String message = (String) result.get(BridgeContract.ERROR_MESSAGE);
        Throwable cause = (Throwable) result.get(BridgeContract.ERROR_CAUSE);
        switch (code) {
            case NOT_FOUND -> {
                FileNotFoundException e = new FileNotFoundException(message);
                e.initCause(cause);
                throw e;
            }
            case INTERRUPTED -> {
                InterruptedIOException e = new InterruptedIOException(message);
                e.initCause(cause);
                throw e;
            }
            case SINK_FAILED -> {
                if (cause instanceof IOException io) {
                    throw io; // the caller's own stream failed: its own exception
                }
                throw new S3TieredBridgeException(code, operation, message, cause);
            }
            case UNSUPPORTED_OPERATION -> throw new S3TieredBridgeException(code, operation, "The s3tiered plugin jar in"
                    + " Flink's plugins/s3tiered/ does not know the operation '" + operation + "' that the calling jar"
                    + " (lib/ or the recovery inspector) needs: install the plugin jar and the lib jar of the same"
                    + " release (" + message + ")", cause);
            default -> throw new S3TieredBridgeException(code, operation, message, cause);
        }
    }

    private static OptionalLong optionalLong(Object v) {
        return v == null ? OptionalLong.empty() : OptionalLong.of((Long) v);
    }

    private static Map<String, Long> longs(Object map) {
        Map<String, Long> m = new LinkedHashMap<>();
        if (map instanceof Map<?, ?> source) {
            source.forEach((k, v) -> m.put((String) k, (Long) v));
        }
        return m;
    }
}
