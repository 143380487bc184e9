package io.github.s3tiered.s3;

import software.amazon.awssdk.core.exception.SdkServiceException;

import java.io.IOException;

/**
 * An S3 request that failed for good. The message names the operation, the endpoint, the bucket
 * and key, the upload id and part where relevant, and the HTTP status and S3 error code.
 */
public class S3OperationException extends IOException {

    private final S3Request request;
    private final int statusCode;
    private final String errorCode;

    public S3OperationException(S3Request request, String endpoint, int attempts, Throwable cause) {
        super(message(request, endpoint, attempts, cause), cause);
        this.request = request;
        this.statusCode = cause instanceof SdkServiceException se ? se.statusCode() : -1;
        this.errorCode = cause instanceof SdkServiceException se ? S3ErrorKind.errorCode(se) : null;
    }

    /** The option that names a trust store; the message of a certificate failure points at it. */
    static final String TRUST_STORE_OPTION = "s3tiered.ssl.truststore.path";

    private static String message(S3Request request, String endpoint, int attempts, Throwable cause) {
        StringBuilder sb = new StringBuilder("S3 ").append(request).append(" at ").append(endpoint).append(" failed");
        java.security.cert.CertificateException certificate = S3ErrorKind.certificateFailure(cause);
        if (certificate != null) {
            return sb.append(": the TLS certificate of ").append(endpoint)
                    .append(" is not trusted (").append(certificate.getMessage()).append("). Set ")
                    .append(TRUST_STORE_OPTION).append(" (and s3tiered.ssl.truststore.password) to a trust store")
                    .append(" holding the server's certificate or the CA that signed it, or add it to the JVM's")
                    .append(" trust store (javax.net.ssl.trustStore)").toString();
        }
        if (cause instanceof SdkServiceException se) {
            sb.append(": HTTP ").append(se.statusCode());
            String code = S3ErrorKind.errorCode(se);
            if (code != null) {
                sb.append(' ').append(code);
            }
        }
        if (attempts > 1) {
            sb.append(" after ").append(attempts).append(" attempts");
        }
        String detail = cause.getMessage();
        if (detail != null) {
            sb.append(" (").append(detail).append(')');
        }
        return sb.toString();
    }

    public S3Request request() {
        return request;
    }

    /** HTTP status of the last response, or -1 when no response arrived. */
    public int statusCode() {
        return statusCode;
    }

    public String errorCode() {
        return errorCode;
    }
}
