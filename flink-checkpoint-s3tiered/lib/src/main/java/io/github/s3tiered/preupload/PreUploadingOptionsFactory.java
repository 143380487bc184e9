package io.github.s3tiered.preupload;

import org.apache.flink.state.rocksdb.RocksDBNativeMetricOptions;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;

import org.rocksdb.AbstractEventListener;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.ReadOptions;
import org.rocksdb.WriteOptions;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The job's RocksDB options factory (or none) plus the pre-upload listener. Made on the
 * TaskManager for one keyed backend, never serialized.
 */
final class PreUploadingOptionsFactory implements RocksDBOptionsFactory {

    private static final long serialVersionUID = 1L;

    private final RocksDBOptionsFactory user;
    /** Makes the listener: a native object, so only once RocksDB's library is loaded (when options are made). */
    private final transient java.util.function.Supplier<SstPreUploadListener> listeners;

    PreUploadingOptionsFactory(RocksDBOptionsFactory user, java.util.function.Supplier<SstPreUploadListener> listeners) {
        this.user = user;
        this.listeners = listeners;
    }

    @Override
    public DBOptions createDBOptions(DBOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        DBOptions options = user == null ? currentOptions : user.createDBOptions(currentOptions, handlesToClose);
        SstPreUploadListener listener = listeners.get();
        List<AbstractEventListener> listeners = new ArrayList<>(options.listeners());
        listeners.add(listener);
        handlesToClose.add(listener.closeHook());
        handlesToClose.add(listener);
        return options.setListeners(listeners);
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(ColumnFamilyOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        return user == null ? currentOptions : user.createColumnOptions(currentOptions, handlesToClose);
    }

    @Override
    public RocksDBNativeMetricOptions createNativeMetricsOptions(RocksDBNativeMetricOptions nativeMetricOptions) {
        return user == null ? nativeMetricOptions : user.createNativeMetricsOptions(nativeMetricOptions);
    }

    @Override
    public WriteOptions createWriteOptions(WriteOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        return user == null ? currentOptions : user.createWriteOptions(currentOptions, handlesToClose);
    }

    @Override
    public ReadOptions createReadOptions(ReadOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        return user == null ? currentOptions : user.createReadOptions(currentOptions, handlesToClose);
    }
}
