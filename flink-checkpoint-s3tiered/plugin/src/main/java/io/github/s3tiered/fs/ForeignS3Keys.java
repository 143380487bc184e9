package io.github.s3tiered.fs;

import io.github.s3tiered.s3.ServerSideEncryptionMode;

import org.apache.flink.configuration.Configuration;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The keys of Flink's own S3 file systems (flink-s3-fs-native, -presto and -hadoop) that an
 * operator moving to {@code s3tiered://} keeps in the config file, beyond the plain fallback keys
 * of {@link S3TieredOptions}. Encryption asked for there must not be dropped in silence: objects
 * would be written unencrypted to a bucket that does not enforce it. Identities asked for there
 * (an assumed role, a credentials provider) are not taken up: they are named in a WARN.
 */
final class ForeignS3Keys {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ForeignS3Keys.class);

    /** Keys naming an encryption algorithm, by file system: native and presto, then hadoop's. */
    private static final List<String> ENCRYPTION_TYPE_KEYS = List.of("s3.sse.type", "s3.server-side-encryption-algorithm",
            "fs.s3a.server-side-encryption-algorithm", "s3.encryption.algorithm", "fs.s3a.encryption.algorithm");
    private static final String PRESTO_SSE_ENABLED = "s3.sse.enabled";
    private static final List<String> KMS_KEY_KEYS = List.of("s3.sse.kms.key-id", "s3.sse.kms-key-id",
            "s3.server-side-encryption.key", "fs.s3a.server-side-encryption.key", "s3.encryption.key",
            "fs.s3a.encryption.key");
    /** Identities Flink's S3 file systems take up and this one does not. */
    private static final List<String> IDENTITY_KEYS = List.of("s3.assume-role.arn", "fs.s3.aws.credentials.provider",
            "s3.aws.credentials.provider", "fs.s3a.aws.credentials.provider", "s3.credentials-provider",
            "s3.assumed.role.arn", "fs.s3a.assumed.role.arn", "s3.iam-role");

    private ForeignS3Keys() {}

    /** The encryption the other file systems' keys ask for, or null when they ask for none. */
    record Encryption(ServerSideEncryptionMode mode, String kmsKeyId, String fromKey) {}

    /**
     * What the other file systems' keys ask for when {@code s3tiered.sse.type} is not set: null
     * when nothing, else the mode (and key) they name. A value this file system cannot apply
     * (SSE-C, DSSE-KMS) or keys that disagree are named in a WARN and nothing is applied.
     */
    static Encryption encryption(Configuration conf) {
        Encryption found = null;
        for (String key : ENCRYPTION_TYPE_KEYS) {
            String value = trimToNull(conf.getString(key, null));
            if (value == null) {
                continue;
            }
            ServerSideEncryptionMode mode = modeOf(value);
            if (mode == null) {
                // such a key often configures another file system of the cluster (a sink's s3a://): a
                // WARN, not a refusal, which would fail every checkpoint after an upgrade
                LOG.warn("{}: '{}' is an encryption s3tiered:// cannot apply, and it is not applied to its objects; set {}"
                        + " (none, sse-s3 or sse-kms) to say what they get", key, value, S3TieredOptions.SSE_TYPE.key());
                return null;
            }
            if (found != null && found.mode() != mode) {
                LOG.warn("{} and {} ask for different encryptions, and neither is applied to the objects of s3tiered://;"
                        + " set {} to say which", found.fromKey(), key, S3TieredOptions.SSE_TYPE.key());
                return null;
            }
            if (found == null) {
                found = new Encryption(mode, null, key);
            }
        }
        String enabled = trimToNull(conf.getString(PRESTO_SSE_ENABLED, null));
        if (enabled != null && enabled.equalsIgnoreCase("false") && found != null && "s3.sse.type".equals(found.fromKey())) {
            found = null; // presto's: a type without enabled is not applied
        } else if (enabled != null && enabled.equalsIgnoreCase("true") && found == null) {
            found = new Encryption(ServerSideEncryptionMode.SSE_S3, null, PRESTO_SSE_ENABLED); // presto's default type
        }
        if (found == null || found.mode() == ServerSideEncryptionMode.NONE) {
            return found;
        }
        String kmsKey = null;
        for (String key : KMS_KEY_KEYS) {
            String value = trimToNull(conf.getString(key, null));
            if (value != null) {
                kmsKey = value;
                break;
            }
        }
        return new Encryption(found.mode(), found.mode() == ServerSideEncryptionMode.SSE_KMS ? kmsKey : null, found.fromKey());
    }

    private static ServerSideEncryptionMode modeOf(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "none", "" -> ServerSideEncryptionMode.NONE;
            case "sse-s3", "aes256", "s3" -> ServerSideEncryptionMode.SSE_S3;
            case "sse-kms", "aws:kms", "kms" -> ServerSideEncryptionMode.SSE_KMS;
            default -> null;
        };
    }

    /** One WARN line per identity key set that this file system does not take up. */
    static List<String> identitiesNotTakenUp(Configuration conf) {
        List<String> messages = new ArrayList<>();
        for (String key : IDENTITY_KEYS) {
            if (conf.containsKey(key)) {
                messages.add(key + " is read by Flink's own S3 file systems, not by s3tiered://, whose requests go with "
                        + S3TieredOptions.ACCESS_KEY.key() + "/" + S3TieredOptions.SECRET_KEY.key()
                        + " or else the AWS SDK's default credentials chain (environment, profile, web identity, container"
                        + " or instance role)");
            }
        }
        return messages;
    }

    /**
     * The WARN for Flink's connection limiter on this scheme ({@code fs.s3tiered.limit.*}), or null
     * when it is not set. Flink then wraps the file system in one that hides it from the storage
     * and the state backend: their work through it (uploads ahead of checkpoints and the reuse of
     * them, discards that upload nothing, restores by hard links and parallel ranged reads) is off.
     */
    static String connectionLimiter(java.util.Set<String> keys) {
        List<String> limits = keys.stream().filter(k -> k.startsWith("fs." + S3TieredFileSystemFactory.SCHEME + ".limit."))
                .sorted().toList();
        if (limits.isEmpty()) {
            return null;
        }
        return String.join(", ", limits) + ": Flink's connection limiter wraps the s3tiered:// file system in one that"
                + " hides it from the s3tiered storage and state backend, which then upload nothing ahead of checkpoints,"
                + " reuse no upload and restore without the local tier's hard links and parallel ranged reads; remove"
                + " these keys and bound connections with " + S3TieredOptions.MAX_CONNECTIONS.key() + " instead";
    }

    private static String trimToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
