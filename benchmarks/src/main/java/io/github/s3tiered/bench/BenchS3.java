package io.github.s3tiered.bench;

import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.NetworkProfile;
import io.github.s3tiered.testing.S3TestServer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The S3 server of a benchmark: S3Proxy in its own JVM with its data on a RAM disk ({@code
 * /dev/shm} where there is one), so that its writes do not compete with the local tier's for the
 * disk, as a remote S3 would not; behind a proxy for the {@link NetworkProfile} (and for faults)
 * when one is needed. {@link #s3()} is what the file systems talk to.
 */
final class BenchS3 implements AutoCloseable {

    private final S3TestServer server;
    private final FaultInjectingProxy proxy;
    private final Path dataDir;
    private final NetworkProfile profile;
    private final boolean inMemory;

    private BenchS3(S3TestServer server, FaultInjectingProxy proxy, Path dataDir, NetworkProfile profile, boolean inMemory) {
        this.server = server;
        this.inMemory = inMemory;
        this.proxy = proxy;
        this.dataDir = dataDir;
        this.profile = profile;
    }

    /**
     * Starts the server; {@code proxyAnyway} puts a proxy in front even for loopback (faults);
     * {@code inMemory} runs S3Proxy on its transient backend instead, whose listing costs the keys
     * under the request's prefix, not a scan of the whole directory (see {@link
     * S3TestServer#startS3ProxyInMemory()}).
     */
    static BenchS3 start(NetworkProfile profile, boolean proxyAnyway, boolean inMemory) throws IOException {
        Path shm = Path.of("/dev/shm");
        Path dataDir = !inMemory && Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "s3tiered-bench-s3") : null;
        S3TestServer server = inMemory ? S3TestServer.startS3ProxyInMemory()
                : dataDir == null ? S3TestServer.start() : S3TestServer.startS3Proxy(dataDir);
        FaultInjectingProxy proxy = null;
        if (profile.shaped() || proxyAnyway) {
            proxy = new FaultInjectingProxy("127.0.0.1", server.port());
            profile.applyTo(proxy);
        }
        return new BenchS3(server, proxy, dataDir, profile, inMemory);
    }

    /**
     * {@code --s3-server filesystem} (the default: S3Proxy's filesystem-nio2 backend, data on the
     * RAM disk) or {@code memory} (its transient backend, objects in its heap): true for memory.
     */
    static boolean inMemoryArg(String[] args) {
        String server = BenchSupport.arg(args, "--s3-server", "filesystem");
        if (!server.equals("filesystem") && !server.equals("memory")) {
            throw new IllegalArgumentException("--s3-server must be filesystem or memory, not " + server);
        }
        return server.equals("memory");
    }

    static NetworkProfile profileArg(String[] args) {
        return NetworkProfile.of(BenchSupport.arg(args, "--profile", "loopback"));
    }

    /** The server as the file systems see it (through the proxy when there is one). */
    S3TestServer s3() {
        return proxy == null ? server : server.via(proxy.endpoint());
    }

    S3TestServer server() {
        return server;
    }

    /** Null without a proxy. */
    FaultInjectingProxy proxy() {
        return proxy;
    }

    NetworkProfile profile() {
        return profile;
    }

    /** Where the data are, for the table's caption. */
    String describe() {
        if (inMemory) {
            return "S3Proxy (transient: objects in its heap, sorted by key), network " + profile;
        }
        return "S3Proxy (filesystem-nio2" + (dataDir == null ? "" : ", data on a RAM disk") + "), network " + profile;
    }

    @Override
    public void close() throws IOException {
        try {
            if (proxy != null) {
                proxy.close();
            }
        } finally {
            server.close();
            if (dataDir != null) {
                BenchSupport.deleteRecursively(dataDir);
            }
        }
    }
}
