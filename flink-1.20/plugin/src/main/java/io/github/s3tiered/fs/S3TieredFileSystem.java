package io.github.s3tiered.fs;

import org.apache.flink.core.fs.FileSystemKind;

import java.net.URI;

/**
 * The {@code s3tiered://} file system as Flink 1.20 sees it. 1.20 has no batch copy for restores
 * ({@code PathsCopyingFileSystem}): RocksDB's restore streams every file through {@link #open},
 * which serves a local-tier copy from disk and downloads (and keeps) the others.
 */
public final class S3TieredFileSystem extends AbstractS3TieredFileSystem {

    S3TieredFileSystem(URI uri, S3TieredRuntime runtime) {
        super(uri, runtime);
    }

    @Override
    public FileSystemKind getKind() {
        return FileSystemKind.OBJECT_STORE;
    }
}
