package io.github.s3tiered.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One HTTP request seen by {@link FaultInjectingProxy}, classified as an S3 operation. Path-style
 * addressing only: the first path segment is the bucket, the rest (percent-decoded) the key.
 * Immutable.
 */
public final class ProxiedRequest {

    /** Query parameters that turn an object request into a sub-resource request ({@link S3Operation#OTHER}). */
    private static final Set<String> OBJECT_SUBRESOURCES = Set.of(
            "acl", "tagging", "retention", "legal-hold", "torrent", "attributes", "restore", "select",
            "uploadId", "uploads");

    /** Query parameters of a ListObjects (v1 or v2) request. */
    private static final Set<String> LIST_PARAMETERS = Set.of(
            "list-type", "prefix", "delimiter", "marker", "max-keys", "encoding-type",
            "continuation-token", "start-after", "fetch-owner");

    private final String method;
    private final String target;
    private final String path;
    private final String bucket;
    private final String key;
    private final Map<String, String> query;
    private final Map<String, List<String>> headers;
    private final S3Operation operation;

    private ProxiedRequest(String method, String target, Map<String, List<String>> headers) {
        this.method = method.toUpperCase(Locale.ROOT);
        this.target = target;
        this.headers = headers;
        String rest = target;
        int scheme = rest.indexOf("://");
        if (scheme > 0 && scheme < rest.indexOf('/')) { // absolute-form: drop scheme and authority
            int slash = rest.indexOf('/', scheme + 3);
            rest = slash < 0 ? "/" : rest.substring(slash);
        }
        int q = rest.indexOf('?');
        String rawPath = q < 0 ? rest : rest.substring(0, q);
        this.query = parseQuery(q < 0 ? "" : rest.substring(q + 1));
        this.path = percentDecode(rawPath);
        String p = rawPath.startsWith("/") ? rawPath.substring(1) : rawPath;
        int slash = p.indexOf('/');
        this.bucket = percentDecode(slash < 0 ? p : p.substring(0, slash));
        String objectKey = slash < 0 ? "" : percentDecode(p.substring(slash + 1));
        this.operation = classify(this.method, bucket, objectKey, query, header("range") != null);
        this.key = operation == S3Operation.LIST_OBJECTS
                ? query.getOrDefault("prefix", "")
                : objectKey;
    }

    /**
     * Classifies a request.
     *
     * @param method the HTTP method
     * @param target the request target (origin-form {@code /bucket/key?query}, or absolute-form)
     * @param headers the headers, names in any case
     */
    public static ProxiedRequest of(String method, String target, Map<String, List<String>> headers) {
        Map<String, List<String>> lower = new LinkedHashMap<>();
        headers.forEach((name, values) -> lower.computeIfAbsent(name.toLowerCase(Locale.ROOT), n -> new java.util.ArrayList<>())
                .addAll(values));
        lower.replaceAll((name, values) -> List.copyOf(values));
        return new ProxiedRequest(method, target, Collections.unmodifiableMap(lower));
    }

    private static S3Operation classify(String method, String bucket, String key, Map<String, String> query, boolean range) {
        if (bucket.isEmpty()) {
            return S3Operation.OTHER;
        }
        boolean object = !key.isEmpty();
        boolean subresource = query.keySet().stream().anyMatch(OBJECT_SUBRESOURCES::contains);
        switch (method) {
            case "PUT":
                if (!object) {
                    return S3Operation.OTHER;
                }
                if (query.containsKey("partNumber") && query.containsKey("uploadId")) {
                    return S3Operation.UPLOAD_PART;
                }
                return subresource ? S3Operation.OTHER : S3Operation.PUT_OBJECT;
            case "POST":
                if (object && query.containsKey("uploads")) {
                    return S3Operation.CREATE_MULTIPART_UPLOAD;
                }
                if (object && query.containsKey("uploadId")) {
                    return S3Operation.COMPLETE_MULTIPART_UPLOAD;
                }
                if (!object && query.containsKey("delete")) {
                    return S3Operation.DELETE_OBJECTS;
                }
                return S3Operation.OTHER;
            case "DELETE":
                if (object && query.containsKey("uploadId")) {
                    return S3Operation.ABORT_MULTIPART_UPLOAD;
                }
                return object && !subresource ? S3Operation.DELETE_OBJECT : S3Operation.OTHER;
            case "GET":
                if (object) {
                    if (subresource) {
                        return S3Operation.OTHER;
                    }
                    return range ? S3Operation.GET_OBJECT_RANGE : S3Operation.GET_OBJECT;
                }
                if ("2".equals(query.get("list-type")) || query.containsKey("prefix")
                        || LIST_PARAMETERS.containsAll(query.keySet())) {
                    return S3Operation.LIST_OBJECTS;
                }
                return S3Operation.OTHER;
            case "HEAD":
                return object ? S3Operation.HEAD_OBJECT : S3Operation.OTHER;
            default:
                return S3Operation.OTHER;
        }
    }

    private static Map<String, String> parseQuery(String raw) {
        Map<String, String> result = new LinkedHashMap<>();
        if (raw.isEmpty()) {
            return Collections.unmodifiableMap(result);
        }
        for (String pair : raw.split("&")) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String name = percentDecode(eq < 0 ? pair : pair.substring(0, eq));
            String value = eq < 0 ? "" : percentDecode(pair.substring(eq + 1));
            result.putIfAbsent(name, value);
        }
        return Collections.unmodifiableMap(result);
    }

    /** Decodes %XX escapes as UTF-8; a '+' stays a '+' (the SDKs send spaces as %20). */
    static String percentDecode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        int i = 0;
        while (i < s.length()) {
            if (s.charAt(i) == '%' && i + 2 < s.length() && hex(s.charAt(i + 1)) >= 0 && hex(s.charAt(i + 2)) >= 0) {
                out.write(hex(s.charAt(i + 1)) * 16 + hex(s.charAt(i + 2)));
                i += 3;
            } else {
                int next = s.indexOf('%', i + 1);
                int end = next < 0 ? s.length() : next;
                out.writeBytes(s.substring(i, end).getBytes(StandardCharsets.UTF_8));
                i = end;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static int hex(char c) {
        return Character.digit(c, 16);
    }

    /** The HTTP method, upper case. */
    public String method() {
        return method;
    }

    /** The request target exactly as sent (path and raw query). */
    public String target() {
        return target;
    }

    /** The percent-decoded path, {@code /bucket/key}. */
    public String path() {
        return path;
    }

    /** The bucket (first path segment), empty for {@code GET /}. */
    public String bucket() {
        return bucket;
    }

    /**
     * The decoded object key; for {@link S3Operation#LIST_OBJECTS} the decoded {@code prefix}
     * parameter; empty for other bucket-level requests.
     */
    public String key() {
        return key;
    }

    /** The operation this request performs. */
    public S3Operation operation() {
        return operation;
    }

    /** The decoded value of a query parameter ("" for a parameter without a value), or null. */
    public String queryParameter(String name) {
        return query.get(name);
    }

    /** The first value of a header (name in any case), or null. */
    public String header(String name) {
        List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
        return values == null || values.isEmpty() ? null : values.get(0);
    }

    @Override
    public String toString() {
        return operation + " " + method + " " + target;
    }
}
