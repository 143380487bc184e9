package io.github.s3tiered.backend;

import io.github.s3tiered.preupload.PreUploadTarget;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.state.CheckpointableKeyedStateBackend;
import org.apache.flink.runtime.state.ConfigurableStateBackend;
import org.apache.flink.runtime.state.OperatorStateBackend;
import org.apache.flink.runtime.state.StateBackend;

import java.util.Optional;

/**
 * Flink's embedded RocksDB state backend with incremental checkpoints always on. On Flink 2.x its
 * restore downloads through the file system's batch copy ({@code PathsCopyingFileSystem}), which
 * for {@code s3tiered://} hard-links local-tier copies and downloads the rest in parallel; on 1.20
 * it streams each file, which the local tier serves from disk. Every
 * RocksDB option stays configurable as usual ({@code state.backend.rocksdb.*}). It also publishes
 * the file system's transfer figures in each keyed operator's metric group {@code s3tiered}.
 */
public class TieredRocksDBStateBackend implements StateBackend, ConfigurableStateBackend {

    private static final long serialVersionUID = 1L;

    /** Flink's key, the same in 1.20 and 2.x. */
    /** Flink's own option: it reads the deprecated {@code state.backend.changelog.enabled} too, as Flink does. */
    private static final ConfigOption<Boolean> CHANGELOG = org.apache.flink.configuration.StateChangelogOptions.ENABLE_STATE_CHANGE_LOG;

    /** Flink's embedded RocksDB backend of this Flink line ({@link EmbeddedRocksDB}). */
    private final StateBackend rocksDb;
    /**
     * What {@link #configure} was given: the copy with pre-uploads is configured with it again, as
     * RocksDB's backend reads some settings (native metrics, latency and size tracking) only there.
     */
    private final Configuration config;

    public TieredRocksDBStateBackend() {
        this(EmbeddedRocksDB.incremental(), new Configuration());
    }

    private TieredRocksDBStateBackend(StateBackend rocksDb, Configuration config) {
        this.rocksDb = rocksDb;
        this.config = config;
    }

    /** Warned once per process: configure() runs for every job. */
    private static final java.util.concurrent.atomic.AtomicBoolean FULL_WARNED = new java.util.concurrent.atomic.AtomicBoolean();

    @Override
    public TieredRocksDBStateBackend configure(ReadableConfig config, ClassLoader classLoader) {
        // The backend was built with incremental = TRUE, which configure() keeps.
        java.util.Map<String, String> all = config.toMap();
        for (String key : java.util.List.of("execution.checkpointing.incremental", "state.backend.incremental")) {
            if ("false".equalsIgnoreCase(String.valueOf(all.get(key)).trim()) && FULL_WARNED.compareAndSet(false, true)) {
                org.slf4j.LoggerFactory.getLogger(TieredRocksDBStateBackend.class).warn("{}: false is ignored: the tiered"
                        + " state backend always checkpoints incrementally (the uploads ahead of checkpoints and the local"
                        + " tier's restores rely on it); Flink's own rocksdb backend writes full checkpoints", key);
            }
        }
        Configuration given = config instanceof Configuration c ? new Configuration(c) : Configuration.fromMap(config.toMap());
        return new TieredRocksDBStateBackend(((ConfigurableStateBackend) rocksDb).configure(config, classLoader), given);
    }

    @Override
    public <K> CheckpointableKeyedStateBackend<K> createKeyedStateBackend(KeyedStateBackendParameters<K> parameters)
            throws Exception {
        java.util.function.Supplier<java.util.Map<String, Long>> transfer =
                TransferMetrics.register(parameters.getMetricGroup(), parameters.getEnv());
        TimedRestoreParameters<K> timed = new TimedRestoreParameters<>(parameters);
        StateBackend instance = rocksDb;
        Optional<PreUploadTarget> target = preUploadTarget(parameters);
        if (target.isPresent()) {
            instance = withPreUploads(target.get(), parameters.getEnv().getUserCodeClassLoader().asClassLoader());
        }
        CheckpointableKeyedStateBackend<K> backend = instance.createKeyedStateBackend(timed);
        var task = parameters.getEnv().getTaskInfo();
        timed.capture().report(parameters.getOperatorIdentifier(), task.getIndexOfThisSubtask(),
                task.getAttemptNumber(), transfer == null ? java.util.Map.of() : transfer.get());
        return backend;
    }

    /**
     * Where this task's SST files are uploaded ahead of checkpoints, if anywhere: not under the
     * changelog backend, whose materializations write their own streams (to {@code taskowned/})
     * and would never refer to the uploads; not where the environment has no checkpoint storage
     * (the State Processor API's, which throws).
     */
    private Optional<PreUploadTarget> preUploadTarget(KeyedStateBackendParameters<?> parameters) {
        if (config.get(CHANGELOG)) {
            return Optional.empty();
        }
        try {
            return parameters.getEnv().getCheckpointStorageAccess() instanceof PreUploadTarget.Source source
                    ? source.preUploadTarget() : Optional.empty();
        } catch (UnsupportedOperationException noCheckpointStorage) {
            return Optional.empty();
        }
    }

    /**
     * A copy of the RocksDB backend whose options factory (around the job's own) reports every SST
     * file to the uploads ahead of the checkpoint; the backend itself when the file system is not
     * {@code s3tiered://}.
     */
    private StateBackend withPreUploads(PreUploadTarget target, ClassLoader classLoader) throws java.io.IOException {
        java.util.Optional<Object> factory = target.optionsFactory(EmbeddedRocksDB.optionsFactoryInterface(),
                EmbeddedRocksDB.optionsFactory(rocksDb));
        if (factory.isEmpty()) {
            return rocksDb;
        }
        // configure() with the original's configuration makes a copy with every setting of the original
        StateBackend copy = ((ConfigurableStateBackend) rocksDb).configure(config, classLoader);
        EmbeddedRocksDB.setOptionsFactory(copy, factory.get());
        return copy;
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
        return EmbeddedRocksDB.isIncremental(rocksDb);
    }

    @Override
    public String toString() {
        return "TieredRocksDBStateBackend{incremental=" + isIncrementalCheckpointsEnabled() + "}";
    }
}
