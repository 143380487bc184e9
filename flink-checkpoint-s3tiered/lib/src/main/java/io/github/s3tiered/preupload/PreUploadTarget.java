package io.github.s3tiered.preupload;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;

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
     * The RocksDB backend for one keyed backend of a task: a copy of {@code rocksDb} whose
     * instances report every SST file they write to the {@link SstPreUploader}; {@code rocksDb}
     * itself when there is no target or the file system is not {@code s3tiered://}.
     */
    public EmbeddedRocksDBStateBackend withListener(EmbeddedRocksDBStateBackend rocksDb, ClassLoader classLoader)
            throws IOException {
        Optional<S3TieredBridge> bridge = S3TieredBridge.of(FileSystem.getUnguardedFileSystem(sharedDirectory.toUri()));
        if (bridge.isEmpty()) {
            return rocksDb;
        }
        SstPreUploader uploader = SstPreUploader.shared(settings);
        S3TieredBridge b = bridge.get();
        java.util.function.Supplier<SstPreUploadListener> listener =
                () -> new SstPreUploadListener(uploader, b, sharedDirectory, settings);
        // configure() with nothing new makes a copy with every setting of the original
        EmbeddedRocksDBStateBackend copy = rocksDb.configure(new Configuration(), classLoader);
        copy.setRocksDBOptions(new PreUploadingOptionsFactory(rocksDb.getRocksDBOptions(), listener));
        return copy;
    }
}
