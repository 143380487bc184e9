package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.ProxiedRequest;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Collectors;

/**
 * Server-side encryption headers on the wire, seen by the {@link FaultInjectingProxy} between the
 * file system and S3Proxy (which ignores them: it does not implement SSE; the uploads succeed and
 * read back). S3 takes SSE-S3 and SSE-KMS on the requests that create an object's data:
 * PutObject and CreateMultipartUpload carry {@code x-amz-server-side-encryption} ({@code AES256}
 * or {@code aws:kms}) and, for KMS with a key, {@code x-amz-server-side-encryption-aws-kms-key-id}.
 * UploadPart takes SSE request headers only for SSE-C (customer keys): the SSE-S3/KMS choice made
 * at initiation applies to every part, so parts carry none; neither does CompleteMultipartUpload.
 */
class ServerSideEncryptionITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    static final String SSE = "x-amz-server-side-encryption";
    static final String KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id";
    static final String KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    static final int MIB = 1024 * 1024;

    static FaultInjectingProxy proxy;

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path readerTierDir;

    @BeforeAll
    static void startProxy() throws IOException {
        proxy = new FaultInjectingProxy("127.0.0.1", S3.server().port());
    }

    @AfterAll
    static void stopProxy() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
    }

    @BeforeEach
    void needsTheLocalServer() {
        assumeThat(S3.server().isLocalProcess()).as("needs a loopback S3 server behind the proxy").isTrue();
        proxy.resetCounters();
    }

    private Configuration config(String sseType, String kmsKeyId) {
        Configuration conf = flinkConfig(S3.server(), tierDir);
        conf.setString("s3.endpoint", proxy.endpoint());
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.SSE_TYPE.key(), sseType);
        if (kmsKeyId != null) {
            conf.setString(S3TieredOptions.SSE_KMS_KEY_ID.key(), kmsKeyId);
        }
        return conf;
    }

    @Test
    void sseS3HeadersAreOnEveryUploadThatCreatesData() throws Exception {
        Map<S3Operation, List<ProxiedRequest>> uploads = uploadSmallAndLarge(config("sse-s3", null));
        assertEncryptionHeaders(uploads, "AES256", null);
    }

    @Test
    void sseKmsHeadersWithTheKeyIdAreOnEveryUploadThatCreatesData() throws Exception {
        Map<S3Operation, List<ProxiedRequest>> uploads = uploadSmallAndLarge(config("sse-kms", KEY_ARN));
        assertEncryptionHeaders(uploads, "aws:kms", KEY_ARN);
    }

    @Test
    void sseKmsWithoutAKeyIdLeavesTheKeyToTheBucket() throws Exception {
        Map<S3Operation, List<ProxiedRequest>> uploads = uploadSmallAndLarge(config("sse-kms", null));
        assertEncryptionHeaders(uploads, "aws:kms", null);
    }

    @Test
    void withoutSseNoUploadCarriesAnEncryptionHeader() throws Exception {
        Map<S3Operation, List<ProxiedRequest>> uploads = uploadSmallAndLarge(config("none", null));
        for (List<ProxiedRequest> requests : uploads.values()) {
            for (ProxiedRequest r : requests) {
                assertThat(r.header(SSE)).as("%s", r).isNull();
                assertThat(r.header(KMS_KEY)).as("%s", r).isNull();
            }
        }
    }

    /**
     * Writes a file below the multipart threshold (one PUT) and one above it (3 parts) through the
     * proxy, reads both back, and returns the upload requests the proxy saw for them, by operation.
     */
    private Map<S3Operation, List<ProxiedRequest>> uploadSmallAndLarge(Configuration conf) throws IOException {
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/sse/" + UUID.randomUUID();
        Path small = new Path(dir + "/small");
        Path large = new Path(dir + "/large.sst");
        byte[] smallData = randomBytes(300_000, 11);
        byte[] largeData = randomBytes(11 * MIB, 12);
        S3TieredFileSystem fs = newFileSystem(conf, S3.server().bucket());
        write(fs, small, smallData);
        write(fs, large, largeData);

        Configuration readerConf = new Configuration(conf);
        readerConf.setString(S3TieredOptions.LOCAL_DIR.key(), readerTierDir.toString());
        S3TieredFileSystem reader = newFileSystem(readerConf, S3.server().bucket());
        assertThat(readAll(reader, small)).isEqualTo(smallData);
        assertThat(readAll(reader, large)).isEqualTo(largeData);

        String prefix = dir.substring("s3tiered://".length() + S3.server().bucket().length() + 1);
        Map<S3Operation, List<ProxiedRequest>> uploads = proxy.recentRequests().stream()
                .filter(r -> r.key() != null && r.key().startsWith(prefix))
                .filter(r -> List.of(S3Operation.PUT_OBJECT, S3Operation.CREATE_MULTIPART_UPLOAD, S3Operation.UPLOAD_PART,
                        S3Operation.COMPLETE_MULTIPART_UPLOAD).contains(r.operation()))
                .collect(Collectors.groupingBy(ProxiedRequest::operation));
        assertThat(uploads.getOrDefault(S3Operation.PUT_OBJECT, List.of())).as("PUTs seen by the proxy: %s", uploads)
                .hasSize(1).allSatisfy(r -> assertThat(r.key()).endsWith("/small"));
        assertThat(uploads.getOrDefault(S3Operation.CREATE_MULTIPART_UPLOAD, List.of())).as("CreateMultipartUpload")
                .hasSize(1).allSatisfy(r -> assertThat(r.key()).endsWith("/large.sst"));
        assertThat(uploads.getOrDefault(S3Operation.UPLOAD_PART, List.of())).as("UploadPart").hasSize(3);
        assertThat(uploads.getOrDefault(S3Operation.COMPLETE_MULTIPART_UPLOAD, List.of())).as("Complete").hasSize(1);
        return uploads;
    }

    private static void assertEncryptionHeaders(Map<S3Operation, List<ProxiedRequest>> uploads, String algorithm,
            String kmsKeyId) {
        for (S3Operation creating : List.of(S3Operation.PUT_OBJECT, S3Operation.CREATE_MULTIPART_UPLOAD)) {
            for (ProxiedRequest r : uploads.get(creating)) {
                assertThat(r.header(SSE)).as("%s of %s", SSE, r).isEqualTo(algorithm);
                assertThat(r.header(KMS_KEY)).as("%s of %s", KMS_KEY, r).isEqualTo(kmsKeyId);
            }
        }
        for (S3Operation notCreating : List.of(S3Operation.UPLOAD_PART, S3Operation.COMPLETE_MULTIPART_UPLOAD)) {
            for (ProxiedRequest r : uploads.get(notCreating)) {
                assertThat(r.header(SSE)).as("%s of %s (S3 takes SSE-S3/KMS on the initiation only)", SSE, r).isNull();
                assertThat(r.header(KMS_KEY)).as("%s of %s", KMS_KEY, r).isNull();
            }
        }
    }
}
