package io.github.s3tiered.s3;

import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkServiceException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Set;

/** How a failed S3 request is treated by the {@link Retrier}. */
public enum S3ErrorKind {
    /** S3 asks us to slow down (503 SlowDown, 429): retried from a budget of its own. */
    THROTTLED,
    /** 5xx, timeouts, broken connections: retried. */
    TRANSIENT,
    /** Everything else, including all other 4xx: never retried. */
    PERMANENT;

    private static final Set<String> THROTTLING_CODES =
            Set.of("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                    "TooManyRequests", "RequestThrottled", "RequestThrottledException");
    /**
     * Also transient: a body that arrived altered ({@code BadDigest}: its Content-MD5 differs;
     * {@code XAmzContentSHA256Mismatch}: its signed SHA-256), sent again from the file.
     */
    private static final Set<String> TRANSIENT_CODES =
            Set.of("RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed", "BadDigest",
                    "XAmzContentSHA256Mismatch");

    /** The kind of a failure S3 reports per key inside a DeleteObjects answer (200), by its code. */
    static S3ErrorKind ofCode(String code) {
        return code == null ? PERMANENT : THROTTLING_CODES.contains(code) ? THROTTLED
                : TRANSIENT_CODES.contains(code) ? TRANSIENT : PERMANENT;
    }

    public static S3ErrorKind classify(Throwable t) {
        if (t instanceof SdkServiceException se) {
            int status = se.statusCode();
            String code = errorCode(se);
            if (status == 429 || se.isThrottlingException() || (code != null && THROTTLING_CODES.contains(code))) {
                return THROTTLED;
            }
            if (status >= 500 || (code != null && TRANSIENT_CODES.contains(code))) {
                return TRANSIENT;
            }
            return PERMANENT;
        }
        if (t instanceof ApiCallAttemptTimeoutException) {
            return TRANSIENT;
        }
        if (certificateFailure(t) != null || plainHttpAnswer(t) != null) {
            // The server's certificate is not trusted, or the server does not speak TLS: every
            // attempt would fail the same way.
            return PERMANENT;
        }
        if (t instanceof SdkClientException) {
            // Connection refused or reset, socket timeouts, truncated responses.
            // A response cut midway shows as an XML document that does not parse.
            return hasIoCause(t) || hasCause(t, "javax.xml.stream.XMLStreamException") || t.getMessage() != null
                    && (t.getMessage().contains("Unable to execute HTTP request") || t.getMessage().contains("Could not parse XML response"))
                    ? TRANSIENT
                    : PERMANENT;
        }
        if (t instanceof UploadDigest.StagedFileChangedException) {
            return PERMANENT;
        }
        if (t instanceof IOException || t instanceof UncheckedIOException) {
            return TRANSIENT;
        }
        return PERMANENT;
    }

    /** The SDK's credentials chain found none (or a remote provider did not answer: it cannot tell). */
    static boolean isCredentialsLookupFailure(Throwable t) {
        return t instanceof SdkClientException && !(t instanceof SdkServiceException) && t.getMessage() != null
                && t.getMessage().contains("Unable to load credentials");
    }

    static String errorCode(SdkServiceException se) {
        if (se instanceof software.amazon.awssdk.awscore.exception.AwsServiceException ase
                && ase.awsErrorDetails() != null) {
            return ase.awsErrorDetails().errorCode();
        }
        return null;
    }

    /**
     * The TLS failure the JDK reports when the server answered the handshake in plain HTTP (an
     * endpoint without a scheme is taken as https), or null.
     */
    static javax.net.ssl.SSLException plainHttpAnswer(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof javax.net.ssl.SSLException ssl && ssl.getMessage() != null
                    && (ssl.getMessage().contains("Unsupported or unrecognized SSL message")
                            || ssl.getMessage().contains("plaintext connection"))) {
                return ssl;
            }
        }
        return null;
    }

    /**
     * The certificate error when {@code t} is a TLS handshake that failed because the server's
     * certificate was rejected (not trusted, expired, wrong host), else null.
     */
    static java.security.cert.CertificateException certificateFailure(Throwable t) {
        boolean handshake = false;
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof javax.net.ssl.SSLHandshakeException) {
                handshake = true;
            }
            if (handshake && c instanceof java.security.cert.CertificateException ce) {
                return ce;
            }
        }
        return null;
    }

    private static boolean hasCause(Throwable t, String className) {
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            if (c.getClass().getName().equals(className)) {
                return true;
            }
        }
        return false;
    }

    private static boolean hasIoCause(Throwable t) {
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            if (c instanceof IOException) {
                return true;
            }
        }
        return false;
    }
}
