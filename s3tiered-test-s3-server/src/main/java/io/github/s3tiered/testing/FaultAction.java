package io.github.s3tiered.testing;

/**
 * What {@link FaultInjectingProxy} did to a request: the action of a {@link FaultRule}, or one of
 * the two legacy byte-level faults. {@link FaultInjectingProxy#faults(FaultAction)} counts them.
 */
public enum FaultAction {
    /** Answered with an S3 error without forwarding the request; the connection stays usable. */
    RESPOND_ERROR,
    /** Reset the connection as soon as the request head arrived: the server never saw the request. */
    RESET_WITHOUT_FORWARDING,
    /** Forwarded the whole request, then reset the connection instead of passing the response on. */
    RESET_BEFORE_RESPONSE,
    /** Forwarded the request head and the first N bytes of its body, then reset the connection. */
    RESET_AFTER_REQUEST_BYTES,
    /** Passed the response head and the first N bytes of its body on, then reset the connection. */
    RESET_AFTER_RESPONSE_BYTES,
    /** Forwarded the request with one byte of its body changed: a body altered on the way. */
    FLIP_REQUEST_BYTE,
    /** Passed the response on with one byte of its body changed: a download altered on the way. */
    FLIP_RESPONSE_BYTE,
    /** Held the request for a while before forwarding it. */
    STALL_REQUEST,
    /** Held the request for a while, then reset the connection without forwarding it. */
    STALL_REQUEST_THEN_RESET,
    /** Held the server's response for a while before passing it on. */
    STALL_RESPONSE,
    /** Held the server's response for a while, then reset the connection instead of passing it on. */
    STALL_RESPONSE_THEN_RESET,
    /** Added a delay before the first byte of the response (a latency profile, not an error). */
    LATENCY,
    /** Legacy {@link FaultInjectingProxy#cutConnectionsAfter(long, long)}: a byte limit of a connection was reached. */
    CONNECTION_CUT,
    /** Legacy {@link FaultInjectingProxy#rejectRequestsContaining(String)}: a request carried the marker. */
    MARKER_REJECT
}
