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
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The S3 operations the file system needs, each retried by the {@link Retrier} and failing with
 * an {@link S3OperationException} that names bucket, key and upload id.
 */
public final class ObjectStore implements AutoCloseable {

    /** Object metadata entry holding the CRC32C (8 hex digits) recorded at upload. */
    public static final String CRC32C_METADATA = "s3tiered-crc32c";

    private static final int DELETE_BATCH = 1000;

    private final S3Client client;
    private final S3ClientSettings settings;
    private final Retrier retrier;
    private final S3Statistics stats;

    public ObjectStore(S3Client client, S3ClientSettings settings, Retrier retrier, S3Statistics stats) {
        this.client = client;
        this.settings = settings;
        this.retrier = retrier;
        this.stats = stats;
    }

    public S3Statistics statistics() {
        return stats;
    }

    public String endpointDescription() {
        return settings.endpointDescription();
    }

    /** HEAD of an object; empty when it does not exist. */
    public Optional<ObjectInfo> head(String bucket, String key) throws IOException {
        return retrier.call(
                S3Request.of("HeadObject", bucket, key),
                () -> {
                    try {
                        HeadObjectResponse r = client.headObject(b -> b.bucket(bucket).key(key));
                        return Optional.of(
                                new ObjectInfo(key, r.contentLength(), millis(r.lastModified()),
                                        parseCrc(r.metadata())));
                    } catch (NoSuchKeyException e) {
                        return Optional.empty();
                    } catch (S3Exception e) {
                        if (e.statusCode() == 404) {
                            return Optional.empty();
                        }
                        throw e;
                    }
                });
    }

    /** Uploads a whole local file with one PUT, recording its CRC32C. */
    public void putFile(String bucket, String key, Path file, long size, int crc32c) throws IOException {
        long start = System.nanoTime();
        retrier.call(
                S3Request.of("PutObject", bucket, key),
                () ->
                        client.putObject(
                                withEncryption(
                                                PutObjectRequest.builder()
                                                        .bucket(bucket)
                                                        .key(key)
                                                        .contentLength(size)
                                                        .metadata(crcMetadata(crc32c)))
                                        .build(),
                                RequestBody.fromFile(file)));
        stats.bytesUploaded.add(size);
        stats.uploads.increment();
        stats.uploadNanos.add(System.nanoTime() - start);
    }

    /** Starts a multipart upload whose object will carry the given CRC32C. */
    public String createMultipartUpload(String bucket, String key, int crc32c) throws IOException {
        return retrier.call(
                S3Request.of("CreateMultipartUpload", bucket, key),
                () -> {
                    CreateMultipartUploadRequest.Builder b =
                            CreateMultipartUploadRequest.builder()
                                    .bucket(bucket)
                                    .key(key)
                                    .metadata(crcMetadata(crc32c));
                    applyEncryption(b::serverSideEncryption, b::ssekmsKeyId);
                    return client.createMultipartUpload(b.build()).uploadId();
                });
    }

    /** Uploads one part from a range of a local file. */
    public CompletedPart uploadPart(
            String bucket, String key, String uploadId, int partNumber, Path file, long offset, long length)
            throws IOException {
        CompletedPart part =
                retrier.call(
                        S3Request.ofUpload("UploadPart", bucket, key, uploadId, partNumber),
                        () -> {
                            String etag =
                                    client.uploadPart(
                                                    b -> b.bucket(bucket).key(key).uploadId(uploadId)
                                                            .partNumber(partNumber).contentLength(length),
                                                    RequestBody.fromContentProvider(
                                                            () -> FileRangeInputStream.open(file, offset, length),
                                                            length,
                                                            "application/octet-stream"))
                                            .eTag();
                            return CompletedPart.builder().partNumber(partNumber).eTag(etag).build();
                        });
        stats.bytesUploaded.add(length);
        return part;
    }

    public void completeMultipartUpload(String bucket, String key, String uploadId, List<CompletedPart> parts)
            throws IOException {
        retrier.call(
                S3Request.ofUpload("CompleteMultipartUpload", bucket, key, uploadId, 0),
                () ->
                        client.completeMultipartUpload(
                                CompleteMultipartUploadRequest.builder()
                                        .bucket(bucket)
                                        .key(key)
                                        .uploadId(uploadId)
                                        .multipartUpload(CompletedMultipartUpload.builder().parts(parts).build())
                                        .build()));
    }

    public void abortMultipartUpload(String bucket, String key, String uploadId) throws IOException {
        retrier.call(
                S3Request.ofUpload("AbortMultipartUpload", bucket, key, uploadId, 0),
                () -> {
                    try {
                        return client.abortMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId));
                    } catch (S3Exception e) {
                        if (e.statusCode() == 404) {
                            return null; // already gone
                        }
                        throw e;
                    }
                });
    }

    /**
     * Opens a GET of {@code [from, toInclusive]}. The caller reads and closes the stream; a
     * broken stream is the caller's to reopen.
     */
    public ResponseInputStream<GetObjectResponse> openRange(String bucket, String key, long from, long toInclusive)
            throws IOException {
        return retrier.call(
                S3Request.of("GetObject", bucket, key),
                () ->
                        client.getObject(
                                GetObjectRequest.builder()
                                        .bucket(bucket)
                                        .key(key)
                                        .range("bytes=" + from + "-" + toInclusive)
                                        .build()));
    }

    /** Opens a GET from {@code from} to the end (no Range header from 0: the whole object). */
    public ResponseInputStream<GetObjectResponse> openFrom(String bucket, String key, long from) throws IOException {
        return retrier.call(
                S3Request.of("GetObject", bucket, key),
                () -> {
                    GetObjectRequest.Builder b = GetObjectRequest.builder().bucket(bucket).key(key);
                    if (from > 0) {
                        b.range("bytes=" + from + "-");
                    }
                    return client.getObject(b.build());
                });
    }

    /** One level below {@code prefix} (which ends with '/' or is empty), all pages. */
    public ObjectListing listDirectory(String bucket, String prefix) throws IOException {
        return list(bucket, prefix, "/", Integer.MAX_VALUE);
    }

    /** Every object under {@code prefix}, recursively, all pages. */
    public List<ObjectInfo> listRecursive(String bucket, String prefix) throws IOException {
        return list(bucket, prefix, null, Integer.MAX_VALUE).objects();
    }

    /** Whether anything exists under {@code prefix}: one request at most. */
    public boolean hasAnyUnder(String bucket, String prefix) throws IOException {
        return !list(bucket, prefix, null, 1).isEmpty();
    }

    private ObjectListing list(String bucket, String prefix, String delimiter, int limit) throws IOException {
        List<ObjectInfo> objects = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        String token = null;
        do {
            String continuation = token;
            ListObjectsV2Response page =
                    retrier.call(
                            S3Request.of("ListObjectsV2", bucket, prefix),
                            () -> {
                                ListObjectsV2Request.Builder b =
                                        ListObjectsV2Request.builder().bucket(bucket).prefix(prefix)
                                                .maxKeys(Math.min(limit, 1000));
                                if (delimiter != null) {
                                    b.delimiter(delimiter);
                                }
                                if (continuation != null) {
                                    b.continuationToken(continuation);
                                }
                                return client.listObjectsV2(b.build());
                            });
            for (S3Object o : page.contents()) {
                objects.add(new ObjectInfo(o.key(), o.size(), millis(o.lastModified()), null));
            }
            for (CommonPrefix p : page.commonPrefixes()) {
                prefixes.add(p.prefix());
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null && objects.size() + prefixes.size() < limit);
        return new ObjectListing(objects, prefixes);
    }

    /** Deletes keys in batches of 1,000; a key that does not exist is not an error. */
    public void deleteObjects(String bucket, List<String> keys) throws IOException {
        for (int i = 0; i < keys.size(); i += DELETE_BATCH) {
            List<ObjectIdentifier> batch = new ArrayList<>();
            for (String k : keys.subList(i, Math.min(keys.size(), i + DELETE_BATCH))) {
                batch.add(ObjectIdentifier.builder().key(k).build());
            }
            String first = batch.get(0).key();
            DeleteObjectsResponse r =
                    retrier.call(
                            S3Request.of("DeleteObjects", bucket, first + (batch.size() > 1 ? " (+" + (batch.size() - 1) + " keys)" : "")),
                            () -> client.deleteObjects(b -> b.bucket(bucket)
                                    .delete(Delete.builder().objects(batch).quiet(true).build())));
            if (r.hasErrors() && !r.errors().isEmpty()) {
                S3Error e = r.errors().get(0);
                throw new IOException(
                        "S3 DeleteObjects at " + endpointDescription() + " could not delete " + r.errors().size()
                                + " of " + batch.size() + " keys in bucket " + bucket + ", first: s3://" + bucket + "/"
                                + e.key() + ": " + e.code() + " " + e.message());
            }
        }
    }

    public void deleteObject(String bucket, String key) throws IOException {
        retrier.call(S3Request.of("DeleteObject", bucket, key), () -> client.deleteObject(b -> b.bucket(bucket).key(key)));
    }

    public void recordDownload(long bytes) {
        stats.bytesDownloaded.add(bytes);
    }

    @Override
    public void close() {
        client.close();
    }

    private PutObjectRequest.Builder withEncryption(PutObjectRequest.Builder b) {
        applyEncryption(b::serverSideEncryption, b::ssekmsKeyId);
        return b;
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

    private static long millis(Instant i) {
        return i == null ? 0L : i.toEpochMilli();
    }

    /** Reads a range of a file; reopened by the SDK for every attempt. */
    static final class FileRangeInputStream {
        static InputStream open(Path file, long offset, long length) {
            try {
                java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file);
                ch.position(offset);
                InputStream in = java.nio.channels.Channels.newInputStream(ch);
                return new java.io.FilterInputStream(in) {
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
                throw new java.io.UncheckedIOException("Cannot read " + file + " at " + offset, e);
            }
        }
    }
}
