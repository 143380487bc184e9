package io.github.s3tiered.s3;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a PUT over plain http carries on the wire, read by a socket that answers like S3. That
 * S3 servers accept the signature (S3Proxy checks SigV4) is shown by every test against S3Proxy.
 */
class UnsignedPayloadSignerTest {

    @TempDir
    Path dir;

    @Test
    void anUploadOverHttpIsNotSignedByDefault() throws Exception {
        byte[] body = new byte[300 * 1024]; // more than one 128 KiB chunk of aws-chunked encoding
        new java.util.Random(7).nextBytes(body);

        CapturedRequest put = putThroughCapture(body, false);

        assertThat(put.header("x-amz-content-sha256")).isEqualTo("UNSIGNED-PAYLOAD");
        assertThat(put.header("content-encoding")).isNull();
        assertThat(put.body()).isEqualTo(body); // as written: no chunk framing, no chunk signatures
        assertThat(put.header("content-md5")).isNotNull();
        // signed as if over https, sent over http: the Host header still names the port it went to
        assertThat(put.header("host")).isEqualTo("127.0.0.1:" + put.port());
        assertThat(put.header("authorization")).contains("SignedHeaders=").contains("host;");
    }

    @Test
    void signingThePayloadStaysPossible() throws Exception {
        CapturedRequest put = putThroughCapture("signed".getBytes(StandardCharsets.UTF_8), true);

        assertThat(put.header("x-amz-content-sha256")).startsWith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        assertThat(put.header("content-encoding")).isEqualTo("aws-chunked");
    }

    @Test
    void theSignedHostHeaderIsTheOneHttpSendsWithItsPortUnlessThatIs80() {
        UnsignedPayloadSigner signer = new UnsignedPayloadSigner(
                software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner.create());
        assertThat(signedHost(signer, "http://h/b/k")).isEqualTo("h");
        assertThat(signedHost(signer, "http://h:80/b/k")).isEqualTo("h");
        assertThat(signedHost(signer, "http://h:9000/b/k")).isEqualTo("h:9000");
        assertThat(signedHost(signer, "http://h:443/b/k")).isEqualTo("h:443");
        assertThat(signedHost(signer, "https://h/b/k")).isEqualTo("h");
        assertThat(signedHost(signer, "https://h:9000/b/k")).isEqualTo("h:9000");
    }

    private static String signedHost(UnsignedPayloadSigner signer, String uri) {
        software.amazon.awssdk.http.SdkHttpRequest request = software.amazon.awssdk.http.SdkHttpRequest.builder()
                .uri(URI.create(uri)).method(software.amazon.awssdk.http.SdkHttpMethod.PUT).build();
        software.amazon.awssdk.http.auth.spi.signer.SignedRequest signed = signer.sign(
                software.amazon.awssdk.http.auth.spi.signer.SignRequest.builder(
                                software.amazon.awssdk.identity.spi.AwsCredentialsIdentity.create("access", "secret"))
                        .request(request)
                        .payload(software.amazon.awssdk.http.ContentStreamProvider.fromUtf8String("body"))
                        .putProperty(software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner.REGION_NAME, "us-east-1")
                        .putProperty(software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner.SERVICE_SIGNING_NAME, "s3")
                        .putProperty(software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner.PAYLOAD_SIGNING_ENABLED,
                                false)
                        .build());
        assertThat(signed.request().protocol()).isEqualTo(request.protocol());
        assertThat(signed.request().port()).isEqualTo(request.port());
        assertThat(signed.request().firstMatchingHeader("x-amz-content-sha256")).hasValue("UNSIGNED-PAYLOAD");
        return signed.request().firstMatchingHeader("Host").orElseThrow();
    }

    private CapturedRequest putThroughCapture(byte[] body, boolean signPayload) throws Exception {
        Path file = Files.write(dir.resolve("upload-" + signPayload), body);
        CRC32C crc = new CRC32C();
        crc.update(body);
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<CapturedRequest> captured = new CompletableFuture<>();
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
                store.putObject("bucket", "key", file, body.length, (int) crc.getValue(), Cancellation.NONE);
            } finally {
                store.close();
            }
            return captured.get(20, TimeUnit.SECONDS);
        }
    }

    private static CapturedRequest answerOnePut(ServerSocket server) {
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
            return new CapturedRequest(server.getLocalPort(), headers, body);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private record CapturedRequest(int port, Map<String, String> headers, byte[] body) {
        String header(String name) {
            return headers.get(name);
        }
    }
}
