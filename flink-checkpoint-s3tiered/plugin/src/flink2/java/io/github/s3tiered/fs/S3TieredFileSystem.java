package io.github.s3tiered.fs;

import org.apache.flink.core.fs.ICloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code s3tiered://} file system as Flink 2.x sees it: with the batch copy RocksDB's restore
 * uses ({@link PathsCopyingFileSystem}), which hard-links local-tier copies and downloads the rest
 * in parallel. Flink 1.20 has no such interface; its line's class of this name streams instead.
 */
public final class S3TieredFileSystem extends AbstractS3TieredFileSystem implements PathsCopyingFileSystem {

    S3TieredFileSystem(URI uri, S3TieredRuntime runtime) {
        super(uri, runtime);
    }

    /** Copies s3tiered:// files to the local file system; anything else is left to Flink. */
    @Override
    public boolean canCopyPaths(Path source, Path destination) {
        return copiesPaths(source, destination);
    }

    /** Closing {@code closeableRegistry} cancels the batch (see {@link BatchDownload}). */
    @Override
    public void copyFiles(List<CopyRequest> requests, ICloseableRegistry closeableRegistry) throws IOException {
        List<BatchDownload.FileCopy> copies = new ArrayList<>(requests.size());
        for (CopyRequest r : requests) {
            copies.add(new BatchDownload.FileCopy(r.getSource(), r.getDestination()));
        }
        copyFiles(copies, onCancel -> {
            closeableRegistry.registerCloseable(onCancel);
            return () -> closeableRegistry.unregisterCloseable(onCancel);
        });
    }
}
