package io.github.s3tiered.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * One PutObject of the file system's S3 client (plain http, a custom endpoint), as a socket that
 * answers like S3 read it: the request's headers (names in lower case) and body.
 */
record CapturedPut(int port, Map<String, String> headers, byte[] body) {

    String header(String name) {
        return headers.get(name);
    }

    static CapturedPut put(Path dir, byte[] body, boolean signPayload) throws Exception {
        Path file = Files.write(Files.createTempFile(dir, "upload-", ""), body);
        CRC32C crc = new CRC32C();
        crc.update(body);
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<CapturedPut> captured = new CompletableFuture<>();
            Thread answering = new Thread(() -> {
                try {
                    captured.complete(answerOnePut(server));
                } catch (RuntimeException e) {
                    captured.completeExceptionally(e);
                }
            }, "capturing-s3");
            answering.setDaemon(true);
            answering.start();
            S3ClientSettings settings = new S3ClientSettings(URI.create("http://127.0.0.1:" + server.getLocalPort()),
                    "us-east-1", true, "access", "secret", true, signPayload, true, ServerSideEncryptionMode.NONE, null, 4,
                    Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(20), null, null, null);
            SdkObjectStore store = S3ClientFactory.store(settings, new S3Statistics());
            try {
                store.putObject("bucket", "key", file, body.length, (int) crc.getValue(), false, Cancellation.NONE);
            } finally {
                store.close();
            }
            return captured.get(20, TimeUnit.SECONDS);
        }
    }

    private static CapturedPut answerOnePut(ServerSocket server) {
        try (Socket s = server.accept()) {
            InputStream in = s.getInputStream();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException("the request ended in its headers: " + head);
                }
                head.write(b);
            }
            Map<String, String> headers = new TreeMap<>();
            String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
            }
            OutputStream out = s.getOutputStream();
            if ("100-continue".equalsIgnoreCase(headers.get("expect"))) {
                out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
            }
            byte[] body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
            out.write("HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return new CapturedPut(server.getLocalPort(), headers, body);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
