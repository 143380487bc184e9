package io.github.s3tiered.inspector.storage;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.util.WrappingProxy;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The inspector's side of the calls into the {@code s3tiered://} file system. That file system
 * lives in Flink's plugin class loader and cannot be linked against, so its public methods are
 * found reflectively on the file system behind Flink's wrappers; they take and return JDK and
 * Flink types only:
 *
 * <ul>
 *   <li>{@code OptionalLong recordedCrc32c(Path)}: the CRC32C recorded at upload (one HEAD);
 *   <li>{@code long[] readDurable(Path, OutputStream)}: the object's bytes as S3 holds them, never
 *       from the local tier, with {length, CRC32C of the bytes, recorded CRC32C or -1, 1 if a
 *       stale local copy was dropped}.
 * </ul>
 *
 * Failures cross as types: {@link java.io.FileNotFoundException} for a missing object, any other
 * {@link IOException} for a store that could not be read. Any other file system has none of these
 * methods: it records no checksums, and every read of it is a read of what it durably holds.
 */
final class TieredFileSystemBridge {

    static final String RECORDED_CRC32C = "recordedCrc32c";
    static final String READ_DURABLE = "readDurable";

    private static final int LENGTH = 0;
    private static final int CRC32C = 1;
    private static final int RECORDED = 2;
    private static final int STALE_COPY_DROPPED = 3;

    private record Methods(Method recordedCrc32c, Method readDurable) {}

    private static final Map<Class<?>, Optional<Methods>> METHODS = new ConcurrentHashMap<>();

    private TieredFileSystemBridge() {}

    /** The bytes of one durable read, as the tiered file system reports them. */
    record DurableRead(long length, int crc32c, OptionalLong recordedCrc32c, boolean staleLocalCopyDropped) {}

    /** The tiered file system behind {@code path}'s file system, or empty for any other. */
    static Optional<Object> of(Path path) throws IOException {
        Object fs = unwrap(path.getFileSystem());
        return methods(fs).isPresent() ? Optional.of(fs) : Optional.empty();
    }

    static OptionalLong recordedCrc32c(Object fs, Path file) throws IOException {
        return (OptionalLong) invoke(fs, methods(fs).orElseThrow().recordedCrc32c(), file);
    }

    static DurableRead readDurable(Object fs, Path file, OutputStream sink) throws IOException {
        long[] r = (long[]) invoke(fs, methods(fs).orElseThrow().readDurable(), file, sink);
        return new DurableRead(r[LENGTH], (int) r[CRC32C], r[RECORDED] < 0 ? OptionalLong.empty() : OptionalLong.of(r[RECORDED]),
                r[STALE_COPY_DROPPED] != 0);
    }

    private static Object invoke(Object fs, Method method, Object... args) throws IOException {
        // the plugin's own class loader, as Flink's plugin wrapper would set it
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(fs.getClass().getClassLoader());
        try {
            return method.invoke(fs, args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            throw new IOException(method.getName() + " of " + args[0] + " failed: " + cause, cause);
        } catch (IllegalAccessException e) {
            throw new IOException("Could not call " + method.getName() + " on " + fs.getClass().getName(), e);
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    private static Optional<Methods> methods(Object fs) {
        return METHODS.computeIfAbsent(fs.getClass(), c -> {
            try {
                Method crc = c.getMethod(RECORDED_CRC32C, Path.class);
                Method read = c.getMethod(READ_DURABLE, Path.class, OutputStream.class);
                if (crc.getReturnType() != OptionalLong.class || read.getReturnType() != long[].class) {
                    return Optional.empty();
                }
                return Optional.of(new Methods(crc, read));
            } catch (NoSuchMethodException e) {
                return Optional.empty();
            }
        });
    }

    static Object unwrap(FileSystem fileSystem) {
        Object fs = fileSystem;
        while (fs instanceof WrappingProxy<?> p) {
            fs = p.getWrappedDelegate();
        }
        return fs;
    }
}
