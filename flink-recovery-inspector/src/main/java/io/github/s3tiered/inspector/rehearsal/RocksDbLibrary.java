package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.RocksDB;

/**
 * Loads RocksDB's native library once per process. {@code RocksDB.loadLibrary()} shares its state
 * with Flink's own loader (both go through {@code NativeLibraryLoader}), so a TaskManager in the
 * same JVM (a MiniCluster) and the inspector never load two copies.
 */
public final class RocksDbLibrary {

    private static volatile Boolean loaded;
    private static volatile boolean unavailableForTests;

    private RocksDbLibrary() {}

    static synchronized boolean load() {
        if (unavailableForTests) {
            return false;
        }
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

    /**
     * For tests of a host where the library does not load (a {@code noexec} temporary directory):
     * until the returned handle is closed, {@link #load()} answers false in this process.
     */
    public static AutoCloseable unavailableForTests() {
        unavailableForTests = true;
        return () -> unavailableForTests = false;
    }
}
