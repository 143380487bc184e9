package io.github.s3tiered.fs;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

import java.time.Duration;

/**
 * Every option of the {@code s3tiered://} file system. Options use the prefix {@code s3tiered.}
 * and fall back to Flink's standard S3 keys where one exists, so an existing Flink S3 setup works
 * unchanged. The README's option table is checked against this class by a test.
 */
public final class S3TieredOptions {

    public static final String PREFIX = "s3tiered.";

    // ---------------------------------------------------------------- S3 endpoint and access

    public static final ConfigOption<String> ENDPOINT =
            ConfigOptions.key("s3tiered.endpoint")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.endpoint")
                    .withDescription(
                            "S3 endpoint URL, e.g. http://minio:9000; a bare host[:port] is https:// (http:// with "
                                    + "s3.connection.ssl.enabled or s3.ssl.enabled false), as Flink's S3 file systems take it. "
                                    + "Unset: AWS S3 of the region. "
                                    + "With a custom endpoint, path-style access and "
                                    + "'when_required' request checksums become the defaults, which "
                                    + "S3-compatible stores (MinIO, Ceph, S3Proxy) accept.");

    public static final ConfigOption<String> REGION =
            ConfigOptions.key("s3tiered.region")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.region")
                    .withDescription(
                            "AWS region. Unset: the SDK's region chain (AWS_REGION, profile, "
                                    + "instance metadata), or us-east-1 when a custom endpoint is set.");

    public static final ConfigOption<Boolean> PATH_STYLE_ACCESS =
            ConfigOptions.key("s3tiered.path-style-access")
                    .booleanType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.path.style.access", "s3.path-style-access")
                    .withDescription(
                            "Use path-style requests (http://endpoint/bucket/key). Unset: true with a "
                                    + "custom endpoint, false for AWS S3.");

    public static final ConfigOption<String> ACCESS_KEY =
            ConfigOptions.key("s3tiered.access-key")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.access-key", "s3.access.key")
                    .withDescription(
                            "Static access key id. Unset: the SDK's default credentials chain "
                                    + "(environment, profile, web identity, container and instance roles); a request "
                                    + "whose lookup finds none looks again twice, 1 s and 2 s later (the chain says the "
                                    + "same when the instance metadata service or STS did not answer in time), then "
                                    + "fails naming these options. Flink's s3.assume-role.* and credentials-provider "
                                    + "keys are not read (a WARN names them).");

    public static final ConfigOption<String> SECRET_KEY =
            ConfigOptions.key("s3tiered.secret-key")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.secret-key", "s3.secret.key")
                    .withDescription("Static secret key, required with the access key. Never logged.");

    public static final ConfigOption<String> CHECKSUM_MODE =
            ConfigOptions.key("s3tiered.request-checksum")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "When the SDK adds request checksums: 'when_supported' or "
                                    + "'when_required'. Unset: 'when_required' with a custom endpoint "
                                    + "(many S3-compatible stores reject the others), else "
                                    + "'when_supported'. Independent of this, every object carries its "
                                    + "CRC32C in its metadata.");

    public static final ConfigOption<Boolean> SIGN_PAYLOAD =
            ConfigOptions.key("s3tiered.upload.sign-payload")
                    .booleanType()
                    .defaultValue(false)
                    .withDescription(
                            "Sign the SHA-256 of every uploaded byte (SigV4 payload signing). Off, "
                                    + "requests carry UNSIGNED-PAYLOAD over https and plain http alike "
                                    + "(STREAMING-UNSIGNED-PAYLOAD-TRAILER with 'when_supported' request checksums; "
                                    + "the SDK alone signs every payload over http, uploads in aws-chunked chunks): one "
                                    + "CPU pass less per byte on plain-http endpoints. Uploads stay "
                                    + "checked by their Content-MD5 (s3tiered.upload.content-md5) and the CRC32C recorded with each object.");

    public static final ConfigOption<Boolean> CONTENT_MD5 =
            ConfigOptions.key("s3tiered.upload.content-md5")
                    .booleanType()
                    .noDefaultValue()
                    .withDescription(
                            "Send the MD5 of every PUT and part (Content-MD5), so that S3 refuses a body altered "
                                    + "on the way and it is sent again. Unset: on with a plain-http endpoint, where "
                                    + "nothing else checks the bytes in flight (no TLS; the SDK's request checksums "
                                    + "are off with a custom endpoint), off over https. Costs one read of each "
                                    + "upload's bytes (MD5, about 700 MB/s per core) before it is sent. With it "
                                    + "or without, the bytes each request sends are checked against the CRC32C "
                                    + "recorded while they were written: a staging file changed on local disk fails "
                                    + "the write (a multipart upload is aborted, a PUT that S3 took is deleted again). "
                                    + "A PUT that replaces an object a checkpoint may refer to (a stream synced "
                                    + "before) always carries its Content-MD5, computed by a read that first checks "
                                    + "the file against that CRC32C: such an object is never replaced by bytes that "
                                    + "were not written.");

    public static final ConfigOption<String> SSE_TYPE =
            ConfigOptions.key("s3tiered.sse.type")
                    .stringType()
                    .defaultValue("none")
                    .withDescription(
                            "Server-side encryption of uploaded objects: 'none', 'sse-s3' (AES256) or "
                                    + "'sse-kms' ('AES256' and 'aws:kms' too). Unset: what the keys of Flink's own S3 "
                                    + "file systems ask for (s3.sse.type, presto's s3.sse.enabled, hadoop's "
                                    + "s3.server-side-encryption-algorithm or fs.s3a.encryption.algorithm), else none; "
                                    + "one this file system cannot apply there (SSE-C), or two that disagree, are named in "
                                    + "a WARN and not applied.");

    public static final ConfigOption<String> SSE_KMS_KEY_ID =
            ConfigOptions.key("s3tiered.sse.kms-key-id")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "KMS key id or ARN for 'sse-kms'. Unset: the one of Flink's own S3 file systems' keys "
                                    + "(s3.sse.kms.key-id, s3.sse.kms-key-id, hadoop's server-side-encryption.key or "
                                    + "encryption.key), else the bucket's AWS managed key.");

    public static final ConfigOption<String> TRUST_STORE_PATH =
            ConfigOptions.key("s3tiered.ssl.truststore.path")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Trust store (PKCS12 or JKS file) with the certificates that an https endpoint's "
                                    + "certificate must chain to, e.g. a private CA or a self-signed "
                                    + "certificate of MinIO or Ceph. Replaces the JVM's trust store for S3 "
                                    + "requests. Unset: the JVM's default trust store (javax.net.ssl.trustStore, "
                                    + "else the JDK's cacerts).");

    public static final ConfigOption<String> TRUST_STORE_PASSWORD =
            ConfigOptions.key("s3tiered.ssl.truststore.password")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Password of the trust store, if it has one (checks its integrity). Never logged.");

    public static final ConfigOption<String> TRUST_STORE_TYPE =
            ConfigOptions.key("s3tiered.ssl.truststore.type")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Type of the trust store: 'PKCS12' or 'JKS'. Unset: the JVM's default type "
                                    + "(PKCS12 on Java 17, which reads JKS files too).");

    public static final ConfigOption<Integer> MAX_CONNECTIONS =
            ConfigOptions.key("s3tiered.connection.max")
                    .intType()
                    .defaultValue(64)
                    .withFallbackKeys("s3.connection.max", "s3.connection.maximum")
                    .withDescription("Size of the HTTP connection pool to S3.");

    public static final ConfigOption<Duration> CONNECTION_TIMEOUT =
            ConfigOptions.key("s3tiered.connection.timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription("Timeout to establish a connection to S3.");

    public static final ConfigOption<Duration> SOCKET_TIMEOUT =
            ConfigOptions.key("s3tiered.socket.timeout")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(30))
                    .withDescription(
                            "Timeout of a socket read with no progress, and of an upload whose body the "
                                    + "server takes no byte of (its request is then aborted and retried; at "
                                    + "least 1 s).");

    public static final ConfigOption<Duration> REQUEST_TIMEOUT =
            ConfigOptions.key("s3tiered.request.timeout")
                    .durationType()
                    .defaultValue(Duration.ofMinutes(5))
                    .withDescription(
                            "Upper bound of one attempt of one S3 request (at least 1 s; a number "
                                    + "without a unit is milliseconds). An upload's body (a PUT or a part) "
                                    + "is bounded by its progress instead (s3tiered.socket.timeout), so a "
                                    + "slow one that moves completes; this bounds the wait for its first "
                                    + "byte to be taken and for the answer after its last.");

    // ---------------------------------------------------------------- retries

    public static final ConfigOption<Integer> RETRY_MAX_ATTEMPTS =
            ConfigOptions.key("s3tiered.retry.max-attempts")
                    .intType()
                    .defaultValue(5)
                    .withDescription(
                            "Attempts of a request failing with a transient error (5xx, timeout, broken "
                                    + "connection), first attempt included. Other 4xx are never retried.");

    public static final ConfigOption<Duration> RETRY_BASE_DELAY =
            ConfigOptions.key("s3tiered.retry.base-delay")
                    .durationType()
                    .defaultValue(Duration.ofMillis(100))
                    .withDescription("Base of the exponential backoff (full jitter) between attempts.");

    public static final ConfigOption<Duration> RETRY_MAX_DELAY =
            ConfigOptions.key("s3tiered.retry.max-delay")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(5))
                    .withDescription("Cap of the backoff between attempts.");

    public static final ConfigOption<Integer> THROTTLE_MAX_RETRIES =
            ConfigOptions.key("s3tiered.retry.throttle.max-retries")
                    .intType()
                    .defaultValue(20)
                    .withDescription(
                            "Retries of a request throttled by S3 (503 SlowDown, 429). Counted apart "
                                    + "from other errors, so throttling cannot use up their attempts.");

    public static final ConfigOption<Duration> THROTTLE_BASE_DELAY =
            ConfigOptions.key("s3tiered.retry.throttle.base-delay")
                    .durationType()
                    .defaultValue(Duration.ofMillis(500))
                    .withDescription("Base of the backoff after a throttling response.");

    public static final ConfigOption<Duration> THROTTLE_MAX_DELAY =
            ConfigOptions.key("s3tiered.retry.throttle.max-delay")
                    .durationType()
                    .defaultValue(Duration.ofSeconds(20))
                    .withDescription("Cap of the backoff after a throttling response.");

    // ---------------------------------------------------------------- transfers

    public static final ConfigOption<MemorySize> MULTIPART_THRESHOLD =
            ConfigOptions.key("s3tiered.upload.multipart-threshold")
                    .memoryType()
                    .defaultValue(MemorySize.parse("256mb"))
                    .withDescription(
                            "Files up to this size are uploaded with one PUT, larger ones as a "
                                    + "multipart upload with parts in parallel. Checkpoint files are "
                                    + "mostly RocksDB SST files (64 MiB by default): one request each "
                                    + "instead of at least three keeps request rates (throttling) down.");

    public static final ConfigOption<MemorySize> PART_SIZE =
            ConfigOptions.key("s3tiered.upload.part-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("32mb"))
                    .withDescription("Size of a multipart upload part (at least 5 MiB, S3's minimum; at most 5 GiB). "
                            + "A file that would need more than S3's 10,000 parts gets larger ones.");

    public static final ConfigOption<Integer> TRANSFER_THREADS =
            ConfigOptions.key("s3tiered.transfer.threads")
                    .intType()
                    .defaultValue(16)
                    .withDescription(
                            "Threads shared by all parallel transfers of a TaskManager: upload parts, "
                                    + "ranged GETs and batch downloads.");

    public static final ConfigOption<MemorySize> DOWNLOAD_PART_SIZE =
            ConfigOptions.key("s3tiered.download.part-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("8mb"))
                    .withDescription(
                            "Range size of the parallel ranged GETs used when a whole file is downloaded.");

    public static final ConfigOption<MemorySize> READ_WHOLE_FIRST_MAX_SIZE =
            ConfigOptions.key("s3tiered.read.whole-first-max-size")
                    .memoryType()
                    .defaultValue(MemorySize.parse("64mb"))
                    .withDescription(
                            "A file up to this size that is opened for reading (not from the local tier) is "
                                    + "downloaded whole into a local file first, checked against the CRC32C "
                                    + "recorded at upload (downloaded again when its bytes arrived altered), and "
                                    + "served from there: every byte a reader gets is checked, wherever it seeks. "
                                    + "Larger files, and files without a recorded CRC32C, are streamed: only a read "
                                    + "through the whole file is checked, at its end. 0: always stream.");

    public static final ConfigOption<Integer> READ_REOPEN_ATTEMPTS =
            ConfigOptions.key("s3tiered.read.reopen-attempts")
                    .intType()
                    .defaultValue(3)
                    .withDescription(
                            "How often a streaming read reopens the object at its current position "
                                    + "after a broken connection, before it fails; also how often a restore "
                                    + "downloads a file again whose bytes arrived other than its recorded CRC32C "
                                    + "says.");

    // ---------------------------------------------------------------- local tier

    public static final ConfigOption<Boolean> LOCAL_ENABLED =
            ConfigOptions.key("s3tiered.local.enabled")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "Keep a copy of written and read files in the local tier. Off: files are "
                                    + "staged in the local directory only until uploaded.");

    public static final ConfigOption<String> LOCAL_DIR =
            ConfigOptions.key("s3tiered.local.dir")
                    .stringType()
                    .noDefaultValue()
                    .withDescription(
                            "Directory of the local tier. Put it on a volume that outlives the "
                                    + "TaskManager process to restore from it after a restart, and on the "
                                    + "volume of RocksDB's working directory (io.tmp.dirs or "
                                    + "state.backend.rocksdb.localdir): a restore then hard-links each copy "
                                    + "instead of copying it. Files being written are staged here in full and "
                                    + "count towards s3tiered.local.max-bytes. Unset: "
                                    + "<java.io.tmpdir>/s3tiered-local-tier (on Kubernetes, the container's "
                                    + "ephemeral storage, which counts against the pod's limit).");

    public static final ConfigOption<MemorySize> LOCAL_MAX_BYTES =
            ConfigOptions.key("s3tiered.local.max-bytes")
                    .memoryType()
                    .defaultValue(MemorySize.parse("10gb"))
                    .withDescription(
                            "Byte budget of the local tier; least recently used copies are evicted "
                                    + "beyond it. Files larger than the budget are not kept.");

    public static final ConfigOption<Boolean> LOCAL_CACHE_ON_READ =
            ConfigOptions.key("s3tiered.local.cache-on-read")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription(
                            "A file read from S3 is kept in the local tier and served from there next "
                                    + "time: a file up to s3tiered.read.whole-first-max-size once downloaded and "
                                    + "checked; a larger one when a read went through it sequentially and its "
                                    + "CRC32C matched the one recorded at upload (a read that seeks or stops early "
                                    + "keeps nothing); a restore's batch download keeps each file it downloads "
                                    + "(parallel ranged GETs, CRC32C verified).");

    // ---------------------------------------------------------------- entropy injection

    public static final ConfigOption<String> ENTROPY_KEY =
            ConfigOptions.key("s3tiered.entropy.key")
                    .stringType()
                    .noDefaultValue()
                    .withFallbackKeys("s3.entropy.key")
                    .withDescription(
                            "Marker in checkpoint paths that Flink replaces by random characters in "
                                    + "data file paths (and removes from metadata paths), spreading keys "
                                    + "over S3 partitions.");

    public static final ConfigOption<Integer> ENTROPY_LENGTH =
            ConfigOptions.key("s3tiered.entropy.length")
                    .intType()
                    .defaultValue(4)
                    .withFallbackKeys("s3.entropy.length")
                    .withDescription("Number of random characters that replace the entropy key.");

    private S3TieredOptions() {}
}
