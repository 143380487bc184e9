package io.github.s3tiered.s3;

import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.scheme.AwsV4AuthScheme;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.AsyncSignRequest;
import software.amazon.awssdk.http.auth.spi.signer.AsyncSignedRequest;
import software.amazon.awssdk.http.auth.spi.signer.SignRequest;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.identity.spi.IdentityProvider;
import software.amazon.awssdk.identity.spi.IdentityProviders;

import java.util.concurrent.CompletableFuture;

/**
 * SigV4 with {@code UNSIGNED-PAYLOAD} over plain http too, as over https.
 *
 * <p>The SDK's signer signs the payload of every request sent over http, whatever its
 * payload-signing property says (AWS SDK 2.57: {@code DefaultAwsV4HttpSigner.isPayloadSigning}).
 * For S3 uploads that is aws-chunked encoding in 128 KiB chunks, each with a SHA-256 and an HMAC:
 * a SHA-256 pass over every byte uploaded, and chunk framing the server must take apart. S3Proxy
 * does not check those chunk signatures. What checks an upload's bytes over http is its
 * Content-MD5 ({@code s3tiered.upload.content-md5}, on by default there) and the CRC32C recorded
 * with every object.
 *
 * <p>A request over http is signed as if it went over https, then sent over http. The scheme is
 * not part of what SigV4 signs (method, path, query, headers, payload hash). The signed {@code Host}
 * header is the one the request would carry over http: with its port unless that is 80.
 */
final class UnsignedPayloadSigner implements AwsV4HttpSigner {

    private static final int HTTP_PORT = 80;

    private final AwsV4HttpSigner delegate;

    UnsignedPayloadSigner(AwsV4HttpSigner delegate) {
        this.delegate = delegate;
    }

    /** The SigV4 auth scheme with this signer, for {@code S3ClientBuilder.putAuthScheme}. */
    static AwsV4AuthScheme authScheme() {
        UnsignedPayloadSigner signer = new UnsignedPayloadSigner(AwsV4HttpSigner.create());
        return new AwsV4AuthScheme() {
            @Override
            public String schemeId() {
                return AwsV4AuthScheme.SCHEME_ID;
            }

            @Override
            public IdentityProvider<AwsCredentialsIdentity> identityProvider(IdentityProviders providers) {
                return providers.identityProvider(AwsCredentialsIdentity.class);
            }

            @Override
            public AwsV4HttpSigner signer() {
                return signer;
            }
        };
    }

    @Override
    public SignedRequest sign(SignRequest<? extends AwsCredentialsIdentity> request) {
        SdkHttpRequest sent = request.request();
        if (!isPlainHttp(sent)) {
            return delegate.sign(request);
        }
        SignedRequest signed = delegate.sign(request.copy(b -> b.request(asHttps(sent))));
        return signed.copy(b -> b.request(asSent(signed.request(), sent)));
    }

    @Override
    public CompletableFuture<AsyncSignedRequest> signAsync(AsyncSignRequest<? extends AwsCredentialsIdentity> request) {
        SdkHttpRequest sent = request.request();
        if (!isPlainHttp(sent)) {
            return delegate.signAsync(request);
        }
        return delegate.signAsync(request.copy(b -> b.request(asHttps(sent))))
                .thenApply(signed -> signed.copy(b -> b.request(asSent(signed.request(), sent))));
    }

    private static boolean isPlainHttp(SdkHttpRequest request) {
        return "http".equalsIgnoreCase(request.protocol());
    }

    /**
     * The request as over https, with the Host header it carries over http: with its port unless
     * that is 80. Left to the signer, that header would name the port where it is not https's
     * standard one: "host:80", which breaks behind a proxy that passes on Host without it, and not
     * 443, which http must name.
     */
    private static SdkHttpRequest asHttps(SdkHttpRequest request) {
        SdkHttpRequest.Builder https = request.toBuilder().protocol("https").port(request.port());
        if (request.firstMatchingHeader("Host").isEmpty()) {
            https.putHeader("Host", request.port() == HTTP_PORT ? request.host() : request.host() + ":" + request.port());
        }
        return https.build();
    }

    private static SdkHttpRequest asSent(SdkHttpRequest signed, SdkHttpRequest sent) {
        return signed.toBuilder().protocol(sent.protocol()).port(sent.port()).build();
    }
}
