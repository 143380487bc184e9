package io.github.s3tiered.preupload;

import org.rocksdb.DBOptions;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Collection;
import java.util.function.Supplier;

/**
 * The job's RocksDB options factory (or none) plus the pre-upload listener: made on the
 * TaskManager for one keyed backend, never serialized. It implements Flink's {@code
 * RocksDBOptionsFactory} of the running line, whose package differs between 1.20 and 2.x, as a
 * proxy: {@code createDBOptions} adds the listener; every other call goes to the job's factory,
 * or, without one, returns the options given (or runs the interface's default).
 */
final class PreUploadingOptionsFactory implements InvocationHandler {

    private final Object user;
    private final Supplier<SstPreUploadListener> listeners;

    private PreUploadingOptionsFactory(Object user, Supplier<SstPreUploadListener> listeners) {
        this.user = user;
        this.listeners = listeners;
    }

    /**
     * An instance of {@code factoryInterface} (the line's {@code RocksDBOptionsFactory}) around
     * {@code user}, the job's factory or null. {@code listeners} makes the listener: a native
     * object, so only once RocksDB's library is loaded (when options are made).
     */
    static Object create(Class<?> factoryInterface, Object user, Supplier<SstPreUploadListener> listeners) {
        return Proxy.newProxyInstance(factoryInterface.getClassLoader(), new Class<?>[] {factoryInterface},
                new PreUploadingOptionsFactory(user, listeners));
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        if (method.getDeclaringClass() == Object.class) {
            return switch (method.getName()) {
                case "equals" -> proxy == args[0];
                case "hashCode" -> System.identityHashCode(proxy);
                default -> "PreUploadingOptionsFactory{" + user + "}";
            };
        }
        if (method.getName().equals("createDBOptions") && args != null && args.length == 2) {
            DBOptions options = (DBOptions) (user == null ? args[0] : call(user, method, args));
            @SuppressWarnings("unchecked")
            Collection<AutoCloseable> handlesToClose = (Collection<AutoCloseable>) args[1];
            return listeners.get().addTo(options, handlesToClose);
        }
        if (user != null) {
            return call(user, method, args);
        }
        if (method.isDefault()) {
            return InvocationHandler.invokeDefault(proxy, method, args);
        }
        // the abstract create*Options methods hand back what they were given when nothing is set
        return args == null || args.length == 0 ? null : args[0];
    }

    private static Object call(Object target, Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
