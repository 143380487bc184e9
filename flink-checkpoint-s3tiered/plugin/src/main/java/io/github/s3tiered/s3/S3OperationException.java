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

    /**
     * {@code throttled}: how many of the attempts S3 answered with throttling (503 SlowDown, 429);
     * {@code earlier}: failures of other kinds before the last, named in the message and attached.
     */
    public S3OperationException(S3Request request, String endpoint, int attempts, int throttled, Throwable cause,
            java.util.Collection<? extends Throwable> earlier) {
        super(message(request, endpoint, attempts, throttled, cause, earlier), cause);
        earlier.forEach(this::addSuppressed);
        this.request = request;
        this.statusCode = cause instanceof SdkServiceException se ? se.statusCode() : -1;
        this.errorCode = cause instanceof SdkServiceException se ? S3ErrorKind.errorCode(se) : null;
    }

    /** The option that names a trust store; the message of a certificate failure points at it. */
    static final String TRUST_STORE_OPTION = "s3tiered.ssl.truststore.path";

    private static String message(S3Request request, String endpoint, int attempts, int throttled, Throwable cause,
            java.util.Collection<? extends Throwable> earlier) {
        StringBuilder sb = new StringBuilder("S3 ").append(request).append(" at ").append(endpoint).append(" failed");
        java.security.cert.CertificateException certificate = S3ErrorKind.certificateFailure(cause);
        if (certificate != null) {
            return sb.append(": the TLS certificate of ").append(endpoint)
                    .append(" is not trusted (").append(certificate.getMessage()).append("). Set ")
                    .append(TRUST_STORE_OPTION).append(" (and s3tiered.ssl.truststore.password) to a trust store")
                    .append(" holding the server's certificate or the CA that signed it, or add it to the JVM's")
                    .append(" trust store (javax.net.ssl.trustStore)").toString();
        }
        javax.net.ssl.SSLException plain = S3ErrorKind.plainHttpAnswer(cause);
        if (plain != null && endpoint.startsWith("https://")) {
            return sb.append(": the server at ").append(endpoint).append(" does not speak TLS (")
                    .append(plain.getMessage()).append("). An endpoint written without a scheme is taken as https://,")
                    .append(" as Flink's S3 file systems take it: for a server of plain HTTP write it as http://")
                    .append(endpoint.substring("https://".length())).toString();
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
            if (throttled > 0) {
                sb.append(", ").append(throttled).append(" of them throttled");
            }
        }
        String detail = cause.getMessage();
        if (detail != null) {
            sb.append(" (").append(detail).append(')');
        }
        sb.append(hint(request, cause));
        if (!earlier.isEmpty()) {
            sb.append("; earlier attempts failed otherwise:");
            for (Throwable e : earlier) {
                sb.append(' ').append(shortly(e)).append(';');
            }
            sb.setLength(sb.length() - 1);
        }
        return sb.toString();
    }

    /**
     * What to set, for the failures an operator fixes in the configuration: no credentials found,
     * a bucket in another region than the one configured (S3 answers 301 or 400 without naming the
     * option), a bucket that does not exist, and permissions missing.
     */
    private static String hint(S3Request request, Throwable cause) {
        String m = cause.getMessage();
        if (S3ErrorKind.isCredentialsLookupFailure(cause)) {
            return ". No credentials (or the instance metadata service or STS did not answer "
                    + Retrier.CREDENTIALS_LOOKUPS + " lookups): set s3tiered.access-key and s3tiered.secret-key (or"
                    + " s3.access-key and s3.secret-key), or give the process credentials through the AWS SDK's default"
                    + " chain (environment, profile, web identity, container or instance role)";
        }
        if (cause instanceof SdkServiceException se) {
            String code = S3ErrorKind.errorCode(se);
            String region = se instanceof software.amazon.awssdk.awscore.exception.AwsServiceException ase
                    && ase.awsErrorDetails() != null && ase.awsErrorDetails().sdkHttpResponse() != null
                    ? ase.awsErrorDetails().sdkHttpResponse().firstMatchingHeader("x-amz-bucket-region").orElse(null) : null;
            if (se.statusCode() == 301 || "PermanentRedirect".equals(code) || "AuthorizationHeaderMalformed".equals(code)) {
                return ". The bucket is in " + (region != null ? "region " + region : "another region")
                        + " than the one configured: set s3tiered.region (or s3.region)" + (region != null ? " to " + region : "");
            }
            if ("NoSuchBucket".equals(code)) {
                return ". No such bucket at this endpoint: check the bucket in the path and s3tiered.endpoint";
            }
            if (se.statusCode() == 403 && (code == null || "AccessDenied".equals(code))) {
                // a HEAD has no body: its 403 names nothing, and S3 answers one for a missing key too
                return ". Access denied" + permissionFor(request.operation()) + ". The access key needs s3:GetObject,"
                        + " s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload and"
                        + " s3:ListBucketMultipartUploads on the bucket and its keys (without s3:ListBucket, S3 answers"
                        + " 403 instead of 404 for a key that does not exist); with SSE-KMS also kms:GenerateDataKey and"
                        + " kms:Decrypt on the key (a read, and a multipart upload, of such an object needs kms:Decrypt);"
                        + " a requester-pays bucket refuses requests that do not say they pay";
            }
        }
        return "";
    }

    /** The action {@code operation} needs, as IAM names it. */
    static String permissionFor(String operation) {
        String action = switch (operation) {
            case "HeadObject", "GetObject" -> "s3:GetObject";
            case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload" -> "s3:PutObject";
            case "DeleteObject", "DeleteObjects" -> "s3:DeleteObject";
            case "ListObjectsV2" -> "s3:ListBucket";
            case "AbortMultipartUpload" -> "s3:AbortMultipartUpload";
            case "ListMultipartUploads" -> "s3:ListBucketMultipartUploads";
            default -> null;
        };
        return action == null ? "" : " (" + operation + " needs " + action + ")";
    }

    private static String shortly(Throwable e) {
        if (e instanceof SdkServiceException se) {
            String code = S3ErrorKind.errorCode(se);
            return "HTTP " + se.statusCode() + (code != null ? " " + code : "");
        }
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m != null ? ": " + (m.length() > 120 ? m.substring(0, 120) + "..." : m) : "");
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
