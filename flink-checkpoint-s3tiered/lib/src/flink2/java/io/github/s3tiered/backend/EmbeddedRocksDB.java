package io.github.s3tiered.backend;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.apache.flink.util.TernaryBoolean;

import java.io.IOException;
import java.util.Optional;

/**
 * Flink's embedded RocksDB state backend as Flink 2.x packages it ({@code
 * org.apache.flink.state.rocksdb}); the 1.20 line has its own class of this name for {@code
 * org.apache.flink.contrib.streaming.state}. The rest of the project sees a {@link StateBackend}.
 */
final class EmbeddedRocksDB {

    /** Restores download through the file system's batch copy ({@code PathsCopyingFileSystem}). */
    static final boolean RESTORES_THROUGH_BATCH_COPY = true;

    private EmbeddedRocksDB() {}

    /** RocksDB with incremental checkpoints, a setting {@code configure()} keeps. */
    static StateBackend incremental() {
        return new EmbeddedRocksDBStateBackend(TernaryBoolean.TRUE);
    }

    static boolean isIncremental(StateBackend rocksDb) {
        return ((EmbeddedRocksDBStateBackend) rocksDb).isIncrementalCheckpointsEnabled();
    }

    /** Makes an options factory of {@code factoryInterface} around the current one ({@code user}, or null). */
    interface OptionsFactoryWrapper {
        Optional<Object> wrap(Class<?> factoryInterface, Object user) throws IOException;
    }

    /**
     * A copy of {@code rocksDb} with the options factory {@code wrapper} makes of its current one;
     * {@code rocksDb} itself when the wrapper makes none.
     */
    static StateBackend withOptionsFactory(StateBackend rocksDb, ClassLoader classLoader, OptionsFactoryWrapper wrapper)
            throws IOException {
        EmbeddedRocksDBStateBackend original = (EmbeddedRocksDBStateBackend) rocksDb;
        Optional<Object> factory = wrapper.wrap(RocksDBOptionsFactory.class, original.getRocksDBOptions());
        if (factory.isEmpty()) {
            return rocksDb;
        }
        // configure() with nothing new makes a copy with every setting of the original
        EmbeddedRocksDBStateBackend copy = original.configure(new Configuration(), classLoader);
        copy.setRocksDBOptions((RocksDBOptionsFactory) factory.get());
        return copy;
    }
}
