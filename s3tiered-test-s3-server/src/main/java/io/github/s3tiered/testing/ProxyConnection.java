package io.github.s3tiered.testing;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One client connection of {@link FaultInjectingProxy} and its connection to the server. Two
 * threads: one reads requests from the client and forwards them (or answers or breaks them), the
 * other reads responses from the server and passes them on. Forwarded requests wait in
 * {@link #pending} for their response, in order (HTTP/1.1 answers in request order).
 */
final class ProxyConnection {

    private static final int BUFFER_BYTES = 64 * 1024;
    private static final int CONNECT_TIMEOUT_MILLIS = 5000;
    private static final byte[] CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    /** One request and the faults chosen for it. */
    static final class Exchange {
        final ProxiedRequest request;
        final String method;
        final FaultRule rule;               // the one non-latency rule, or null
        final List<FaultRule> latencyRules; // latency rules that selected it
        final long latencyNanos;
        private final List<FaultRule> applied = new ArrayList<>(2); // guarded by this
        private boolean done;                                       // guarded by this

        Exchange(ProxiedRequest request, String method, FaultRule rule, List<FaultRule> latencyRules, long latencyNanos) {
            this.request = request;
            this.method = method;
            this.rule = rule;
            this.latencyRules = latencyRules;
            this.latencyNanos = latencyNanos;
        }

        FaultAction action() {
            return rule == null ? null : rule.action();
        }
    }

    /** Thrown to unwind a thread after the proxy reset the connection on purpose. */
    private static final class ConnectionCut extends IOException {
        private static final long serialVersionUID = 1L;

        ConnectionCut() {
            super("connection reset by the fault proxy");
        }
    }

    private final FaultInjectingProxy proxy;
    private final Socket client;
    private final long id;
    private final Socket server = new Socket();
    private BufferedInputStream clientIn;
    private BufferedInputStream serverIn;
    private Wire toServer;
    private Wire toClient;
    private final ArrayDeque<Exchange> pending = new ArrayDeque<>(); // guarded by this
    private boolean clientDone;                                     // guarded by this
    private volatile boolean dead;
    private final AtomicBoolean cut = new AtomicBoolean();

    ProxyConnection(FaultInjectingProxy proxy, Socket client, long id) {
        this.proxy = proxy;
        this.client = client;
        this.id = id;
    }

    void start() {
        Thread t = new Thread(this::run, "fault-proxy-" + id + "-requests");
        t.setDaemon(true);
        t.start();
    }

    private void run() {
        try {
            proxy.track(server);
            client.setTcpNoDelay(true);
            server.connect(new InetSocketAddress(proxy.targetHost, proxy.targetPort), CONNECT_TIMEOUT_MILLIS);
            server.setTcpNoDelay(true);
            clientIn = new BufferedInputStream(client.getInputStream(), BUFFER_BYTES);
            serverIn = new BufferedInputStream(server.getInputStream(), BUFFER_BYTES);
            toServer = new Wire(server.getOutputStream(), true);
            toClient = new Wire(client.getOutputStream(), false);
        } catch (IOException e) {
            reset(); // like a server that refuses: the client sees a broken connection
            return;
        }
        Thread responses = new Thread(this::responseLoop, "fault-proxy-" + id + "-responses");
        responses.setDaemon(true);
        responses.start();
        requestLoop();
    }

    // ---- client -> server ------------------------------------------------------------------

    private void requestLoop() {
        byte[] buf = new byte[BUFFER_BYTES];
        boolean keepOpen = false;
        try {
            while (true) {
                clientIn.mark(HttpMessage.MAX_HEAD_BYTES + 1);
                HttpMessage head;
                HttpMessage.Framing framing;
                try {
                    byte[] raw = HttpMessage.readHead(clientIn);
                    if (raw == null) {
                        keepOpen = clientEnded();
                        return;
                    }
                    head = HttpMessage.parseRequest(raw);
                    framing = head.requestFraming();
                } catch (HttpMessage.MalformedException e) {
                    clientIn.reset(); // not HTTP/1.x (TLS, say): tunnel the bytes, raw faults only
                    rawPump(clientIn, toServer, true, buf);
                    return;
                }
                if (!handleRequest(head, framing, buf)) {
                    return;
                }
            }
        } catch (IOException e) {
            // cut on purpose, reset by a peer, or closed
        } finally {
            if (!keepOpen) {
                closeAll();
            }
        }
    }

    /** Returns false when the connection must close after this request. */
    private boolean handleRequest(HttpMessage head, HttpMessage.Framing framing, byte[] buf) throws IOException {
        ProxiedRequest request = ProxiedRequest.of(head.method, head.target, head.headers);
        proxy.recordRequest(request);
        byte[] marker = proxy.rejectMarker();
        if (marker != null && indexOf(head.raw, 0, head.raw.length, marker) >= 0) {
            throw cut(FaultAction.MARKER_REJECT);
        }
        Exchange ex = proxy.decide(request, head.method);
        boolean queued = false;
        try {
            FaultAction action = ex.action();
            if (action == FaultAction.STALL_REQUEST || action == FaultAction.STALL_REQUEST_THEN_RESET) {
                apply(ex, ex.rule);
                boolean fullTime = proxy.pause(ex.rule.duration().toNanos(), false);
                if (action == FaultAction.STALL_REQUEST_THEN_RESET && fullTime) {
                    throw cut(null);
                }
            } else if (action == FaultAction.RESET_WITHOUT_FORWARDING) {
                apply(ex, ex.rule);
                throw cut(null);
            } else if (action == FaultAction.RESPOND_ERROR) {
                return respondLocally(ex, head, framing, buf);
            }
            synchronized (this) {
                if (dead) {
                    throw new IOException("connection closed");
                }
                pending.add(ex);
                queued = true;
            }
            toServer.write(head.raw, 0, head.raw.length);
            long budget = action == FaultAction.RESET_AFTER_REQUEST_BYTES ? ex.rule.bytes() : -1;
            HttpMessage.Sink sink = requestSink(ex, budget);
            if (action == FaultAction.FLIP_REQUEST_BYTE) {
                sink = flipping(ex, ex.rule.bytes(), sink);
            }
            HttpMessage.copyBody(clientIn, framing, head.contentLength(), buf, sink);
            return true;
        } finally {
            if (!queued) {
                done(ex);
            }
        }
    }

    private HttpMessage.Sink requestSink(Exchange ex, long budget) {
        long[] left = {budget};
        return (b, off, len) -> {
            byte[] marker = proxy.rejectMarker();
            if (marker != null && indexOf(b, off, len, marker) >= 0) {
                throw cut(FaultAction.MARKER_REJECT);
            }
            if (left[0] >= 0) {
                if (len > left[0]) {
                    toServer.write(b, off, (int) left[0]);
                    apply(ex, ex.rule);
                    throw cut(null);
                }
                left[0] -= len;
            }
            toServer.write(b, off, len);
        };
    }

    /** Answers the request with the rule's S3 error; false when the client asked to close. */
    private boolean respondLocally(Exchange ex, HttpMessage head, HttpMessage.Framing framing, byte[] buf) throws IOException {
        if (framing != HttpMessage.Framing.NONE) {
            if (head.expectsContinue()) {
                awaitNoPendingResponse();
                toClient.write(CONTINUE, 0, CONTINUE.length);
            }
            HttpMessage.copyBody(clientIn, framing, head.contentLength(), buf, HttpMessage.DISCARD);
        }
        awaitNoPendingResponse();
        delay(ex);
        apply(ex, ex.rule);
        boolean close = head.wantsClose();
        byte[] response = errorResponse(ex.rule, ex.request, "HEAD".equalsIgnoreCase(head.method), proxy.nextRequestId(), close);
        toClient.write(response, 0, response.length);
        return !close;
    }

    /** Keeps responses in order: a local answer waits until the server answered all earlier requests. */
    private synchronized void awaitNoPendingResponse() throws IOException {
        while (!pending.isEmpty()) {
            if (dead) {
                throw new IOException("connection closed");
            }
            try {
                wait(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
        if (dead) {
            throw new IOException("connection closed");
        }
    }

    /** The client closed its side: keep the connection only while responses are still due. */
    private synchronized boolean clientEnded() {
        clientDone = true;
        if (pending.isEmpty()) {
            return false;
        }
        try {
            server.shutdownOutput();
        } catch (IOException ignored) {
            // the response loop will find out
        }
        return true;
    }

    // ---- server -> client ------------------------------------------------------------------

    private void responseLoop() {
        byte[] buf = new byte[BUFFER_BYTES];
        try {
            while (true) {
                serverIn.mark(HttpMessage.MAX_HEAD_BYTES + 1);
                HttpMessage head;
                HttpMessage.Framing framing;
                Exchange ex;
                try {
                    byte[] raw = HttpMessage.readHead(serverIn);
                    if (raw == null) {
                        return;
                    }
                    head = HttpMessage.parseResponse(raw);
                    synchronized (this) {
                        ex = pending.peek();
                    }
                    framing = head.responseFraming(ex == null ? null : ex.method);
                } catch (HttpMessage.MalformedException e) {
                    serverIn.reset();
                    rawPump(serverIn, toClient, false, buf);
                    return;
                }
                if (head.status == 101) { // switched protocols: from now on only bytes
                    toClient.write(head.raw, 0, head.raw.length);
                    rawPump(serverIn, toClient, false, buf);
                    return;
                }
                if (head.status / 100 == 1) { // 100 Continue and friends: the final response follows
                    toClient.write(head.raw, 0, head.raw.length);
                    continue;
                }
                long budget = -1;
                if (ex != null) {
                    delay(ex);
                    FaultAction action = ex.action();
                    if (action == FaultAction.STALL_RESPONSE || action == FaultAction.STALL_RESPONSE_THEN_RESET) {
                        apply(ex, ex.rule);
                        boolean fullTime = proxy.pause(ex.rule.duration().toNanos(), false);
                        if (action == FaultAction.STALL_RESPONSE_THEN_RESET && fullTime) {
                            throw cut(null);
                        }
                    } else if (action == FaultAction.RESET_BEFORE_RESPONSE) {
                        apply(ex, ex.rule);
                        throw cut(null);
                    } else if (action == FaultAction.RESET_AFTER_RESPONSE_BYTES) {
                        budget = ex.rule.bytes();
                    }
                }
                toClient.write(head.raw, 0, head.raw.length);
                HttpMessage.Sink sink = responseSink(ex, budget);
                if (ex != null && ex.action() == FaultAction.FLIP_RESPONSE_BYTE) {
                    sink = flipping(ex, ex.rule.bytes(), sink);
                }
                HttpMessage.copyBody(serverIn, framing, head.contentLength(), buf, sink);
                synchronized (this) {
                    if (ex != null) {
                        pending.poll();
                    }
                    notifyAll();
                }
                if (ex != null) {
                    done(ex);
                }
                if (framing == HttpMessage.Framing.UNTIL_CLOSE) {
                    return;
                }
                synchronized (this) {
                    if (clientDone && pending.isEmpty()) {
                        return;
                    }
                }
            }
        } catch (IOException e) {
            // cut on purpose, reset by a peer, or closed
        } finally {
            closeAll();
        }
    }

    private HttpMessage.Sink responseSink(Exchange ex, long budget) {
        if (budget < 0) {
            return toClient::write;
        }
        long[] left = {budget};
        return (b, off, len) -> {
            if (len > left[0]) {
                toClient.write(b, off, (int) left[0]);
                apply(ex, ex.rule);
                throw cut(null);
            }
            left[0] -= len;
            toClient.write(b, off, len);
        };
    }

    /**
     * Passes a body on to {@code next} with its byte at {@code offset} inverted; the rule counts as
     * fired only when the body reaches that byte. The caller's buffer is left as it was.
     */
    private HttpMessage.Sink flipping(Exchange ex, long offset, HttpMessage.Sink next) {
        long[] seen = {0};
        return (b, off, len) -> {
            long at = offset - seen[0];
            seen[0] += len;
            if (at < 0 || at >= len) {
                next.write(b, off, len);
                return;
            }
            byte[] altered = java.util.Arrays.copyOfRange(b, off, off + len);
            altered[(int) at] ^= (byte) 0xFF;
            apply(ex, ex.rule);
            next.write(altered, 0, len);
        };
    }

    // ---- shared ----------------------------------------------------------------------------

    /** Copies bytes until end of stream with only the byte-level faults (limits, marker, bandwidth). */
    private void rawPump(java.io.InputStream in, Wire out, boolean upstream, byte[] buf) throws IOException {
        int n;
        while ((n = in.read(buf)) >= 0) {
            byte[] marker = upstream ? proxy.rejectMarker() : null;
            if (marker != null && indexOf(buf, 0, n, marker) >= 0) {
                throw cut(FaultAction.MARKER_REJECT);
            }
            out.write(buf, 0, n);
        }
    }

    private void delay(Exchange ex) {
        if (!ex.latencyRules.isEmpty()) {
            for (FaultRule rule : ex.latencyRules) {
                apply(ex, rule);
            }
            proxy.pause(ex.latencyNanos, false);
        }
    }

    private void apply(Exchange ex, FaultRule rule) {
        synchronized (ex) {
            if (ex.applied.contains(rule)) {
                return;
            }
            ex.applied.add(rule);
        }
        proxy.countFault(rule.action());
    }

    /** Gives back the firings of rules that were chosen for the exchange but never applied. */
    private static void done(Exchange ex) {
        List<FaultRule> unused = new ArrayList<>(2);
        synchronized (ex) {
            if (ex.done) {
                return;
            }
            ex.done = true;
            if (ex.rule != null && !ex.applied.contains(ex.rule)) {
                unused.add(ex.rule);
            }
            for (FaultRule rule : ex.latencyRules) {
                if (!ex.applied.contains(rule)) {
                    unused.add(rule);
                }
            }
        }
        unused.forEach(FaultRule::release);
    }

    /** Resets both sockets (RST, not FIN) and returns the exception that unwinds the caller. */
    private IOException cut(FaultAction legacyAction) {
        if (cut.compareAndSet(false, true)) {
            if (legacyAction != null) {
                proxy.countFault(legacyAction);
            }
            proxy.countCut();
        }
        reset();
        return new ConnectionCut();
    }

    private void reset() {
        for (Socket s : new Socket[] {client, server}) {
            try {
                s.setSoLinger(true, 0);
            } catch (IOException ignored) {
                // already closed
            }
        }
        closeAll();
    }

    void closeAll() {
        List<Exchange> abandoned;
        synchronized (this) {
            dead = true;
            abandoned = new ArrayList<>(pending);
            pending.clear();
            notifyAll();
        }
        proxy.closeQuietly(client);
        proxy.closeQuietly(server);
        abandoned.forEach(ProxyConnection::done);
    }

    private static int indexOf(byte[] buf, int off, int len, byte[] marker) {
        outer:
        for (int i = off; i + marker.length <= off + len; i++) {
            for (int j = 0; j < marker.length; j++) {
                if (buf[i + j] != marker[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** One direction's output: the legacy byte limit and the bandwidth caps apply here. */
    private final class Wire {
        private final OutputStream out;
        private final boolean upstream;
        private long written;
        private TokenBucket bucket;

        Wire(OutputStream out, boolean upstream) {
            this.out = out;
            this.upstream = upstream;
        }

        synchronized void write(byte[] b, int off, int len) throws IOException {
            long limit = upstream ? proxy.maxUpstreamBytes() : proxy.maxDownstreamBytes();
            if (limit >= 0 && written + len > limit) {
                int allowed = (int) Math.max(0, limit - written);
                send(b, off, allowed);
                written += allowed;
                throw cut(FaultAction.CONNECTION_CUT);
            }
            send(b, off, len);
            written += len;
        }

        private void send(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                FaultInjectingProxy.Bandwidth bw = proxy.bandwidth();
                if (bw == null) {
                    out.write(b, off, len);
                    return;
                }
                int piece = Math.min(len, bw.pieceBytes);
                if (bw.perConnection > 0) {
                    if (bucket == null || bucket.bytesPerSecond != bw.perConnection) {
                        bucket = new TokenBucket(bw.perConnection);
                    }
                    proxy.pause(bucket.reserve(piece), true);
                }
                if (bw.total > 0) {
                    proxy.pause((upstream ? bw.totalUp : bw.totalDown).reserve(piece), true);
                }
                out.write(b, off, piece);
                off += piece;
                len -= piece;
            }
        }
    }

    // ---- S3 error responses ----------------------------------------------------------------

    private static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.RFC_1123_DATE_TIME;

    static byte[] errorResponse(FaultRule rule, ProxiedRequest request, boolean headRequest, String requestId, boolean close) {
        String body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + xml(rule.code())
                + "</Code><Message>" + xml(rule.message()) + "</Message><Resource>" + xml(request.path())
                + "</Resource><RequestId>" + requestId + "</RequestId></Error>";
        byte[] bodyBytes = headRequest ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + rule.status() + " " + reason(rule.status(), rule.code()) + "\r\n"
                + "x-amz-request-id: " + requestId + "\r\n"
                + "x-amz-id-2: " + requestId + "/fault-injecting-proxy\r\n"
                + "Date: " + HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC)) + "\r\n"
                + "Server: FaultInjectingProxy\r\n"
                + "Content-Type: application/xml\r\n"
                + "Content-Length: " + bodyBytes.length + "\r\n"
                + (close ? "Connection: close\r\n" : "")
                + "\r\n";
        byte[] headBytes = head.getBytes(StandardCharsets.ISO_8859_1);
        byte[] all = new byte[headBytes.length + bodyBytes.length];
        System.arraycopy(headBytes, 0, all, 0, headBytes.length);
        System.arraycopy(bodyBytes, 0, all, headBytes.length, bodyBytes.length);
        return all;
    }

    private static String reason(int status, String code) {
        switch (status) {
            case 400: return "Bad Request";
            case 403: return "Forbidden";
            case 404: return "Not Found";
            case 405: return "Method Not Allowed";
            case 408: return "Request Timeout";
            case 409: return "Conflict";
            case 412: return "Precondition Failed";
            case 416: return "Requested Range Not Satisfiable";
            case 429: return "Too Many Requests";
            case 500: return "Internal Server Error";
            case 501: return "Not Implemented";
            case 503: return "SlowDown".equals(code) ? "Slow Down" : "Service Unavailable";
            default: return "Error";
        }
    }

    private static String xml(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<': out.append("&lt;"); break;
                case '>': out.append("&gt;"); break;
                case '&': out.append("&amp;"); break;
                case '"': out.append("&quot;"); break;
                case '\'': out.append("&apos;"); break;
                default: out.append(c);
            }
        }
        return out.toString();
    }
}
