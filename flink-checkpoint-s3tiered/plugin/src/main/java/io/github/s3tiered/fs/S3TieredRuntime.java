package io.github.s3tiered.fs;

import io.github.s3tiered.s3.ObjectStore;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.Retrier;
import io.github.s3tiered.s3.S3ClientFactory;
import io.github.s3tiered.s3.S3Statistics;
import io.github.s3tiered.s3.SdkObjectStore;
import io.github.s3tiered.tier.LocalTier;

import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * What all {@code s3tiered://} file systems of one configuration share in a process: the S3
 * client, the local tier and the transfer threads. Closing it is idempotent.
 */
public final class S3TieredRuntime implements AutoCloseable {

    private final S3TieredConfig config;
    private final S3Access store;
    private final LocalTier tier;
    private final OpenStreams openStreams = new OpenStreams();
    private final ExecutorService transferPool;
    private final PreUploads preUploads = new PreUploads();
    private final SharedDownloads sharedDownloads = new SharedDownloads();
    private volatile boolean closed;

    public S3TieredRuntime(S3TieredConfig config) throws IOException {
        this(config, new S3Statistics());
    }

    private S3TieredRuntime(S3TieredConfig config, S3Statistics stats) throws IOException {
        this(config, S3ClientFactory.store(config.client(), stats), stats);
    }

    /** Over any {@link ObjectStore}: the SDK's, or an in-memory one in tests. */
    public S3TieredRuntime(S3TieredConfig config, ObjectStore objectStore, S3Statistics stats) throws IOException {
        this.config = config;
        try {
            this.tier = new LocalTier(config.localDir(), config.localEnabled() ? config.localMaxBytes() : 0,
                    storeOf(config.client().endpoint()));
        } catch (IOException | RuntimeException e) {
            objectStore.close(); // its connection pool and threads: the runtime owning them is not made
            throw e;
        }
        this.store = new S3Access(objectStore,
                new Retrier(config.retryPolicy(), objectStore.endpointDescription(), stats), stats);
        ThreadPoolExecutor pool =
                new ThreadPoolExecutor(
                        config.transferThreads(), config.transferThreads(), 60, TimeUnit.SECONDS,
                        new LinkedBlockingQueue<>(), daemonThreads("s3tiered-transfer"));
        pool.allowCoreThreadTimeOut(true);
        this.transferPool = pool;
    }

    /**
     * The S3 service a tier copy comes from: {@code host:port} of a custom endpoint (a bucket name
     * is unique only within one service), empty for AWS.
     */
    static String storeOf(java.net.URI endpoint) {
        if (endpoint == null) {
            return "";
        }
        int port = endpoint.getPort() != -1 ? endpoint.getPort() : "http".equalsIgnoreCase(endpoint.getScheme()) ? 80 : 443;
        return endpoint.getHost().toLowerCase(java.util.Locale.ROOT) + ":" + port;
    }

    /** The output streams of this file system not yet closed or abandoned. */
    OpenStreams openStreams() {
        return openStreams;
    }

    public S3TieredConfig config() {
        return config;
    }

    public S3Access store() {
        return store;
    }

    public LocalTier tier() {
        return tier;
    }

    /** The objects uploaded ahead of a checkpoint in this process, by content. */
    PreUploads preUploads() {
        return preUploads;
    }

    /** The restore downloads in flight in this process, one per object. */
    SharedDownloads sharedDownloads() {
        return sharedDownloads;
    }

    /** Leaf tasks only (a part, a range, a HEAD): none of them waits for another task. */
    public ExecutorService transferPool() {
        return transferPool;
    }

    /**
     * Ends this runtime when Flink configures its file systems anew ({@code FileSystem.initialize},
     * in tests and embedded uses), while the streams, reads and restores of file systems made
     * before may still run. No transfer is taken any more (a caller hears of the rejection); the
     * S3 client closes, so the requests on the wire fail; the transfers queued still run, and fail
     * at once: a wait for a transfer dropped from the queue would never end.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        transferPool.shutdown();
        store.close();
    }

    private static ThreadFactory daemonThreads(String name) {
        // The SDK and its HTTP client load classes through the context class loader: ours, not
        // that of the job whose task happened to start the thread (see DaemonThreads).
        return io.github.s3tiered.s3.DaemonThreads.named(name, S3TieredRuntime.class.getClassLoader());
    }
}
