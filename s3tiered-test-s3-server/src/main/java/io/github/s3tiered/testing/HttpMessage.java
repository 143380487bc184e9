package io.github.s3tiered.testing;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The head of an HTTP/1.x request or response as {@link FaultInjectingProxy} sees it: the exact
 * bytes received (forwarded unchanged), the parsed start line and headers, and the framing of the
 * body that follows. Also the body copying (Content-Length, chunked, until close).
 */
final class HttpMessage {

    /** Longest head accepted; a longer one is treated as "not HTTP" and tunnelled raw. */
    static final int MAX_HEAD_BYTES = 64 * 1024;
    private static final int MAX_LINE_BYTES = 8 * 1024;

    /** How the body after a head is delimited. */
    enum Framing { NONE, LENGTH, CHUNKED, UNTIL_CLOSE }

    /** Bytes that could not be parsed as HTTP/1.x. */
    static final class MalformedException extends IOException {
        private static final long serialVersionUID = 1L;

        MalformedException(String message) {
            super(message);
        }
    }

    /** Receives body bytes as they are copied. */
    interface Sink {
        void write(byte[] b, int off, int len) throws IOException;
    }

    static final Sink DISCARD = (b, off, len) -> { };

    final byte[] raw;
    final String method;  // requests
    final String target;  // requests
    final String version;
    final int status;     // responses
    final Map<String, List<String>> headers; // lower-case names

    private HttpMessage(byte[] raw, String method, String target, String version, int status,
                        Map<String, List<String>> headers) {
        this.raw = raw;
        this.method = method;
        this.target = target;
        this.version = version;
        this.status = status;
        this.headers = headers;
    }

    /**
     * Reads one head (start line to the empty line, both included; empty lines before it are
     * skipped). Returns null at end of stream before any byte; throws EOFException at an end
     * within the head, MalformedException for a head too long or with a control byte.
     */
    static byte[] readHead(InputStream in) throws IOException {
        byte[] buf = new byte[1024];
        int len = 0;
        int lineStart = 0;
        while (true) {
            int c = in.read();
            if (c < 0) {
                if (len == 0) {
                    return null;
                }
                throw new EOFException("end of stream inside an HTTP head");
            }
            if (len == buf.length) {
                if (len >= MAX_HEAD_BYTES) {
                    throw new MalformedException("HTTP head longer than " + MAX_HEAD_BYTES + " bytes");
                }
                buf = java.util.Arrays.copyOf(buf, len * 2);
            }
            if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f) {
                // binary (a TLS record starts with 0x16): not HTTP, say so at once
                throw new MalformedException("control byte 0x" + Integer.toHexString(c) + " in an HTTP head");
            }
            buf[len++] = (byte) c;
            if (c == '\n') {
                int lineLength = len - lineStart; // with its terminator
                boolean empty = lineLength == 1 || (lineLength == 2 && buf[lineStart] == '\r');
                if (empty) {
                    if (lineStart == 0) { // blank line before the start line: skip it
                        len = 0;
                        continue;
                    }
                    return java.util.Arrays.copyOf(buf, len);
                }
                lineStart = len;
            }
        }
    }

    static HttpMessage parseRequest(byte[] raw) throws MalformedException {
        List<String> lines = lines(raw);
        String[] parts = lines.get(0).split(" ", -1);
        if (parts.length != 3 || !isToken(parts[0]) || parts[1].isEmpty() || !parts[2].startsWith("HTTP/1.")) {
            throw new MalformedException("not an HTTP/1.x request line: " + abbreviate(lines.get(0)));
        }
        return new HttpMessage(raw, parts[0], parts[1], parts[2], 0, headers(lines));
    }

    static HttpMessage parseResponse(byte[] raw) throws MalformedException {
        List<String> lines = lines(raw);
        String line = lines.get(0);
        if (!line.startsWith("HTTP/1.") || line.length() < 12 || line.charAt(8) != ' ') {
            throw new MalformedException("not an HTTP/1.x status line: " + abbreviate(line));
        }
        int status;
        try {
            status = Integer.parseInt(line.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new MalformedException("bad status code: " + abbreviate(line));
        }
        return new HttpMessage(raw, null, null, line.substring(0, 8), status, headers(lines));
    }

    /** The first value of a header, or null. */
    String header(String name) {
        List<String> values = headers.get(name);
        return values == null ? null : values.get(0);
    }

    /** Whether a comma-separated header (any occurrence) lists this token, ignoring case. */
    boolean hasToken(String name, String token) {
        List<String> values = headers.get(name);
        if (values != null) {
            for (String value : values) {
                for (String t : value.split(",")) {
                    if (t.trim().equalsIgnoreCase(token)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** Whether the sender wants the connection closed after this message. */
    boolean wantsClose() {
        if (hasToken("connection", "close")) {
            return true;
        }
        return "HTTP/1.0".equals(version) && !hasToken("connection", "keep-alive");
    }

    boolean expectsContinue() {
        return hasToken("expect", "100-continue");
    }

    /** The body framing of a request: chunked, Content-Length (aws-chunked too: opaque bytes), or none. */
    Framing requestFraming() throws MalformedException {
        if (headers.containsKey("transfer-encoding")) {
            if (isChunked()) {
                return Framing.CHUNKED;
            }
            throw new MalformedException("request with a transfer coding other than chunked");
        }
        return contentLength() > 0 ? Framing.LENGTH : Framing.NONE;
    }

    /** The body framing of a response to a request with this method (null if unknown). */
    Framing responseFraming(String requestMethod) throws MalformedException {
        if ("HEAD".equalsIgnoreCase(requestMethod) || status / 100 == 1 || status == 204 || status == 304) {
            return Framing.NONE;
        }
        if (headers.containsKey("transfer-encoding")) {
            return isChunked() ? Framing.CHUNKED : Framing.UNTIL_CLOSE;
        }
        if (headers.containsKey("content-length")) {
            return contentLength() > 0 ? Framing.LENGTH : Framing.NONE;
        }
        return Framing.UNTIL_CLOSE;
    }

    /** Content-Length, 0 when absent. */
    long contentLength() throws MalformedException {
        List<String> values = headers.get("content-length");
        if (values == null) {
            return 0;
        }
        long length = -1;
        for (String value : values) {
            for (String v : value.split(",")) {
                long l;
                try {
                    l = Long.parseLong(v.trim());
                } catch (NumberFormatException e) {
                    throw new MalformedException("bad Content-Length: " + value);
                }
                if (l < 0 || (length >= 0 && l != length)) {
                    throw new MalformedException("bad Content-Length: " + values);
                }
                length = l;
            }
        }
        return Math.max(0, length);
    }

    private boolean isChunked() {
        List<String> values = headers.get("transfer-encoding");
        String last = values.get(values.size() - 1);
        String[] codings = last.split(",");
        return codings[codings.length - 1].trim().equalsIgnoreCase("chunked");
    }

    /**
     * Copies a body from {@code in} to {@code sink} as it is on the wire (chunk framing and
     * trailers included). {@code length} is used for {@link Framing#LENGTH}.
     */
    static void copyBody(InputStream in, Framing framing, long length, byte[] buf, Sink sink) throws IOException {
        switch (framing) {
            case NONE:
                return;
            case LENGTH:
                copyExactly(in, length, buf, sink);
                return;
            case CHUNKED:
                copyChunked(in, buf, sink);
                return;
            case UNTIL_CLOSE:
                int n;
                while ((n = in.read(buf)) >= 0) {
                    sink.write(buf, 0, n);
                }
                return;
            default:
                throw new IllegalStateException(framing.toString());
        }
    }

    private static void copyExactly(InputStream in, long length, byte[] buf, Sink sink) throws IOException {
        long left = length;
        while (left > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (n < 0) {
                throw new EOFException("end of stream with " + left + " body bytes missing");
            }
            sink.write(buf, 0, n);
            left -= n;
        }
    }

    private static void copyChunked(InputStream in, byte[] buf, Sink sink) throws IOException {
        while (true) {
            byte[] sizeLine = readLine(in);
            sink.write(sizeLine, 0, sizeLine.length);
            long size = chunkSize(sizeLine);
            if (size == 0) {
                while (true) { // trailers up to the empty line
                    byte[] trailer = readLine(in);
                    sink.write(trailer, 0, trailer.length);
                    if (trailer.length <= 2 && (trailer.length == 1 || trailer[0] == '\r')) {
                        return;
                    }
                }
            }
            copyExactly(in, size, buf, sink);
            byte[] end = readLine(in);
            if (end.length > 2 || (end.length == 2 && end[0] != '\r')) {
                throw new MalformedException("chunk data not followed by CRLF");
            }
            sink.write(end, 0, end.length);
        }
    }

    private static long chunkSize(byte[] line) throws MalformedException {
        String s = new String(line, StandardCharsets.ISO_8859_1);
        int semicolon = s.indexOf(';');
        String hex = (semicolon < 0 ? s : s.substring(0, semicolon)).trim();
        try {
            long size = Long.parseLong(hex, 16);
            if (size < 0) {
                throw new NumberFormatException();
            }
            return size;
        } catch (NumberFormatException e) {
            throw new MalformedException("bad chunk size line: " + abbreviate(s.trim()));
        }
    }

    /** One line with its terminator (LF or CRLF). */
    private static byte[] readLine(InputStream in) throws IOException {
        byte[] buf = new byte[64];
        int len = 0;
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("end of stream inside a chunked body");
            }
            if (len == buf.length) {
                if (len >= MAX_LINE_BYTES) {
                    throw new MalformedException("chunk line longer than " + MAX_LINE_BYTES + " bytes");
                }
                buf = java.util.Arrays.copyOf(buf, len * 2);
            }
            buf[len++] = (byte) c;
            if (c == '\n') {
                return java.util.Arrays.copyOf(buf, len);
            }
        }
    }

    private static List<String> lines(byte[] raw) {
        String text = new String(raw, StandardCharsets.ISO_8859_1);
        List<String> lines = new ArrayList<>();
        for (String line : text.split("\n", -1)) {
            lines.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
        }
        return lines;
    }

    private static Map<String, List<String>> headers(List<String> lines) throws MalformedException {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        String last = null;
        for (String line : lines.subList(1, lines.size())) {
            if (line.isEmpty()) {
                continue;
            }
            if ((line.charAt(0) == ' ' || line.charAt(0) == '\t') && last != null) { // obsolete folding
                List<String> values = headers.get(last);
                values.set(values.size() - 1, values.get(values.size() - 1) + " " + line.trim());
                continue;
            }
            int colon = line.indexOf(':');
            if (colon <= 0 || !isToken(line.substring(0, colon))) {
                throw new MalformedException("bad header line: " + abbreviate(line));
            }
            last = line.substring(0, colon).toLowerCase(Locale.ROOT);
            headers.computeIfAbsent(last, k -> new ArrayList<>()).add(line.substring(colon + 1).trim());
        }
        return headers;
    }

    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c <= ' ' || c >= 127 || "()<>@,;:\\\"/[]?={}".indexOf(c) >= 0) {
                return false;
            }
        }
        return true;
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }
}
