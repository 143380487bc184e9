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
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
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
    private final java.util.concurrent.atomic.AtomicBoolean flinksOwnStorageWarned = new java.util.concurrent.atomic.AtomicBoolean();
    /** Whether Flink's connection limiter wraps this file system ({@code fs.s3tiered.limit.*}). */
    private volatile boolean connectionLimited;

    void connectionLimited(boolean limited) {
        this.connectionLimited = limited;
    }

    /** The file system's keys as the process's configuration sets them (see {@link #clusterOptions()}). */
    private volatile java.util.Map<String, String> clusterOptions = java.util.Map.of();
    /** Refreshes the mtime of open streams' staging files, see {@link #keepOpenStagingFilesAlive()}. */
    private final ScheduledExecutorService stagingKeepAlive;
    /** Runs on {@link #stagingKeepAlive}'s thread: its checks are few and short (a HEAD, maybe a DELETE, on the transfer pool). */
    private final LateUploads lateUploads;
    private volatile boolean closed;

    /**
     * How often the staging files of open streams get a fresh mtime: well within the tier's
     * {@value LocalTier#LEFTOVER_HOURS} hours, after which a scan takes a staging file for a crash's
     * leftover.
     */
    private static final long STAGING_KEEP_ALIVE_MINUTES = 30;

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
        this.stagingKeepAlive = Executors.newSingleThreadScheduledExecutor(daemonThreads("s3tiered-staging-keep-alive"));
        stagingKeepAlive.scheduleWithFixedDelay(this::keepOpenStagingFilesAlive, STAGING_KEEP_ALIVE_MINUTES,
                STAGING_KEEP_ALIVE_MINUTES, TimeUnit.MINUTES);
        this.lateUploads = new LateUploads(this, stagingKeepAlive);
    }

    /** Failed uploads S3 may still complete, of objects deleted since: see {@link LateUploads}. */
    LateUploads lateUploads() {
        return lateUploads;
    }

    /**
     * Gives the staging file of every open stream a fresh mtime. A scan of the tier, in any process
     * sharing its directory, removes staging files older than {@value LocalTier#LEFTOVER_HOURS}
     * hours as a crash's leftovers: it cannot tell a live process's from a dead one's. A stream may
     * stay open that long without a write (Flink's file merging keeps a file open across the
     * checkpoints of an idle job), and its next sync or close then found its file gone.
     */
    void keepOpenStagingFilesAlive() {
        try {
            openStreams.all().forEach(TieredOutputStream::keepStagingFileAlive);
        } catch (RuntimeException e) { // an exception would end the schedule for good
            org.slf4j.LoggerFactory.getLogger(S3TieredRuntime.class).warn("Could not refresh the staging files of open"
                    + " streams in {}: {}", tier.root(), e.toString());
        }
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
        stagingKeepAlive.shutdownNow();
        transferPool.shutdown();
        store.close();
    }

    private static ThreadFactory daemonThreads(String name) {
        // The SDK and its HTTP client load classes through the context class loader: ours, not
        // that of the job whose task happened to start the thread (see DaemonThreads).
        return io.github.s3tiered.bridge.DaemonThreads.named(name, S3TieredRuntime.class.getClassLoader());
    }

    /**
     * Called by a stream's {@code sync()}. The tiered storage's checkpoint streams never sync; Flink's
     * own storage syncs every file it writes into a checkpoint's directory or {@code shared/} before
     * closing it: s3tiered:// then runs under Flink's storage, without the guard, the verification,
     * the orphan removal and the uploads ahead, which an operator who left out the storage's line
     * should hear of, once.
     */
    void streamSynced(ObjectPath target) {
        // behind Flink's connection limiter the tiered storage uses Flink's streams too (a WARN at the
        // first use said so): a sync then tells nothing
        if (!connectionLimited && !flinksOwnStorageWarned.get() && writtenByFlinksOwnStorage(target.key())
                && flinksOwnStorageWarned.compareAndSet(false, true)) {
            org.slf4j.LoggerFactory.getLogger(S3TieredRuntime.class).warn("{} is written through Flink's own checkpoint storage (it synced a checkpoint file, which the"
                    + " s3tiered storage never does): the recovery guard, the verification of completed checkpoints,"
                    + " the orphan removal and the uploads ahead of checkpoints are off, and with the changelog state"
                    + " backend a change file whose upload failed can be named by a completed checkpoint; set"
                    + " execution.checkpointing.storage: io.github.s3tiered.checkpoint.TieredCheckpointStorageFactory",
                    target);
        }
    }

    /** A data file in a checkpoint's directory ({@code chk-N/}, not its {@code _metadata}) or in {@code shared/}. */
    static boolean writtenByFlinksOwnStorage(String key) {
        return CHECKPOINT_DATA_FILE.matcher(key).matches();
    }

    private static final java.util.regex.Pattern CHECKPOINT_DATA_FILE =
            java.util.regex.Pattern.compile("(.*/)?(chk-[0-9]+/(?!_metadata$)[^/]+|shared/[^/]+)");

    /**
     * The file system's keys (with fallbacks) that the configuration it was built from sets, secrets
     * as a hash: the storage compares a job's own with them, since a job's keys never reach the file
     * system, which Flink configures once per process.
     */
    java.util.Map<String, String> clusterOptions() {
        return clusterOptions;
    }

    void clusterOptions(org.apache.flink.configuration.Configuration conf) {
        java.util.Map<String, String> all = conf.toMap();
        java.util.Map<String, String> own = new java.util.TreeMap<>();
        for (String key : UnknownOptions.keysOf(S3TieredOptions.class)) {
            String value = all.get(key);
            if (value != null) {
                own.put(key, io.github.s3tiered.bridge.OptionValues.shown(key, value));
            }
        }
        this.clusterOptions = java.util.Collections.unmodifiableMap(own);
    }
}
