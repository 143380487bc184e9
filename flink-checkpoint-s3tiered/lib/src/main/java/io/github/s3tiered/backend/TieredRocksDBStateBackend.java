package io.github.s3tiered.backend;

import io.github.s3tiered.preupload.PreUploadTarget;

import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.state.AsyncKeyedStateBackend;
import org.apache.flink.runtime.state.CheckpointableKeyedStateBackend;
import org.apache.flink.runtime.state.ConfigurableStateBackend;
import org.apache.flink.runtime.state.OperatorStateBackend;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.util.TernaryBoolean;

/**
 * Flink's embedded RocksDB state backend with incremental checkpoints always on. Its restore
 * downloads through the file system's batch copy ({@code PathsCopyingFileSystem}), which for
 * {@code s3tiered://} hard-links local-tier copies and downloads the rest in parallel. Every
 * RocksDB option stays configurable as usual ({@code state.backend.rocksdb.*}). It also publishes
 * the file system's transfer figures in each keyed operator's metric group {@code s3tiered}.
 */
public class TieredRocksDBStateBackend implements StateBackend, ConfigurableStateBackend {

    private static final long serialVersionUID = 1L;

    private final EmbeddedRocksDBStateBackend rocksDb;

    public TieredRocksDBStateBackend() {
        this(new EmbeddedRocksDBStateBackend(TernaryBoolean.TRUE));
    }

    private TieredRocksDBStateBackend(EmbeddedRocksDBStateBackend rocksDb) {
        this.rocksDb = rocksDb;
    }

    /** The RocksDB backend underneath, for RocksDB options set from code. */
    public EmbeddedRocksDBStateBackend rocksDb() {
        return rocksDb;
    }

    @Override
    public TieredRocksDBStateBackend configure(ReadableConfig config, ClassLoader classLoader) {
        // The backend was built with incremental = TRUE, which configure() keeps.
        return new TieredRocksDBStateBackend(rocksDb.configure(config, classLoader));
    }

    @Override
    public <K> CheckpointableKeyedStateBackend<K> createKeyedStateBackend(KeyedStateBackendParameters<K> parameters)
            throws Exception {
        java.util.function.Supplier<java.util.Map<String, Long>> transfer =
                TransferMetrics.register(parameters.getMetricGroup(), parameters.getEnv());
        TimedRestoreParameters<K> timed = new TimedRestoreParameters<>(parameters);
        EmbeddedRocksDBStateBackend instance = rocksDb;
        if (parameters.getEnv().getCheckpointStorageAccess() instanceof PreUploadTarget.Source source
                && source.preUploadTarget().isPresent()) {
            instance = source.preUploadTarget().get().withListener(rocksDb,
                    parameters.getEnv().getUserCodeClassLoader().asClassLoader());
        }
        CheckpointableKeyedStateBackend<K> backend = instance.createKeyedStateBackend(timed);
        var task = parameters.getEnv().getTaskInfo();
        timed.capture().report(parameters.getOperatorIdentifier(), task.getIndexOfThisSubtask(),
                task.getAttemptNumber(), transfer == null ? java.util.Map.of() : transfer.get());
        return backend;
    }

    @Override
    public <K> AsyncKeyedStateBackend<K> createAsyncKeyedStateBackend(KeyedStateBackendParameters<K> parameters)
            throws Exception {
        return rocksDb.createAsyncKeyedStateBackend(parameters);
    }

    @Override
    public boolean supportsAsyncKeyedStateBackend() {
        return rocksDb.supportsAsyncKeyedStateBackend();
    }

    @Override
    public OperatorStateBackend createOperatorStateBackend(OperatorStateBackendParameters parameters) throws Exception {
        return rocksDb.createOperatorStateBackend(parameters);
    }

    @Override
    public boolean useManagedMemory() {
        return rocksDb.useManagedMemory();
    }

    @Override
    public boolean supportsNoClaimRestoreMode() {
        return rocksDb.supportsNoClaimRestoreMode();
    }

    @Override
    public boolean supportsSavepointFormat(SavepointFormatType formatType) {
        return rocksDb.supportsSavepointFormat(formatType);
    }

    public boolean isIncrementalCheckpointsEnabled() {
        return rocksDb.isIncrementalCheckpointsEnabled();
    }

    @Override
    public String toString() {
        return "TieredRocksDBStateBackend{incremental=" + rocksDb.isIncrementalCheckpointsEnabled() + "}";
    }
}
