package io.github.s3tiered.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback TCP proxy in front of an S3 server that can break connections after a number of
 * bytes in either direction: real network failures (a reset in the middle of a GET body or of an
 * upload) for tests of reopen, retry and abort logic.
 */
public final class FaultInjectingProxy implements AutoCloseable {

    private final String targetHost;
    private final int targetPort;
    private final ServerSocket server;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile long maxUpstreamBytes = -1;
    private volatile long maxDownstreamBytes = -1;
    private volatile byte[] rejectMarker;
    private final AtomicLong connectionsCut = new AtomicLong();
    private volatile boolean closed;

    public FaultInjectingProxy(String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "fault-proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    public String endpoint() {
        return "http://127.0.0.1:" + port();
    }

    /**
     * Resets every connection that sent more than {@code upstream} bytes to the server, or received
     * more than {@code downstream} bytes from it; -1 turns a direction off.
     */
    public void cutConnectionsAfter(long upstream, long downstream) {
        this.maxUpstreamBytes = upstream;
        this.maxDownstreamBytes = downstream;
    }

    /**
     * Resets, before forwarding anything of it, every request whose bytes contain {@code marker}
     * (for example "partNumber=" for part uploads): the request never reaches the server.
     */
    public void rejectRequestsContaining(String marker) {
        this.rejectMarker = marker == null ? null : marker.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    public void heal() {
        cutConnectionsAfter(-1, -1);
        rejectRequestsContaining(null);
    }

    public long connectionsCut() {
        return connectionsCut.get();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                Socket upstream = new Socket();
                upstream.connect(new InetSocketAddress(targetHost, targetPort), 5000);
                sockets.add(client);
                sockets.add(upstream);
                AtomicLong up = new AtomicLong();
                AtomicLong down = new AtomicLong();
                pump(client, upstream, up, true, client, upstream);
                pump(upstream, client, down, false, client, upstream);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(Socket from, Socket to, AtomicLong counter, boolean upstreamDirection, Socket a, Socket b) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    byte[] marker = rejectMarker;
                    if (upstreamDirection && marker != null && contains(buf, n, marker)) {
                        // Clients send a request only after the previous answer, so this chunk
                        // starts the marked request and holds nothing of an earlier one.
                        connectionsCut.incrementAndGet();
                        reset(a);
                        reset(b);
                        return;
                    }
                    long limit = upstreamDirection ? maxUpstreamBytes : maxDownstreamBytes;
                    long total = counter.addAndGet(n);
                    if (limit >= 0 && total > limit) {
                        int allowed = (int) Math.max(0, n - (total - limit));
                        out.write(buf, 0, allowed);
                        out.flush();
                        connectionsCut.incrementAndGet();
                        reset(a);
                        reset(b);
                        return;
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException ignored) {
                // the other side closed
            } finally {
                closeQuietly(a);
                closeQuietly(b);
            }
        }, "fault-proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private static boolean contains(byte[] buf, int len, byte[] marker) {
        outer:
        for (int i = 0; i + marker.length <= len; i++) {
            for (int j = 0; j < marker.length; j++) {
                if (buf[i + j] != marker[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    private void reset(Socket s) {
        try {
            s.setSoLinger(true, 0); // RST instead of FIN: a broken connection, not a clean end
        } catch (IOException ignored) {
            // already closed
        }
        closeQuietly(s);
    }

    private void closeQuietly(Socket s) {
        sockets.remove(s);
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket s : sockets) {
            closeQuietly(s);
        }
    }
}
