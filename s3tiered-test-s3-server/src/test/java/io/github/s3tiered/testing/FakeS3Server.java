package io.github.s3tiered.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tiny S3 look-alike on the JDK HTTP server (keep-alive on): PUT stores, GET/HEAD read (Range
 * too; keys containing "chunked" answer with a chunked body), DELETE answers 204, POST answers the
 * multipart and batch-delete XML. It records what reached it.
 */
final class FakeS3Server implements AutoCloseable {

    /** One request that reached the server, with how many body bytes it could read. */
    record Received(String method, String target, long bodyBytes, boolean bodyFailed, String expect) { }

    final Map<String, byte[]> objects = new ConcurrentHashMap<>();
    private final List<Received> received = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger bodyFailures = new AtomicInteger();
    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fake-s3");
        t.setDaemon(true);
        return t;
    });

    FakeS3Server() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    List<Received> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    boolean receivedTargetContaining(String part) {
        return received().stream().anyMatch(r -> r.target().contains(part));
    }

    void clear() {
        received.clear();
        bodyFailures.set(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String method = ex.getRequestMethod();
        String target = ex.getRequestURI().toString();
        String path = ex.getRequestURI().getPath();
        String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
        long count = 0;
        byte[] body;
        try (InputStream in = ex.getRequestBody()) {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) >= 0) {
                bytes.write(buf, 0, n);
                count += n;
            }
            body = bytes.toByteArray();
        } catch (IOException e) {
            received.add(new Received(method, target, count, true, ex.getRequestHeaders().getFirst("Expect")));
            bodyFailures.incrementAndGet();
            ex.close();
            return;
        }
        received.add(new Received(method, target, count, false, ex.getRequestHeaders().getFirst("Expect")));
        boolean bucketLevel = path.indexOf('/', 1) < 0 || path.indexOf('/', 1) == path.length() - 1;
        ex.getResponseHeaders().set("x-amz-request-id", "FAKE");
        switch (method) {
            case "PUT":
                objects.put(path, body);
                ex.getResponseHeaders().set("ETag", "\"etag-" + body.length + "\"");
                ex.sendResponseHeaders(200, -1);
                break;
            case "GET":
                if (bucketLevel) {
                    send(ex, 200, "<ListBucketResult><Name>bucket</Name></ListBucketResult>".getBytes(StandardCharsets.UTF_8));
                    break;
                }
                byte[] object = objects.get(path);
                if (object == null) {
                    send(ex, 404, "<Error><Code>NoSuchKey</Code></Error>".getBytes(StandardCharsets.UTF_8));
                } else if (path.contains("chunked")) {
                    ex.sendResponseHeaders(200, 0); // chunked transfer encoding
                    try (OutputStream out = ex.getResponseBody()) {
                        for (int off = 0; off < object.length; off += 4096) {
                            out.write(object, off, Math.min(4096, object.length - off));
                            out.flush();
                        }
                    }
                } else if (ex.getRequestHeaders().getFirst("Range") != null) {
                    String[] range = ex.getRequestHeaders().getFirst("Range").replace("bytes=", "").split("-");
                    int from = Integer.parseInt(range[0]);
                    int to = Math.min(object.length - 1, Integer.parseInt(range[1]));
                    ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + object.length);
                    send(ex, 206, Arrays.copyOfRange(object, from, to + 1));
                } else {
                    send(ex, 200, object);
                }
                break;
            case "HEAD":
                byte[] head = objects.get(path);
                if (head == null) {
                    ex.sendResponseHeaders(404, -1);
                } else {
                    ex.getResponseHeaders().set("Content-Length", Integer.toString(head.length));
                    ex.sendResponseHeaders(200, -1);
                }
                break;
            case "DELETE":
                objects.remove(path);
                ex.sendResponseHeaders(204, -1);
                break;
            case "POST":
                String xml = query.contains("uploads") ? "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
                        : query.contains("uploadId") ? "<CompleteMultipartUploadResult><ETag>\"e\"</ETag></CompleteMultipartUploadResult>"
                        : "<DeleteResult></DeleteResult>";
                send(ex, 200, xml.getBytes(StandardCharsets.UTF_8));
                break;
            default:
                send(ex, 405, new byte[0]);
        }
        ex.close();
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
