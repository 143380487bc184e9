package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.net.URI;
import java.util.Locale;

/**
 * A comparable form of a path: scheme, authority (the bucket) and path, without trailing slash.
 * Paths from metadata, from listings and from users spell the same file differently
 * ({@code file:/x}, {@code file:///x}, {@code /x}); a path without scheme is a local file. The
 * scheme is part of the key: a damaged {@code _metadata} that names {@code fil2:/x} does not name
 * {@code file:/x}.
 */
public final class PathKey {

    private PathKey() {}

    public static String of(Path path) {
        URI uri = path.toUri();
        String scheme = uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
        String authority = uri.getAuthority() == null ? "" : uri.getAuthority();
        String p = uri.getPath() == null ? "" : uri.getPath();
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return scheme + "://" + authority + p;
    }

    /**
     * The path of a key without its scheme and authority: a file named through another scheme or
     * bucket spelling ({@code s3://b/x} for {@code s3tiered://b/x}, {@code hdfs:///x} for {@code
     * hdfs://ns1/x}). For matching that must not miss a reference (what may be deleted), never for
     * proving a file present.
     */
    public static String pathPart(String key) {
        int authorityStart = key.indexOf("://");
        if (authorityStart < 0) {
            return key;
        }
        int pathStart = key.indexOf('/', authorityStart + 3);
        return pathStart < 0 ? "" : key.substring(pathStart);
    }

    /** True when {@code key} names {@code dirKey} or something inside it. */
    public static boolean isInside(String key, String dirKey) {
        return key.equals(dirKey) || key.startsWith(dirKey.endsWith("/") ? dirKey : dirKey + "/");
    }
}
