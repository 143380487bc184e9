package io.github.s3tiered.s3;

import io.github.s3tiered.bridge.DaemonThreads;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.lang.ref.WeakReference;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;

/**
 * A pool thread started while a job's code is on the stack (a task submitting the first upload)
 * keeps nothing of that job: once the job's class loader is dropped, it can be collected while the
 * thread lives on. Without the privileged creation, the thread's inherited access control context
 * holds the protection domain of the job's class, and through it the loader.
 */
class DaemonThreadsTest {

    /** Started through a class of the "job's" loader, so that the job's code is on the creating stack. */
    public static final class JobCode implements Consumer<Runnable[]> {
        @Override
        public void accept(Runnable[] threadBody) {
            Thread t = DaemonThreads.newThread(threadBody[0], "pool-thread", DaemonThreads.class.getClassLoader());
            t.start();
        }
    }

    @Test
    void aThreadStartedByJobCodeKeepsNeitherItsLoaderNorItsContextLoader() throws Exception {
        CountDownLatch end = new CountDownLatch(1);
        CountDownLatch started = new CountDownLatch(1);
        Thread[] thread = new Thread[1];
        Runnable body = () -> {
            thread[0] = Thread.currentThread();
            started.countDown();
            try {
                end.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        WeakReference<ClassLoader> jobLoader = startFromJobLoader(body);
        started.await();
        try {
            assertThat(thread[0].isDaemon()).isTrue();
            assertThat(thread[0].getContextClassLoader()).isSameAs(DaemonThreads.class.getClassLoader());
            for (int i = 0; i < 50 && jobLoader.get() != null; i++) {
                System.gc();
                Thread.sleep(20);
            }
            assertThat(jobLoader.get()).as("the job's class loader, collected while the thread lives").isNull();
            assertThat(thread[0].isAlive()).isTrue();
        } finally {
            end.countDown();
        }
    }

    /** Runs {@link JobCode} as loaded by a loader of its own, child-first, and drops every reference to it. */
    @SuppressWarnings("unchecked")
    private static WeakReference<ClassLoader> startFromJobLoader(Runnable body) throws Exception {
        URL testClasses = JobCode.class.getProtectionDomain().getCodeSource().getLocation();
        ClassLoader parent = DaemonThreadsTest.class.getClassLoader();
        try (URLClassLoader job = new URLClassLoader(new URL[] {testClasses}, parent) {
            @Override
            protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
                if (name.equals(JobCode.class.getName())) {
                    synchronized (getClassLoadingLock(name)) {
                        Class<?> c = findLoadedClass(name);
                        return c != null ? c : findClass(name);
                    }
                }
                return super.loadClass(name, resolve);
            }
        }) {
            Class<?> code = job.loadClass(JobCode.class.getName());
            assertThat(code.getClassLoader()).isSameAs(job);
            ((Consumer<Runnable[]>) code.getDeclaredConstructor().newInstance()).accept(new Runnable[] {body});
            return new WeakReference<>(job);
        }
    }
}
