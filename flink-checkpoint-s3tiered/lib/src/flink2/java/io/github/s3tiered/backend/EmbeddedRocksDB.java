package io.github.s3tiered.backend;

import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.apache.flink.util.TernaryBoolean;

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

    /** The {@code RocksDBOptionsFactory} interface of this line. */
    static Class<?> optionsFactoryInterface() {
        return RocksDBOptionsFactory.class;
    }

    /** The options factory {@code rocksDb} was given (from code or configuration), or null. */
    static Object optionsFactory(StateBackend rocksDb) {
        return ((EmbeddedRocksDBStateBackend) rocksDb).getRocksDBOptions();
    }

    static void setOptionsFactory(StateBackend rocksDb, Object factory) {
        ((EmbeddedRocksDBStateBackend) rocksDb).setRocksDBOptions((RocksDBOptionsFactory) factory);
    }
}
