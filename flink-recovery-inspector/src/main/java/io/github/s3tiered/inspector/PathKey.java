package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.net.URI;

/**
 * A comparable form of a path: authority (the bucket) and path, without scheme or trailing
 * slash. Paths from metadata, from listings and from users spell the same file differently
 * ({@code file:/x}, {@code file:///x}, {@code /x}).
 */
public final class PathKey {

    private PathKey() {}

    public static String of(Path path) {
        URI uri = path.toUri();
        String authority = uri.getAuthority() == null ? "" : uri.getAuthority();
        String p = uri.getPath() == null ? "" : uri.getPath();
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return authority + p;
    }

    /** True when {@code key} names {@code dirKey} or something inside it. */
    public static boolean isInside(String key, String dirKey) {
        return key.equals(dirKey) || key.startsWith(dirKey.endsWith("/") ? dirKey : dirKey + "/");
    }
}
