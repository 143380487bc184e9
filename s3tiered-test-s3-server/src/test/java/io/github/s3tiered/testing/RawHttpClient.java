package io.github.s3tiered.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** One HTTP/1.1 connection over a plain socket, to see exactly what the proxy does on the wire. */
final class RawHttpClient implements AutoCloseable {

    record Response(int status, Map<String, String> headers, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    /** Body bytes of the last response read so far (also when reading it failed). */
    volatile long bodyBytesRead;

    RawHttpClient(int port) throws IOException {
        socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(10_000);
        in = new BufferedInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    /** Sends a request with a Content-Length body (if any), without waiting for anything. */
    void sendHead(String method, String target, long contentLength, String... headers) throws IOException {
        StringBuilder head = new StringBuilder(method).append(' ').append(target).append(" HTTP/1.1\r\n")
                .append("Host: 127.0.0.1\r\n");
        if (contentLength >= 0) {
            head.append("Content-Length: ").append(contentLength).append("\r\n");
        }
        for (String h : headers) {
            head.append(h).append("\r\n");
        }
        head.append("\r\n");
        out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    void sendBody(byte[] body) throws IOException {
        out.write(body);
        out.flush();
    }

    Response exchange(String method, String target, byte[] body, String... headers) throws IOException {
        sendHead(method, target, body == null ? -1 : body.length, headers);
        if (body != null) {
            sendBody(body);
        }
        return read("HEAD".equals(method));
    }

    /** Reads one response; its body by Content-Length or chunked, none for HEAD, 1xx, 204, 304. */
    Response read(boolean headRequest) throws IOException {
        bodyBytesRead = 0;
        String status = line();
        Map<String, String> headers = new LinkedHashMap<>();
        for (String line = line(); !line.isEmpty(); line = line()) {
            int colon = line.indexOf(':');
            headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
        }
        int code = Integer.parseInt(status.substring(9, 12));
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (!headRequest && code >= 200 && code != 204 && code != 304) {
            if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
                while (true) {
                    int size = Integer.parseInt(line().split(";")[0].trim(), 16);
                    if (size == 0) {
                        while (!line().isEmpty()) {
                            // trailers
                        }
                        break;
                    }
                    readFully(body, size);
                    line();
                }
            } else if (headers.containsKey("content-length")) {
                readFully(body, Long.parseLong(headers.get("content-length")));
            }
        }
        return new Response(code, headers, body.toByteArray());
    }

    private void readFully(ByteArrayOutputStream body, long n) throws IOException {
        byte[] buf = new byte[8192];
        long left = n;
        while (left > 0) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (r < 0) {
                throw new EOFException("body ended after " + bodyBytesRead + " of " + n + " bytes");
            }
            body.write(buf, 0, r);
            bodyBytesRead += r;
            left -= r;
        }
    }

    private String line() throws IOException {
        StringBuilder s = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("connection ended inside a response head");
            }
            if (c == '\n') {
                int len = s.length();
                return len > 0 && s.charAt(len - 1) == '\r' ? s.substring(0, len - 1) : s.toString();
            }
            s.append((char) c);
        }
    }

    /** Whether the peer has closed (or reset) the connection: a read gives end of stream or fails. */
    boolean isClosedByPeer() {
        try {
            socket.setSoTimeout(2000);
            return in.read() < 0;
        } catch (IOException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
