package io.github.s3tiered.s3;

import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/** {@link ObjectStore} over the AWS SDK v2 sync client (whose own retries are off). */
public final class SdkObjectStore implements ObjectStore {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SdkObjectStore.class);

    /**
     * The SDK's attempt timeout of an upload: far beyond any, because {@link UploadBodyWatchdog}
     * bounds uploads by their body's progress; the client's own timeout would cut a slow but moving
     * body, and retry it from byte 0.
     */
    private static final java.time.Duration BOUNDED_BY_WATCHDOG = java.time.Duration.ofDays(1);

    private final S3Client client;
    private final S3ClientSettings settings;
    private final AbortableRequests http;
    /** The SDK's timers of attempt timeouts, which it does not close (see {@link S3ClientFactory}). */
    private final java.util.concurrent.ExecutorService timeouts;

    SdkObjectStore(S3Client client, S3ClientSettings settings, AbortableRequests http,
            java.util.concurrent.ExecutorService timeouts) {
        this.client = client;
        this.settings = settings;
        this.http = http;
        this.timeouts = timeouts;
    }

    @Override
    public String endpointDescription() {
        return settings.endpointDescription();
    }

    @Override
    public Optional<ObjectInfo> head(String bucket, String key) {
        try {
            HeadObjectResponse r = client.headObject(b -> b.bucket(bucket).key(key));
            return Optional.of(new ObjectInfo(key, r.contentLength(), millis(r.lastModified()), parseCrc(r.metadata()), r.eTag()));
        } catch (NoSuchKeyException e) {
            return Optional.empty();
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return Optional.empty();
            }
            throw e;
        }
    }

    @Override
    public void putObject(String bucket, String key, Path file, long size, int crc32c, boolean replacesDurable,
            Cancellation cancellation) throws IOException {
        PutObjectRequest.Builder b = PutObjectRequest.builder().bucket(bucket).key(key).contentLength(size)
                .metadata(crcMetadata(crc32c));
        if (settings.contentMd5() || replacesDurable) {
            b.contentMD5(UploadDigest.contentMd5(file, 0, size, crc32c, "PutObject s3://" + bucket + "/" + key));
        }
        applyEncryption(b::serverSideEncryption, b::ssekmsKeyId);
        UploadDigest.SentBody sent = new UploadDigest.SentBody(size);
        String what = "PutObject s3://" + bucket + "/" + key;
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body(what);
        b.overrideConfiguration(o -> o.apiCallAttemptTimeout(BOUNDED_BY_WATCHDOG));
        try (Cancellation.Registration abort = http.watch(cancellation);
                Cancellation.Registration watched = http.sendingBody(body)) {
            client.putObject(b.build(), RequestBody.fromContentProvider(
                    () -> stopsWhenCancelled(sent.open(openFileRange(file, 0, size)), cancellation, what),
                    size, "application/octet-stream"));
        } catch (RuntimeException e) {
            throw body.failure(e);
        }
        Integer sentCrc = sent.crc32c();
        if (sentCrc != null && sentCrc != crc32c) {
            // S3 holds bytes that were never written; its recorded CRC32C fails every read, but the
            // object must not stay to be taken for the write
            String fate;
            try {
                client.deleteObject(d -> d.bucket(bucket).key(key));
                fate = "The object was deleted again.";
            } catch (RuntimeException e) {
                fate = "The object could not be deleted (" + e + "); every read of it fails its CRC32C.";
            }
            UploadDigest.requireSentAsWritten(sent, crc32c, file, "PutObject s3://" + bucket + "/" + key, fate);
        }
    }

    @Override
    public String createMultipartUpload(String bucket, String key, int crc32c) {
        CreateMultipartUploadRequest.Builder b = CreateMultipartUploadRequest.builder().bucket(bucket).key(key)
                .metadata(crcMetadata(crc32c));
        applyEncryption(b::serverSideEncryption, b::ssekmsKeyId);
        return client.createMultipartUpload(b.build()).uploadId();
    }

    @Override
    public UploadedPart uploadPart(String bucket, String key, String uploadId, int partNumber, Path file, long offset,
            long length, Cancellation cancellation) throws IOException {
        UploadDigest.RangeDigest digest = settings.contentMd5()
                ? UploadDigest.of(file, offset, length, null, "UploadPart " + partNumber + " of s3://" + bucket + "/"
                        + key + " (upload id " + uploadId + ")")
                : null;
        String md5 = digest != null ? digest.md5Base64() : null;
        UploadDigest.SentBody sent = new UploadDigest.SentBody(length);
        String etag;
        String what = "UploadPart " + partNumber + " of s3://" + bucket + "/" + key + " (upload id " + uploadId + ")";
        UploadBodyWatchdog.UploadBody body = UploadBodyWatchdog.body(what);
        try (Cancellation.Registration abort = http.watch(cancellation);
                Cancellation.Registration watched = http.sendingBody(body)) {
            etag = client.uploadPart(
                            b -> b.bucket(bucket).key(key).uploadId(uploadId).partNumber(partNumber).contentLength(length)
                                    .contentMD5(md5)
                                    .overrideConfiguration(o -> o.apiCallAttemptTimeout(BOUNDED_BY_WATCHDOG)),
                            RequestBody.fromContentProvider(() -> stopsWhenCancelled(
                                    sent.open(openFileRange(file, offset, length)), cancellation, what), length,
                                    "application/octet-stream"))
                    .eTag();
        } catch (RuntimeException e) {
            throw body.failure(e);
        }
        // the bytes sent, checked against those written before the upload is completed
        Integer crc = sent.crc32c() != null ? sent.crc32c() : digest != null ? Integer.valueOf(digest.crc32c()) : null;
        return crc != null ? new UploadedPart(partNumber, etag, crc, length) : new UploadedPart(partNumber, etag);
    }

    @Override
    public String completeMultipartUpload(String bucket, String key, String uploadId, List<UploadedPart> parts) {
        List<CompletedPart> completed = new ArrayList<>(parts.size());
        for (UploadedPart p : parts) {
            completed.add(CompletedPart.builder().partNumber(p.partNumber()).eTag(p.etag()).build());
        }
        return client.completeMultipartUpload(CompleteMultipartUploadRequest.builder().bucket(bucket).key(key).uploadId(uploadId)
                .multipartUpload(CompletedMultipartUpload.builder().parts(completed).build()).build()).eTag();
    }

    @Override
    public List<String> listMultipartUploads(String bucket, String key) {
        List<String> ids = new ArrayList<>();
        for (MultipartUpload u : client.listMultipartUploads(b -> b.bucket(bucket).prefix(key)).uploads()) {
            if (key.equals(u.key())) {
                ids.add(u.uploadId());
            }
        }
        return ids;
    }

    @Override
    public void abortMultipartUpload(String bucket, String key, String uploadId) {
        try {
            client.abortMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId));
        } catch (S3Exception e) {
            if (e.statusCode() != 404) {
                throw e;
            }
            // already gone
        }
    }

    @Override
    public Cancellation.Registration abortOnCancel(Cancellation cancellation) {
        return http.watch(cancellation);
    }

    @Override
    public ObjectStream get(String bucket, String key, long from, long toInclusive, String ifMatch) {
        GetObjectRequest.Builder b = GetObjectRequest.builder().bucket(bucket).key(key);
        if (ifMatch != null) {
            b.ifMatch(ifMatch);
        }
        if (toInclusive >= 0) {
            b.range("bytes=" + from + "-" + toInclusive);
        } else if (from > 0) {
            b.range("bytes=" + from + "-");
        }
        ResponseInputStream<GetObjectResponse> in = client.getObject(b.build());
        return from == 0 && toInclusive < 0 ? new ResponseStream(key, in) : rangeOf(bucket, key, from, toInclusive, in);
    }

    /**
     * The bytes a ranged GET asked for. A server or gateway that ignores {@code Range} answers 200
     * with the whole object: its bytes before the range are skipped at the first read (after the
     * caller registered its abort, so a cancellation stops the skip too) and those after it are not
     * passed on, so that a read at an offset never takes the object's first bytes for its own; an
     * object without a recorded CRC32C (written by another file system) has nothing else that would
     * notice. A 206 that starts elsewhere, or ends past the range, fails the request; one that ends
     * early (a server capping ranges, or S3 cutting the range at the object's last byte) reads
     * short, as a broken body does, and the caller reopens at the position reached.
     */
    private static ObjectStream rangeOf(String bucket, String key, long from, long toInclusive,
            ResponseInputStream<GetObjectResponse> in) {
        GetObjectResponse r = in.response();
        String asked = "bytes=" + from + "-" + (toInclusive >= 0 ? String.valueOf(toInclusive) : "");
        if (r.sdkHttpResponse().statusCode() != 200) {
            String contentRange = r.contentRange();
            long[] answered = contentRange == null ? null : contentRange(contentRange);
            // a 206 without Content-Range (some gateways) cannot be checked
            if (answered != null && (answered[0] != from || toInclusive >= 0 && answered[1] > toInclusive)) {
                in.abort();
                throw new IllegalStateException("GET s3://" + bucket + "/" + key + " asked for " + asked
                        + " and the server answered Content-Range " + contentRange + ": it sends other bytes than asked for");
            }
            return new ResponseStream(key, in);
        }
        Long objectSize = r.contentLength();
        if ((from > 0 || objectSize == null || objectSize > toInclusive + 1) && !rangeIgnoredWarned) {
            rangeIgnoredWarned = true;
            LOG.warn("The S3 endpoint ignored the Range header of GET s3://{}/{} ({}) and answered with the whole object:"
                    + " reads at an offset download the object from its start and skip the bytes before it", bucket, key, asked);
        }
        return new ResponseStream(key, in, from, toInclusive >= 0 ? toInclusive - from + 1 : Long.MAX_VALUE);
    }

    /** {@code Content-Range: bytes 0-99/1234} as {first, last, size} (size -1 when "*"); null when it does not parse. */
    static long[] contentRange(String contentRange) {
        try {
            String v = contentRange.trim();
            int space = v.indexOf(' ');
            int dash = v.indexOf('-', space + 1);
            int slash = v.indexOf('/', dash + 1);
            if (space < 0 || dash < 0 || slash < 0) {
                return null;
            }
            return new long[] {Long.parseLong(v.substring(space + 1, dash).trim()),
                    Long.parseLong(v.substring(dash + 1, slash).trim()), totalSize(v)};
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Warned once per process: an endpoint that ignores ranges does so for every object. */
    private static volatile boolean rangeIgnoredWarned;

    @Override
    public ObjectListingPage list(String bucket, String prefix, String delimiter, String continuationToken, String startAfter,
            int maxKeys) {
        ListObjectsV2Request.Builder b = ListObjectsV2Request.builder().bucket(bucket).prefix(prefix).maxKeys(maxKeys);
        if (delimiter != null) {
            b.delimiter(delimiter);
        }
        if (continuationToken != null) {
            b.continuationToken(continuationToken);
        } else if (startAfter != null) {
            b.startAfter(startAfter);
        }
        ListObjectsV2Response page = client.listObjectsV2(b.build());
        List<ObjectInfo> objects = new ArrayList<>();
        for (S3Object o : page.contents()) {
            objects.add(new ObjectInfo(o.key(), o.size(), millis(o.lastModified()), null));
        }
        List<String> prefixes = new ArrayList<>();
        for (CommonPrefix p : page.commonPrefixes()) {
            prefixes.add(p.prefix());
        }
        return new ObjectListingPage(objects, prefixes,
                Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null);
    }

    @Override
    public List<DeleteFailure> deleteObjects(String bucket, List<String> keys) {
        List<ObjectIdentifier> ids = new ArrayList<>(keys.size());
        for (String k : keys) {
            ids.add(ObjectIdentifier.builder().key(k).build());
        }
        DeleteObjectsResponse r = client.deleteObjects(b -> b.bucket(bucket).delete(Delete.builder().objects(ids).quiet(true).build()));
        List<DeleteFailure> failures = new ArrayList<>();
        if (r.hasErrors()) {
            for (S3Error e : r.errors()) {
                failures.add(new DeleteFailure(e.key(), e.code(), e.message()));
            }
        }
        return failures;
    }

    @Override
    public void deleteObject(String bucket, String key) {
        client.deleteObject(b -> b.bucket(bucket).key(key));
    }

    @Override
    public void close() {
        client.close();
        http.close();
        timeouts.shutdownNow();
    }

    private void applyEncryption(Consumer<ServerSideEncryption> sse, Consumer<String> kmsKey) {
        switch (settings.sse()) {
            case SSE_S3 -> sse.accept(ServerSideEncryption.AES256);
            case SSE_KMS -> {
                sse.accept(ServerSideEncryption.AWS_KMS);
                if (settings.kmsKeyId() != null) {
                    kmsKey.accept(settings.kmsKeyId());
                }
            }
            case NONE -> {}
        }
    }

    private static Map<String, String> crcMetadata(int crc32c) {
        Map<String, String> m = new HashMap<>();
        m.put(CRC32C_METADATA, Crc32c.toHex(crc32c));
        return m;
    }

    static Integer parseCrc(Map<String, String> metadata) {
        if (metadata == null) {
            return null;
        }
        String v = metadata.get(CRC32C_METADATA);
        return v == null ? null : Crc32c.fromHex(v);
    }

    /** The object's size from {@code Content-Range: bytes 0-99/1234}; -1 when it is not given ("*"). */
    static long totalSize(String contentRange) {
        int slash = contentRange.lastIndexOf('/');
        if (slash < 0) {
            return -1;
        }
        try {
            return Long.parseLong(contentRange.substring(slash + 1).trim());
        } catch (NumberFormatException unknown) {
            return -1;
        }
    }

    private static long millis(Instant i) {
        return i == null ? 0L : i.toEpochMilli();
    }

    /**
     * A request body that fails its next read once {@code cancellation} is set: the HTTP client
     * then aborts the request, so a cancelled upload stops within about one socket buffer of the
     * body instead of sending the rest of the file. A body already sent whose answer is awaited is
     * not stopped (the request timeout bounds it).
     */
    private static InputStream stopsWhenCancelled(InputStream in, Cancellation cancellation, String what) {
        if (cancellation == Cancellation.NONE) {
            return in;
        }
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                cancellation.check(what);
                int r = super.read();
                cancellation.active();
                return r;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                cancellation.check(what);
                int n = super.read(b, off, len);
                cancellation.active();
                return n;
            }
        };
    }

    /** A range of a file; the SDK opens it again for every attempt and reads it to the end. */
    private static InputStream openFileRange(Path file, long offset, long length) {
        try {
            FileChannel ch = FileChannel.open(file);
            ch.position(offset);
            return new FilterInputStream(Channels.newInputStream(ch)) {
                long remaining = length;

                @Override
                public int read() throws IOException {
                    if (remaining <= 0) {
                        return -1;
                    }
                    int b = super.read();
                    if (b >= 0) {
                        remaining--;
                    }
                    return b;
                }

                @Override
                public int read(byte[] buf, int off, int len) throws IOException {
                    if (remaining <= 0) {
                        return -1;
                    }
                    int n = super.read(buf, off, (int) Math.min(len, remaining));
                    if (n > 0) {
                        remaining -= n;
                    }
                    return n;
                }
            };
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file + " at " + offset, e);
        }
    }

    /** The SDK's response body; abort() drops the HTTP connection. */
    private static final class ResponseStream extends ObjectStream {
        private final ResponseInputStream<GetObjectResponse> in;
        private final ObjectInfo info;
        /** Whether the body is the whole object sent for a range, of which this stream passes on the range only. */
        private final boolean wholeObjectSent;
        /** Bytes of the body before the range, still to skip at the first read. */
        private long toSkip;
        /** Bytes still passed on: less than the body when the server sent more than the range asked for. */
        private long remaining;

        ResponseStream(String key, ResponseInputStream<GetObjectResponse> in) {
            this(key, in, 0, Long.MAX_VALUE, false);
        }

        /** The range {@code [skip, skip + length)} of a whole object sent for it. */
        ResponseStream(String key, ResponseInputStream<GetObjectResponse> in, long skip, long length) {
            this(key, in, skip, length, true);
        }

        private ResponseStream(String key, ResponseInputStream<GetObjectResponse> in, long skip, long length,
                boolean wholeObjectSent) {
            this.in = in;
            this.toSkip = skip;
            this.remaining = length;
            this.wholeObjectSent = wholeObjectSent;
            GetObjectResponse r = in.response();
            // A 206 without Content-Range (some gateways) does not say the object's size: unknown.
            long size = r.contentRange() != null ? totalSize(r.contentRange())
                    : r.sdkHttpResponse().statusCode() == 200 && r.contentLength() != null ? r.contentLength() : -1;
            this.info = size < 0 ? null : new ObjectInfo(key, size, millis(r.lastModified()), parseCrc(r.metadata()), r.eTag());
        }

        @Override
        public boolean wholeObjectSent() {
            return wholeObjectSent;
        }

        private void skipToRange() throws IOException {
            if (toSkip > 0) {
                long skip = toSkip;
                toSkip = 0;
                try {
                    in.skipNBytes(skip);
                } catch (IOException | RuntimeException e) {
                    in.abort(); // every later read fails too, never at a wrong position; the caller reopens
                    throw e;
                }
            }
        }

        @Override
        public ObjectInfo objectInfo() {
            return info;
        }

        @Override
        public int read() throws IOException {
            if (remaining <= 0) {
                return -1;
            }
            skipToRange();
            int b = in.read();
            if (b >= 0) {
                remaining--;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (remaining <= 0) {
                return len == 0 ? 0 : -1;
            }
            skipToRange();
            int n = in.read(b, off, (int) Math.min(len, remaining));
            if (n > 0) {
                remaining -= n;
            }
            return n;
        }

        @Override
        public void abort() {
            in.abort();
        }

        @Override
        public void close() throws IOException {
            if (wholeObjectSent) {
                in.abort(); // the rest of a whole object sent for a range: not worth draining
            }
            in.close();
        }
    }
}
