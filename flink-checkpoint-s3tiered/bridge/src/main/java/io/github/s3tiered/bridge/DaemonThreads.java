package io.github.s3tiered.bridge;

import java.security.AccessController;
import java.security.PrivilegedAction;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Daemon threads for the long-lived pools of the plugin and the lib jar, which hold no reference
 * to the job that happened to start them. A pool starts a thread lazily, on whatever thread submits to it first:
 * often a task's, with the job's user code on the stack. A new thread inherits that thread's
 * context class loader and (on Java 17) its access control context, whose protection domains hold
 * the job's class loader; Flink closes that loader when the job ends, and a pool thread living on
 * would keep it, and its classes, reachable for the life of the process.
 */
public final class DaemonThreads {

    private DaemonThreads() {}

    /** Threads named {@code name-N}, their context class loader {@code loader}. */
    public static ThreadFactory named(String name, ClassLoader loader) {
        AtomicInteger n = new AtomicInteger();
        return r -> newThread(r, name + "-" + n.incrementAndGet(), loader);
    }

    /** One thread named {@code name}, its context class loader {@code loader}. */
    @SuppressWarnings("removal") // the only way on Java 17 not to inherit the caller's access control context
    public static Thread newThread(Runnable r, String name, ClassLoader loader) {
        // created in a privileged block: its inherited context is this class's domain alone
        return AccessController.doPrivileged((PrivilegedAction<Thread>) () -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            t.setContextClassLoader(loader);
            return t;
        });
    }
}
