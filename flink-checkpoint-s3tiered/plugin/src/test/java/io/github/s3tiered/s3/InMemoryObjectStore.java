package io.github.s3tiered.s3;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/**
 * An {@link ObjectStore} in memory, for precise tests of failure paths: any call can be made to
 * fail by operation, key pattern, part number and attempt number, with what S3 and the SDK really
 * raise: 503 SlowDown, 500 InternalError, 429 TooManyRequests (as {@code S3Exception}s with
 * status and error code), a connection reset after part of the body (a {@code SocketException} in
 * the body, or an {@code SdkClientException} for requests without one), or a stall (the call
 * blocks and then times out as the SDK's attempt timeout does; a stalled body blocks until it is
 * aborted), or a delay (the call takes long and then succeeds). Every call is logged with its attempt number and start time.
 * As the SDK does, a call from an interrupted thread fails ("Thread was interrupted").
 *
 * <p>An attempt is counted per operation and object (and part, for {@code UploadPart}): the
 * third attempt of part 2 is attempt 3, whatever the other parts did.
 */
public final class InMemoryObjectStore implements ObjectStore {

    /** What a matching call does instead of its work. */
    public enum Fault { SLOW_DOWN, INTERNAL_ERROR, TOO_MANY_REQUESTS, ERROR, RESET, STALL, BODY_STALL, DELAY }

    /** One call as the store saw it. */
    public record Call(String operation, String bucket, String key, int partNumber, int attempt, long startNanos,
            String outcome) {}

    private record StoredObject(byte[] bytes, Integer crc32c, long lastModified) {
        /** Derived from the content, as S3's MD5 ETag of a single-part upload. */
        String etag() {
            return "\"" + Integer.toHexString(InMemoryObjectStore.crc32c(bytes)) + "-" + bytes.length + "\"";
        }
    }

    private static final class Upload {
        final String bucket;
        final String key;
        final int crc32c;
        final Map<Integer, byte[]> parts = new ConcurrentHashMap<>();

        Upload(String bucket, String key, int crc32c) {
            this.bucket = bucket;
            this.key = key;
            this.crc32c = crc32c;
        }
    }

    private final S3Statistics stats;
    private final Map<String, StoredObject> objects = new ConcurrentHashMap<>();
    private final Map<String, Upload> uploads = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    private final List<FaultRule> rules = new CopyOnWriteArrayList<>();
    private final List<Call> calls = new CopyOnWriteArrayList<>();
    /** Open GET bodies allowed at once, as an HTTP client's connection pool; null: no limit. */
    private volatile java.util.concurrent.Semaphore connections;

    public InMemoryObjectStore(S3Statistics stats) {
        this.stats = stats;
    }

    /** Adds a fault; rules are tried in the order added, the first match applies. */
    public InMemoryObjectStore inject(FaultRule rule) {
        rules.add(rule);
        return this;
    }

    /**
     * At most {@code n} GET bodies open at once, like an HTTP connection pool: a GET waits up to 5 s
     * for a body to be closed, then fails as the SDK does when no connection frees up.
     */
    public InMemoryObjectStore limitOpenBodies(int n) {
        connections = new java.util.concurrent.Semaphore(n);
        return this;
    }

    public void clearFaults() {
        rules.clear();
    }

    public List<Call> calls() {
        return List.copyOf(calls);
    }

    public List<Call> calls(String operation) {
        return calls.stream().filter(c -> c.operation().equals(operation)).toList();
    }

    /** Calls that started after {@code nanos} (System.nanoTime()). */
    public List<Call> callsStartedAfter(long nanos) {
        return calls.stream().filter(c -> c.startNanos() > nanos).toList();
    }

    /** Waits until {@code count} calls of {@code operation} have started. */
    public void awaitCalls(String operation, int count, Duration timeout) throws InterruptedException {
        awaitCall(c -> c.operation().equals(operation), count, timeout);
    }

    /** Waits until {@code count} calls matching {@code which} have started. */
    public void awaitCall(java.util.function.Predicate<Call> which, int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (calls.stream().filter(which).count() < count) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Expected " + count + " matching calls within " + timeout + "; calls: " + calls);
            }
            Thread.sleep(5);
        }
    }

    /** The upload ids of multipart uploads neither completed nor aborted. */
    public List<String> openUploads() {
        return List.copyOf(uploads.keySet());
    }

    public Optional<byte[]> object(String bucket, String key) {
        return Optional.ofNullable(objects.get(bucket + "/" + key)).map(StoredObject::bytes);
    }

    /** Puts an object as another tool would: no recorded CRC32C unless given. */
    public void putRaw(String bucket, String key, byte[] bytes, Integer crc32c) {
        objects.put(bucket + "/" + key, new StoredObject(bytes.clone(), crc32c, System.currentTimeMillis()));
    }

    // ------------------------------------------------------------------ ObjectStore

    @Override
    public Optional<ObjectInfo> head(String bucket, String key) throws IOException {
        begin("HeadObject", bucket, key, 0);
        StoredObject o = objects.get(bucket + "/" + key);
        return o == null ? Optional.empty() : Optional.of(new ObjectInfo(key, o.bytes().length, o.lastModified(), o.crc32c(), o.etag()));
    }

    @Override
    public void putObject(String bucket, String key, Path file, long size, int crc32c, boolean replacesDurable,
            Cancellation cancellation)
            throws IOException {
        // the body is taken at once: a cancellation can only come while the answer is awaited
        Applied fault = begin("PutObject", bucket, key, 0);
        byte[] bytes = readRange(file, 0, size, fault);
        objects.put(bucket + "/" + key, new StoredObject(bytes, crc32c, System.currentTimeMillis()));
    }

    @Override
    public String createMultipartUpload(String bucket, String key, int crc32c) throws IOException {
        begin("CreateMultipartUpload", bucket, key, 0);
        String id = "upload-" + UUID.randomUUID();
        uploads.put(id, new Upload(bucket, key, crc32c));
        return id;
    }

    @Override
    public UploadedPart uploadPart(String bucket, String key, String uploadId, int partNumber, Path file, long offset,
            long length, Cancellation cancellation) throws IOException {
        Applied fault = begin("UploadPart", bucket, key, partNumber);
        Upload u = upload(uploadId);
        byte[] bytes = readRange(file, offset, length, fault);
        u.parts.put(partNumber, bytes);
        return new UploadedPart(partNumber, "etag-" + partNumber + "-" + Integer.toHexString(java.util.Arrays.hashCode(bytes)));
    }

    @Override
    public String completeMultipartUpload(String bucket, String key, String uploadId, List<UploadedPart> parts)
            throws IOException {
        begin("CompleteMultipartUpload", bucket, key, 0);
        if (completeAnswersEmptyWithoutEffect) {
            return null; // a 200 with an empty body, and nothing done
        }
        Upload u = upload(uploadId);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        int expected = 1;
        for (UploadedPart p : parts) {
            byte[] b = u.parts.get(p.partNumber());
            if (p.partNumber() != expected++ || b == null) {
                throw s3Error(400, "InvalidPart", "part " + p.partNumber() + " of " + uploadId + " was not uploaded");
            }
            all.write(b);
        }
        uploads.remove(uploadId);
        objects.put(bucket + "/" + key, new StoredObject(all.toByteArray(), u.crc32c, System.currentTimeMillis()));
        return "etag-" + uploadId;
    }

    /** When set, every CompleteMultipartUpload answers as a 200 with an empty body would, and completes nothing. */
    public volatile boolean completeAnswersEmptyWithoutEffect;

    @Override
    public List<String> listMultipartUploads(String bucket, String key) throws IOException {
        begin("ListMultipartUploads", bucket, key, 0);
        List<String> ids = new ArrayList<>();
        uploads.forEach((id, u) -> {
            if (u.bucket.equals(bucket) && u.key.equals(key)) {
                ids.add(id);
            }
        });
        return ids;
    }

    @Override
    public void abortMultipartUpload(String bucket, String key, String uploadId) throws IOException {
        begin("AbortMultipartUpload", bucket, key, 0);
        uploads.remove(uploadId);
    }

    @Override
    public ObjectStream get(String bucket, String key, long from, long toInclusive, String ifMatch) throws IOException {
        Applied fault = begin("GetObject", bucket, key, 0);
        StoredObject o = objects.get(bucket + "/" + key);
        if (o == null) {
            throw s3Error(404, "NoSuchKey", "The specified key does not exist.");
        }
        int end = (int) (toInclusive < 0 ? o.bytes().length - 1 : Math.min(toInclusive, o.bytes().length - 1));
        if (ifMatch != null && !ifMatch.equals(o.etag())) {
            throw s3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
        }
        if (toInclusive >= 0 && from >= o.bytes().length) {
            throw s3Error(416, "InvalidRange", "The requested range is not satisfiable");  // as S3, e.g. on an empty object
        }
        java.util.concurrent.Semaphore pool = connections;
        try {
            if (pool != null && !pool.tryAcquire(5, TimeUnit.SECONDS)) {
                throw SdkClientException.builder().message("Unable to execute HTTP request: Timeout waiting for connection from pool").build();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted waiting for a connection");
        }
        return new Body(o.bytes(), (int) from, end + 1, fault, new ObjectInfo(key, o.bytes().length, o.lastModified(), o.crc32c(), o.etag()),
                pool == null ? () -> { } : pool::release);
    }

    @Override
    public ObjectListingPage list(String bucket, String prefix, String delimiter, String continuationToken, String startAfter,
            int maxKeys) throws IOException {
        begin("ListObjectsV2", bucket, prefix + (startAfter != null && continuationToken == null ? " after " + startAfter : ""), 0);
        TreeMap<String, StoredObject> sorted = new TreeMap<>();
        objects.forEach((k, v) -> {
            if (k.startsWith(bucket + "/" + prefix)) {
                sorted.put(k.substring(bucket.length() + 1), v);
            }
        });
        List<ObjectInfo> found = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        String last = null;
        for (Map.Entry<String, StoredObject> e : sorted.tailMap(continuationToken != null ? continuationToken : startAfter != null ? startAfter : "", false).entrySet()) {
            if (found.size() + prefixes.size() >= maxKeys) {
                return new ObjectListingPage(found, prefixes, last);
            }
            String rest = e.getKey().substring(prefix.length());
            int slash = delimiter == null ? -1 : rest.indexOf(delimiter);
            if (slash >= 0) {
                String p = prefix + rest.substring(0, slash + 1);
                if (!prefixes.contains(p)) {
                    prefixes.add(p);
                }
            } else {
                found.add(new ObjectInfo(e.getKey(), e.getValue().bytes().length, e.getValue().lastModified(), null));
            }
            last = e.getKey();
        }
        return new ObjectListingPage(found, prefixes, null);
    }

    @Override
    public List<DeleteFailure> deleteObjects(String bucket, List<String> keys) throws IOException {
        begin("DeleteObjects", bucket, keys.isEmpty() ? "" : keys.get(0), 0);
        keys.forEach(k -> objects.remove(bucket + "/" + k));
        return List.of();
    }

    @Override
    public void deleteObject(String bucket, String key) throws IOException {
        begin("DeleteObject", bucket, key, 0);
        objects.remove(bucket + "/" + key);
    }

    @Override
    public String endpointDescription() {
        return "in-memory S3";
    }

    @Override
    public void close() {}

    // ------------------------------------------------------------------ faults

    /** The fault a call drew, to be applied to its body (reset, stall) where it has one. */
    private record Applied(FaultRule rule) {}

    private Applied begin(String operation, String bucket, String key, int partNumber) throws IOException {
        int attempt = attempts.computeIfAbsent(operation + " " + bucket + "/" + key + "#" + partNumber,
                k -> new AtomicInteger()).incrementAndGet();
        long start = System.nanoTime();
        stats.requestSent(operation);
        if (Thread.currentThread().isInterrupted()) {
            // as the SDK: no request is sent from an interrupted thread
            calls.add(new Call(operation, bucket, key, partNumber, attempt, start, "interrupted"));
            throw software.amazon.awssdk.core.exception.AbortedException.builder().message("Thread was interrupted").build();
        }
        FaultRule rule = rules.stream().filter(r -> r.matches(operation, key, partNumber, attempt)).findFirst().orElse(null);
        calls.add(new Call(operation, bucket, key, partNumber, attempt, start, rule == null ? "ok" : rule.toString()));
        if (rule == null) {
            return null;
        }
        boolean hasBody = operation.equals("GetObject") || operation.equals("PutObject") || operation.equals("UploadPart");
        switch (rule.fault()) {
            case SLOW_DOWN -> throw s3Error(503, "SlowDown", "Please reduce your request rate.");
            case INTERNAL_ERROR -> throw s3Error(500, "InternalError", "We encountered an internal error. Please try again.");
            case TOO_MANY_REQUESTS -> throw s3Error(429, "TooManyRequests", "Too many requests");
            case ERROR -> throw s3Error(rule.status(), rule.code(), rule.code());
            case RESET -> {
                if (!hasBody) {
                    throw SdkClientException.builder().message("Unable to execute HTTP request: Connection reset")
                            .cause(new SocketException("Connection reset")).build();
                }
                return new Applied(rule);
            }
            case BODY_STALL -> {
                sleep(rule.stall());
                throw new UploadBodyWatchdog.StalledUploadException(operation + " s3://" + bucket + "/" + key
                        + ": aborted, the server took no byte of the body for " + rule.stall().toMillis() + " ms", true,
                        SdkClientException.builder().message("Unable to execute HTTP request: Socket closed").build());
            }
            case DELAY -> {
                if (rule.release() != null) {
                    awaitRelease(rule.release(), rule.stall());
                } else {
                    sleep(rule.stall()); // slow, then it succeeds
                }
                return null;
            }
            case STALL -> {
                if (!hasBody || !operation.equals("GetObject")) {
                    if (rule.release() != null) {
                        awaitRelease(rule.release(), rule.stall());
                    } else {
                        sleep(rule.stall());
                    }
                    throw ApiCallAttemptTimeoutException.create(rule.stall().toMillis());
                }
                return new Applied(rule);
            }
        }
        return null;
    }

    private static byte[] readRange(Path file, long offset, long length, Applied fault) throws IOException {
        byte[] all = Files.readAllBytes(file);
        if (offset + length > all.length) {
            throw new IOException(file + " has " + all.length + " bytes, fewer than " + (offset + length));
        }
        if (fault != null && fault.rule().fault() == Fault.RESET) {
            throw SdkClientException.builder().message("Unable to execute HTTP request: Connection reset after "
                    + Math.min(length, fault.rule().afterBytes()) + " bytes of the body").cause(new SocketException("Connection reset")).build();
        }
        byte[] range = new byte[(int) length];
        System.arraycopy(all, (int) offset, range, 0, (int) length);
        return range;
    }

    private Upload upload(String uploadId) {
        Upload u = uploads.get(uploadId);
        if (u == null) {
            throw s3Error(404, "NoSuchUpload", "The specified upload does not exist: " + uploadId);
        }
        return u;
    }

    static S3Exception s3Error(int status, String code, String message) {
        return (S3Exception) S3Exception.builder().statusCode(status).message(message)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).errorMessage(message).serviceName("S3").build())
                .build();
    }

    private static void awaitRelease(CountDownLatch release, Duration atMost) throws IOException {
        try {
            if (!release.await(atMost.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("a held call was not released within " + atMost);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted in a held request");
        }
    }

    private static void sleep(Duration d) throws IOException {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted in a stalled request");
        }
    }

    /** A response body, which a fault may cut or stall after some bytes. */
    private static final class Body extends ObjectStream {
        private final byte[] bytes;
        private final int end;
        private final FaultRule fault;
        private final CountDownLatch aborted = new CountDownLatch(1);
        private int pos;
        private final int start;

        private final ObjectInfo info;
        private final Runnable releaseConnection;
        private final java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();

        Body(byte[] bytes, int from, int end, Applied applied, ObjectInfo info, Runnable releaseConnection) {
            this.info = info;
            this.releaseConnection = releaseConnection;
            this.bytes = bytes;
            this.pos = from;
            this.start = from;
            this.end = end;
            this.fault = applied == null ? null : applied.rule();
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (aborted.getCount() == 0) {
                throw new SocketException("Socket closed (the response was aborted)");
            }
            if (fault != null && pos - start >= fault.afterBytes()) {
                if (fault.fault() == Fault.RESET) {
                    throw new SocketException("Connection reset");
                }
                try {
                    if (aborted.await(fault.stall().toMillis(), TimeUnit.MILLISECONDS)) {
                        throw new SocketException("Socket closed (the response was aborted)");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException();
                }
                throw new SocketTimeoutException("Read timed out");
            }
            if (pos >= end) {
                return -1;
            }
            int limit = fault == null ? end : (int) Math.min(end, start + fault.afterBytes());
            int n = Math.min(len, limit - pos);
            System.arraycopy(bytes, pos, b, off, n);
            pos += n;
            return n;
        }

        @Override
        public void abort() {
            aborted.countDown();
            release();
        }

        @Override
        public void close() {
            aborted.countDown();
            release();
        }

        private void release() {
            if (released.compareAndSet(false, true)) {
                releaseConnection.run();
            }
        }

        @Override
        public ObjectInfo objectInfo() {
            return info;
        }
    }

    /** The CRC32C of bytes, as the file system records it. */
    public static int crc32c(byte[] bytes) {
        CRC32C c = new CRC32C();
        c.update(bytes);
        return (int) c.getValue();
    }

    /** Which calls fail, and how. */
    public static final class FaultRule {
        private final String operation;
        private Pattern keys = Pattern.compile(".*");
        private int part;
        private int fromAttempt = 1;
        private int toAttempt = Integer.MAX_VALUE;
        private Fault fault;
        private long afterBytes;
        private Duration stall = Duration.ofSeconds(60);
        private int status;
        private String code;
        private CountDownLatch release;

        private FaultRule(String operation) {
            this.operation = operation;
        }

        /** Calls of an operation ("GetObject", "UploadPart", ...; as in {@link S3Request}). */
        public static FaultRule on(String operation) {
            return new FaultRule(operation);
        }

        public FaultRule keys(String regex) {
            this.keys = Pattern.compile(regex);
            return this;
        }

        public FaultRule part(int partNumber) {
            this.part = partNumber;
            return this;
        }

        public FaultRule attempts(int from, int to) {
            this.fromAttempt = from;
            this.toAttempt = to;
            return this;
        }

        public FaultRule attempt(int n) {
            return attempts(n, n);
        }

        public FaultRule slowDown() {
            fault = Fault.SLOW_DOWN;
            return this;
        }

        public FaultRule internalError() {
            fault = Fault.INTERNAL_ERROR;
            return this;
        }

        public FaultRule tooManyRequests() {
            fault = Fault.TOO_MANY_REQUESTS;
            return this;
        }

        /** Any S3 error response, such as 403 AccessDenied. */
        public FaultRule error(int httpStatus, String s3ErrorCode) {
            fault = Fault.ERROR;
            status = httpStatus;
            code = s3ErrorCode;
            return this;
        }

        /** The connection resets after {@code bytes} of the body (at once for requests without one). */
        public FaultRule resetAfter(long bytes) {
            fault = Fault.RESET;
            afterBytes = bytes;
            return this;
        }

        /**
         * The call blocks for {@code d} and then times out; a GET body does so after {@code bytes},
         * and ends at once when aborted.
         */
        public FaultRule stallAfter(long bytes, Duration d) {
            fault = Fault.STALL;
            afterBytes = bytes;
            stall = d;
            return this;
        }

        public FaultRule stall(Duration d) {
            return stallAfter(0, d);
        }

        /**
         * The call's body stops being taken: after {@code d} it fails as the file system's
         * watchdog aborts it ({@link UploadBodyWatchdog.StalledUploadException}). For uploads.
         */
        public FaultRule stallBody(Duration d) {
            fault = Fault.BODY_STALL;
            stall = d;
            return this;
        }

        /** The call takes {@code d} and then succeeds: a slow request on the wire. */
        public FaultRule delay(Duration d) {
            fault = Fault.DELAY;
            stall = d;
            return this;
        }

        /**
         * The call (not a GET) blocks until {@code release} opens and then times out (60 s at most):
         * a request on a dead connection that outlasts whatever the test does meanwhile, however
         * slow the host.
         */
        public FaultRule stallUntil(CountDownLatch release) {
            fault = Fault.STALL;
            this.release = release;
            return this;
        }

        /** The call is on the wire until {@code release} opens, and then succeeds (60 s at most). */
        public FaultRule holdUntil(CountDownLatch release) {
            fault = Fault.DELAY;
            this.release = release;
            return this;
        }

        CountDownLatch release() {
            return release;
        }

        Fault fault() {
            return fault;
        }

        long afterBytes() {
            return afterBytes;
        }

        Duration stall() {
            return stall;
        }

        int status() {
            return status;
        }

        String code() {
            return code;
        }

        boolean matches(String op, String key, int partNumber, int attempt) {
            return op.equals(operation) && keys.matcher(key).matches() && (part == 0 || part == partNumber)
                    && attempt >= fromAttempt && attempt <= toAttempt;
        }

        @Override
        public String toString() {
            return fault + " on " + operation + " " + keys + (part > 0 ? " part " + part : "") + " attempts "
                    + fromAttempt + ".." + (toAttempt == Integer.MAX_VALUE ? "" : toAttempt);
        }
    }
}
