package io.github.s3tiered.s3;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

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

        CapturedPut put = CapturedPut.put(dir, body, false);

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
        CapturedPut put = CapturedPut.put(dir, "signed".getBytes(StandardCharsets.UTF_8), true);

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
}
