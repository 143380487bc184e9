package io.github.s3tiered.preupload;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.IOException;
import java.util.Optional;

/**
 * Where one task's RocksDB files are uploaded ahead of checkpoints: the job's {@code shared/}
 * directory, as the tiered checkpoint storage names it, with its settings.
 */
public record PreUploadTarget(Path sharedDirectory, PreUploadSettings settings) {

    /** The job's checkpoint storage exposes its target this way; only the tiered storage does. */
    public interface Source {
        Optional<PreUploadTarget> preUploadTarget();
    }

    /**
     * A RocksDB options factory for one keyed backend of a task that reports every SST file its
     * RocksDB instance writes to the {@link SstPreUploader}, around {@code user} (the job's own
     * factory, or null); {@code factoryInterface} is the running Flink line's {@code
     * RocksDBOptionsFactory}. Empty when the file system is not {@code s3tiered://}.
     */
    public Optional<Object> optionsFactory(Class<?> factoryInterface, Object user) throws IOException {
        Optional<S3TieredBridge> bridge = S3TieredBridge.of(FileSystem.getUnguardedFileSystem(sharedDirectory.toUri()));
        if (bridge.isEmpty()) {
            return Optional.empty();
        }
        SstPreUploader uploader = SstPreUploader.shared(settings);
        S3TieredBridge b = bridge.get();
        return Optional.of(PreUploadingOptionsFactory.create(factoryInterface, user,
                () -> new SstPreUploadListener(uploader, b, sharedDirectory, settings)));
    }
}
