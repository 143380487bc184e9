package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.util.WrappingProxy;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The checksums the tiered file system ({@code s3tiered://}) records per object. That file system
 * lives in Flink's plugin class loader, so it cannot be linked against: its public method
 * {@code OptionalLong recordedCrc32c(org.apache.flink.core.fs.Path)} (JDK and Flink types only) is
 * found reflectively on the file system behind Flink's wrappers. Any other file system records
 * nothing.
 */
public final class FileSystemChecksums implements ChecksumSource {

    static final String METHOD = "recordedCrc32c";

    private final Map<Class<?>, Optional<Method>> methods = new ConcurrentHashMap<>();

    @Override
    public boolean recordsChecksums(Path file) throws IOException {
        return method(unwrap(file.getFileSystem())).isPresent();
    }

    @Override
    public OptionalLong recordedCrc32c(Path file) throws IOException {
        Object fs = unwrap(file.getFileSystem());
        Optional<Method> method = method(fs);
        if (method.isEmpty()) {
            return OptionalLong.empty();
        }
        // the plugin's own class loader, as Flink's plugin wrapper would set it
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(fs.getClass().getClassLoader());
        try {
            return (OptionalLong) method.get().invoke(fs, file);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            throw new IOException("Could not read the recorded checksum of " + file + ": " + cause, cause);
        } catch (IllegalAccessException e) {
            throw new IOException("Could not call " + METHOD + " on " + fs.getClass().getName(), e);
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    private Optional<Method> method(Object fs) {
        return methods.computeIfAbsent(fs.getClass(), c -> {
            try {
                Method m = c.getMethod(METHOD, Path.class);
                return m.getReturnType() == OptionalLong.class ? Optional.of(m) : Optional.empty();
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
