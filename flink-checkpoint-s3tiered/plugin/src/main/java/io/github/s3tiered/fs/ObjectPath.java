package io.github.s3tiered.fs;

import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.net.URI;

/** Bucket and key of an {@code s3tiered://bucket/key} path. The bucket root has the key "". */
record ObjectPath(String bucket, String key) {

    static ObjectPath of(Path path, URI fsUri) throws IOException {
        URI uri = path.toUri();
        String bucket = uri.getAuthority() != null ? uri.getAuthority() : fsUri.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw new IOException("A s3tiered:// path needs a bucket, as in s3tiered://<bucket>/<path>: " + path);
        }
        if (uri.getScheme() != null && !S3TieredFileSystemFactory.SCHEME.equals(uri.getScheme())) {
            throw new IOException("Not a s3tiered:// path: " + path);
        }
        String p = uri.getPath() == null ? "" : uri.getPath();
        while (p.startsWith("/")) {
            p = p.substring(1);
        }
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return new ObjectPath(bucket, p);
    }

    boolean isRoot() {
        return key.isEmpty();
    }

    /** The directory holding this object: the key up to its last '/', or the bucket root. */
    ObjectPath parent() {
        int slash = key.lastIndexOf('/');
        return new ObjectPath(bucket, slash < 0 ? "" : key.substring(0, slash));
    }

    /** The prefix of everything "inside" this path. */
    String childPrefix() {
        return key.isEmpty() ? "" : key + "/";
    }

    Path toPath() {
        return new Path(S3TieredFileSystemFactory.SCHEME + "://" + bucket + "/" + key);
    }

    @Override
    public String toString() {
        return S3TieredFileSystemFactory.SCHEME + "://" + bucket + "/" + key;
    }
}
