package io.github.s3tiered.bridge;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** How the file system's option values cross the bridge (see {@link BridgeContract#CLUSTER_OPTIONS}). */
public final class OptionValues {

    private OptionValues() {}

    /** The value as shown: a secret's as {@link BridgeContract#HIDDEN} and a hash, the same for the same value. */
    public static String shown(String key, String value) {
        if (!isSecret(key)) {
            return value;
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
            return BridgeContract.HIDDEN + HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Keys whose values are never logged nor sent as they are. */
    public static boolean isSecret(String key) {
        return key.contains("secret") || key.contains("password");
    }
}
