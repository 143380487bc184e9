package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.ObjectStore;
import io.github.s3tiered.s3.S3Statistics;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A runtime ended by Flink configuring its file systems anew ({@code FileSystem.initialize}) while
 * transfers of a file system made before are queued: they still run (and fail against the closed
 * S3 client), as a restore or an upload waits for each of them without end.
 */
class RuntimeCloseTest {

    @TempDir
    java.nio.file.Path tierDir;

    @Test
    void theTransfersQueuedWhenTheRuntimeClosesStillRunAgainstTheClosedClient() throws Exception {
        S3Statistics stats = new S3Statistics();
        AtomicBoolean clientClosed = new AtomicBoolean();
        InMemoryObjectStore inMemory = new InMemoryObjectStore(stats);
        ObjectStore store = (ObjectStore) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ObjectStore.class}, (proxy, method, args) -> {
                    if (method.getName().equals("close")) {
                        clientClosed.set(true);
                        return null;
                    }
                    try {
                        return method.invoke(inMemory, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        S3TieredRuntime runtime = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, Map.of()))
                .runtime();
        CountDownLatch release = new CountDownLatch(1);
        for (int i = 0; i < runtime.config().transferThreads(); i++) {
            runtime.transferPool().execute(() -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        CompletableFuture<Boolean> queued = CompletableFuture.supplyAsync(clientClosed::get, runtime.transferPool());

        runtime.close();
        assertThatThrownBy(() -> runtime.transferPool().execute(() -> {})).as("no transfer taken once closed")
                .isInstanceOf(RejectedExecutionException.class);
        release.countDown();

        assertThat(queued.get(10, TimeUnit.SECONDS)).as("ran, after the client closed").isTrue();
        assertThat(runtime.transferPool().awaitTermination(10, TimeUnit.SECONDS)).isTrue();
    }
}
