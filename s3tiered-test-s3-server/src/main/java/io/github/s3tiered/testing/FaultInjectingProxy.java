package io.github.s3tiered.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A loopback proxy in front of an S3 server (path-style, plain HTTP/1.1) that injects failures:
 * real network faults and S3 errors for tests of retry, reopen and abort logic, and latency and
 * bandwidth limits for performance profiles.
 *
 * <p>It parses the HTTP/1.1 requests and responses of each keep-alive connection (Content-Length,
 * chunked and aws-chunked bodies, {@code Expect: 100-continue}, bodiless and close-delimited
 * responses), classifies each request as an {@link S3Operation} and applies the first
 * {@link FaultRule} that selects it:
 *
 * <pre>{@code
 * try (FaultInjectingProxy proxy = new FaultInjectingProxy("127.0.0.1", s3Port)) {
 *     // point the client at proxy.endpoint()
 *     proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*_metadata").always().slowDown());
 *     FaultRule broken = proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).nth(2).resetAfterRequestBytes(1 << 20));
 *     ...
 *     assertThat(broken.timesFired()).isEqualTo(1);
 *     assertThat(proxy.faults(FaultAction.RESPOND_ERROR)).isPositive();
 *     assertThat(proxy.requests(S3Operation.HEAD_OBJECT)).isEqualTo(1);
 * }
 * }</pre>
 *
 * <p>The older byte-level faults remain: {@link #cutConnectionsAfter(long, long)} and
 * {@link #rejectRequestsContaining(String)}. Bytes that do not parse as HTTP/1.x (TLS, say) are
 * tunnelled unchanged; only those byte-level faults and the bandwidth caps apply to them.
 *
 * <p>Thread-safe: rules, limits and counters may change while connections carry traffic; a
 * request sees the rules present when its head arrived.
 *
 * <p>Limits: plain HTTP/1.x only (TLS and HTTP/2 are tunnelled as bytes, see above); path-style
 * addressing only (with virtual-hosted style the bucket is in the Host header and the
 * classification is wrong); pipelined requests work, and a local error answer waits for the
 * responses to earlier requests. For a local error to a request that sent {@code Expect:
 * 100-continue} the proxy answers {@code 100 Continue} itself and reads the body first. Latency
 * and response stalls apply to final responses, not to {@code 100 Continue}.
 */
public final class FaultInjectingProxy implements AutoCloseable {

    private static final int RECENT_REQUESTS = 1000;

    /** The bandwidth caps; an instance is replaced, never changed. */
    static final class Bandwidth {
        final long perConnection;
        final long total;
        final TokenBucket totalUp;
        final TokenBucket totalDown;
        final int pieceBytes;

        Bandwidth(long perConnection, long total) {
            this.perConnection = perConnection;
            this.total = total;
            this.totalUp = total > 0 ? new TokenBucket(total) : null;
            this.totalDown = total > 0 ? new TokenBucket(total) : null;
            long slowest = Math.min(perConnection > 0 ? perConnection : Long.MAX_VALUE, total > 0 ? total : Long.MAX_VALUE);
            // pieces of ~1/20 s keep the pace smooth without a syscall per byte
            this.pieceBytes = (int) Math.max(512, Math.min(16 * 1024, slowest / 20));
        }
    }

    final String targetHost;
    final int targetPort;
    private final ServerSocket server;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile long maxUpstreamBytes = -1;
    private volatile long maxDownstreamBytes = -1;
    private volatile byte[] rejectMarker;
    private volatile Bandwidth bandwidth;
    private final List<FaultRule> rules = new CopyOnWriteArrayList<>();
    private final AtomicLong connectionsCut = new AtomicLong();
    private final AtomicLong connectionsAccepted = new AtomicLong();
    private final Map<S3Operation, LongAdder> requests = new EnumMap<>(S3Operation.class);
    private final Map<FaultAction, LongAdder> faults = new EnumMap<>(FaultAction.class);
    private final ConcurrentLinkedDeque<ProxiedRequest> recent = new ConcurrentLinkedDeque<>();
    private final AtomicInteger recentSize = new AtomicInteger();
    private final AtomicLong requestIds = new AtomicLong();
    private final AtomicLong connectionIds = new AtomicLong();
    private final Object pauseLock = new Object();
    private long stallGeneration;    // guarded by pauseLock; bumped to release stalls and latency
    private long throttleGeneration; // guarded by pauseLock; bumped to release bandwidth waits
    private volatile boolean closed;

    /**
     * Starts a proxy on a free loopback port that forwards every connection to
     * {@code targetHost:targetPort}.
     */
    public FaultInjectingProxy(String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        for (S3Operation op : S3Operation.values()) {
            requests.put(op, new LongAdder());
        }
        for (FaultAction action : FaultAction.values()) {
            faults.put(action, new LongAdder());
        }
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "fault-proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** The loopback port clients connect to. */
    public int port() {
        return server.getLocalPort();
    }

    /** {@code http://127.0.0.1:<port>}: the S3 endpoint to give the client under test. */
    public String endpoint() {
        return "http://127.0.0.1:" + port();
    }

    // ---- legacy byte-level faults ----------------------------------------------------------

    /**
     * Resets every connection that sent more than {@code upstream} bytes to the server, or received
     * more than {@code downstream} bytes from it (heads included, counted since the connection
     * opened); -1 turns a direction off.
     */
    public void cutConnectionsAfter(long upstream, long downstream) {
        this.maxUpstreamBytes = upstream;
        this.maxDownstreamBytes = downstream;
    }

    /**
     * Resets, before forwarding anything of it, every request whose head contains {@code marker}
     * (for example "partNumber=" for part uploads): the request never reaches the server. A marker
     * found only in a body resets the connection before that part of the body is forwarded.
     * Null turns it off.
     */
    public void rejectRequestsContaining(String marker) {
        this.rejectMarker = marker == null ? null : marker.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Removes every fault: the rules ({@link #clearRules()}), the byte limits, the marker and the
     * bandwidth caps. Stalled requests and responses go on at once. Counters are kept.
     */
    public void heal() {
        cutConnectionsAfter(-1, -1);
        rejectRequestsContaining(null);
        limitBandwidth(0, 0);
        clearRules();
    }

    /** How many connections the proxy reset (for any fault), since the start or {@link #resetCounters()}. */
    public long connectionsCut() {
        return connectionsCut.get();
    }

    // ---- rules -----------------------------------------------------------------------------

    /**
     * Adds a rule (after the existing ones: the first rule that selects a request wins) and
     * returns it, to read {@link FaultRule#timesFired()} later. A rule can be injected once: a
     * second time (here or into another proxy) throws IllegalStateException, as does a rule
     * without an action.
     */
    public FaultRule inject(FaultRule rule) {
        Objects.requireNonNull(rule).freeze();
        rules.add(rule);
        return rule;
    }

    /** Removes one rule; returns whether it was there. Requests already under it finish as decided. */
    public boolean remove(FaultRule rule) {
        return rules.remove(rule);
    }

    /** Removes every rule; stalled requests and responses go on at once. */
    public void clearRules() {
        rules.clear();
        release(true, false);
    }

    /** The rules in order. */
    public List<FaultRule> rules() {
        return List.copyOf(rules);
    }

    /**
     * Caps the bandwidth of each direction (requests to the server, responses to the client) per
     * connection and over all connections together, in bytes per second (token buckets with a
     * 50 ms burst); 0 or less leaves that cap off. Applies to bytes already flowing too.
     */
    public void limitBandwidth(long perConnectionBytesPerSecond, long totalBytesPerSecond) {
        long per = Math.max(0, perConnectionBytesPerSecond);
        long total = Math.max(0, totalBytesPerSecond);
        bandwidth = per == 0 && total == 0 ? null : new Bandwidth(per, total);
        release(false, true); // waits computed for the old caps end now
    }

    // ---- counters --------------------------------------------------------------------------

    /** How many requests of this operation arrived (faulted or not). */
    public long requests(S3Operation operation) {
        return requests.get(operation).sum();
    }

    /** How many HTTP requests arrived in all. */
    public long requests() {
        return requests.values().stream().mapToLong(LongAdder::sum).sum();
    }

    /** How many times the proxy applied this action. */
    public long faults(FaultAction action) {
        return faults.get(action).sum();
    }

    /** How many faults the proxy applied in all ({@link FaultAction#LATENCY} included). */
    public long faults() {
        return faults.values().stream().mapToLong(LongAdder::sum).sum();
    }

    /** How many client connections the proxy accepted. */
    public long connectionsAccepted() {
        return connectionsAccepted.get();
    }

    /** The last requests that arrived (at most 1000), oldest first. */
    public List<ProxiedRequest> recentRequests() {
        return Collections.unmodifiableList(new ArrayList<>(recent));
    }

    /**
     * Sets every counter of the proxy to zero (requests, faults, connections, recent requests).
     * The rules keep their own state ({@link FaultRule#timesFired()}, their count of matches).
     */
    public void resetCounters() {
        requests.values().forEach(LongAdder::reset);
        faults.values().forEach(LongAdder::reset);
        connectionsCut.set(0);
        connectionsAccepted.set(0);
        recent.clear();
        recentSize.set(0);
    }

    /** Stops accepting, closes every connection and releases every stall. */
    @Override
    public void close() throws IOException {
        closed = true;
        release(true, true);
        server.close();
        for (Socket s : sockets) {
            closeQuietly(s);
        }
    }

    // ---- used by the connections -----------------------------------------------------------

    long maxUpstreamBytes() {
        return maxUpstreamBytes;
    }

    long maxDownstreamBytes() {
        return maxDownstreamBytes;
    }

    byte[] rejectMarker() {
        return rejectMarker;
    }

    Bandwidth bandwidth() {
        return bandwidth;
    }

    void recordRequest(ProxiedRequest request) {
        requests.get(request.operation()).increment();
        recent.addLast(request);
        if (recentSize.incrementAndGet() > RECENT_REQUESTS && recent.pollFirst() != null) {
            recentSize.decrementAndGet();
        }
    }

    /** Chooses the faults for a request (reserving their firings). */
    ProxyConnection.Exchange decide(ProxiedRequest request, String method) {
        FaultRule chosen = null;
        List<FaultRule> latency = List.of();
        long latencyNanos = 0;
        for (FaultRule rule : rules) {
            if (!rule.matches(request) || !rule.selects()) {
                continue;
            }
            if (rule.action() == FaultAction.LATENCY) {
                if (rule.tryReserve()) {
                    if (latency.isEmpty()) {
                        latency = new ArrayList<>(2);
                    }
                    latency.add(rule);
                    latencyNanos += rule.duration().toNanos();
                }
            } else if (chosen == null && rule.tryReserve()) {
                chosen = rule;
            }
        }
        return new ProxyConnection.Exchange(request, method, chosen, latency, latencyNanos);
    }

    void countFault(FaultAction action) {
        faults.get(action).increment();
    }

    void countCut() {
        connectionsCut.incrementAndGet();
    }

    String nextRequestId() {
        return String.format("FAULT%011X", requestIds.incrementAndGet());
    }

    /**
     * Waits this long unless the proxy closes first, or the rules are cleared (a stall or
     * latency), or the bandwidth caps change (a bandwidth wait); returns whether the whole time
     * passed.
     */
    boolean pause(long nanos, boolean bandwidthWait) {
        if (nanos <= 0) {
            return true;
        }
        long deadline = System.nanoTime() + nanos;
        synchronized (pauseLock) {
            long generation = bandwidthWait ? throttleGeneration : stallGeneration;
            while (true) {
                if (closed || (bandwidthWait ? throttleGeneration : stallGeneration) != generation) {
                    return false;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return true;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(pauseLock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
    }

    private void release(boolean stalls, boolean bandwidthWaits) {
        synchronized (pauseLock) {
            if (stalls) {
                stallGeneration++;
            }
            if (bandwidthWaits) {
                throttleGeneration++;
            }
            pauseLock.notifyAll();
        }
    }

    void track(Socket socket) {
        sockets.add(socket);
        if (closed) {
            closeQuietly(socket);
        }
    }

    void closeQuietly(Socket s) {
        sockets.remove(s);
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                connectionsAccepted.incrementAndGet();
                track(client);
                new ProxyConnection(this, client, connectionIds.incrementAndGet()).start();
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }
}
