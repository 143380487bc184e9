package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.RocksDB;

/**
 * Loads RocksDB's native library once per process. {@code RocksDB.loadLibrary()} shares its state
 * with Flink's own loader (both go through {@code NativeLibraryLoader}), so a TaskManager in the
 * same JVM (a MiniCluster) and the inspector never load two copies.
 */
final class RocksDbLibrary {

    private static volatile Boolean loaded;

    private RocksDbLibrary() {}

    static synchronized boolean load() {
        if (loaded == null) {
            try {
                RocksDB.loadLibrary();
                loaded = true;
            } catch (Throwable t) {
                loaded = false;
            }
        }
        return loaded;
    }
}
