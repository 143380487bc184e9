package io.github.s3tiered.testing;

import java.time.Duration;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * A fault for {@link FaultInjectingProxy#inject(FaultRule)}: which requests it matches (operation,
 * key, predicate), which of the matching requests it selects ({@link #always()}, {@link #nth(long)},
 * {@link #withProbability(double, long)}), at most how many times it fires ({@link #times(long)}),
 * and one action. Built fluently, for example:
 *
 * <pre>{@code
 * proxy.inject(FaultRule.on(S3Operation.GET_OBJECT).keyMatching(".*_metadata").nth(2).slowDown());
 * proxy.inject(FaultRule.on(S3Operation.UPLOAD_PART).withProbability(0.1, 42).resetAfterRequestBytes(4096));
 * proxy.inject(FaultRule.onAny().delayResponse(Duration.ofMillis(20)));
 * }</pre>
 *
 * <p>Every rule counts the requests its filter matches on its own, so {@code nth(3)} is the third
 * matching request since the rule was injected, whatever other rules did to the first two. When
 * several rules select one request, the first injected wins, except that {@link #delayResponse}
 * rules add up and combine with any other action. A selected action that cannot apply (a
 * response body no longer than the byte count of {@link #resetAfterResponseBytes}) leaves the
 * request unharmed and does not count as fired.
 *
 * <p>The builder methods can be called until the rule is injected; after that it is frozen and
 * only {@link #timesFired()} changes. A rule can be injected once (into one proxy); build a new
 * one to inject it again.
 */
public final class FaultRule {

    private enum Selection { ALWAYS, NTH, PROBABILITY }

    private final Set<S3Operation> operations; // null: any
    private Pattern keyPattern;
    private Predicate<ProxiedRequest> predicate;
    private Selection selection = Selection.ALWAYS;
    private long nth;
    private double probability;
    private Random random;
    private long limit = -1;

    private FaultAction action;
    private int status;
    private String code;
    private String message;
    private long bytes;
    private Duration duration = Duration.ZERO;

    private volatile boolean frozen; // set when injected
    private long matched; // guarded by this
    private final AtomicLong fired = new AtomicLong();

    private FaultRule(Set<S3Operation> operations) {
        this.operations = operations;
    }

    /** A rule for requests of these operations (at least one). */
    public static FaultRule on(S3Operation operation, S3Operation... more) {
        return new FaultRule(EnumSet.of(Objects.requireNonNull(operation), more));
    }

    /** A rule for every request, whatever its operation. */
    public static FaultRule onAny() {
        return new FaultRule(null);
    }

    // ---- filters ---------------------------------------------------------------------------

    /** Only requests whose decoded {@link ProxiedRequest#key() key} matches this regex entirely. */
    public FaultRule keyMatching(String regex) {
        checkNotFrozen();
        this.keyPattern = Pattern.compile(regex);
        return this;
    }

    /** Only requests that also satisfy this predicate (called on the connection's thread). */
    public FaultRule matching(Predicate<ProxiedRequest> predicate) {
        checkNotFrozen();
        this.predicate = Objects.requireNonNull(predicate);
        return this;
    }

    // ---- selection -------------------------------------------------------------------------

    /** Selects every matching request (the default). */
    public FaultRule always() {
        checkNotFrozen();
        this.selection = Selection.ALWAYS;
        return this;
    }

    /** Selects only the n-th matching request (1-based): fires at most once. */
    public FaultRule nth(long n) {
        checkNotFrozen();
        if (n < 1) {
            throw new IllegalArgumentException("n starts at 1: " + n);
        }
        this.selection = Selection.NTH;
        this.nth = n;
        return this;
    }

    /**
     * Selects each matching request with this probability, drawn from a {@link Random} with this
     * seed: the k-th matching request gets the same decision in every run (which request is k-th
     * depends on arrival order when connections run in parallel).
     */
    public FaultRule withProbability(double probability, long seed) {
        checkNotFrozen();
        if (!(probability >= 0 && probability <= 1)) {
            throw new IllegalArgumentException("probability outside [0, 1]: " + probability);
        }
        this.selection = Selection.PROBABILITY;
        this.probability = probability;
        this.random = new Random(seed);
        return this;
    }

    /** Fires at most this many times (default: no limit). */
    public FaultRule times(long maxFires) {
        checkNotFrozen();
        if (maxFires < 0) {
            throw new IllegalArgumentException("negative limit: " + maxFires);
        }
        this.limit = maxFires;
        return this;
    }

    // ---- actions ---------------------------------------------------------------------------

    /**
     * Answers with an S3 error (XML body with Code, Message, Resource, RequestId) without
     * forwarding the request. A request body is read and dropped first (after a {@code 100
     * Continue} if the client asked for one), so the connection stays usable.
     */
    public FaultRule respond(int status, String code, String message) {
        if (status < 200 || status > 599) {
            throw new IllegalArgumentException("not a final status: " + status);
        }
        setAction(FaultAction.RESPOND_ERROR);
        this.status = status;
        this.code = Objects.requireNonNull(code);
        this.message = Objects.requireNonNull(message);
        return this;
    }

    /** {@link #respond(int, String, String)} with a standard message for well-known codes. */
    public FaultRule respond(int status, String code) {
        return respond(status, code, defaultMessage(code));
    }

    /** 503 SlowDown, S3's throttling answer. */
    public FaultRule slowDown() {
        return respond(503, "SlowDown");
    }

    /** 500 InternalError. */
    public FaultRule internalError() {
        return respond(500, "InternalError");
    }

    /** 429 TooManyRequests (what some S3-compatible stores send instead of 503 SlowDown). */
    public FaultRule tooManyRequests() {
        return respond(429, "TooManyRequests");
    }

    /** Resets the connection as soon as the request head arrives: the server never sees it. */
    public FaultRule resetWithoutForwarding() {
        setAction(FaultAction.RESET_WITHOUT_FORWARDING);
        return this;
    }

    /**
     * Forwards the whole request, waits for the server's response head, and resets the
     * connection instead of passing it on: the server did the work, the client never learns.
     */
    public FaultRule resetBeforeResponse() {
        setAction(FaultAction.RESET_BEFORE_RESPONSE);
        return this;
    }

    /**
     * Forwards the request head and the first {@code n} bytes of its body (as on the wire, chunk
     * framing included), then resets the connection: an upload broken midway. Requests whose
     * body is not longer than {@code n} pass unharmed.
     */
    public FaultRule resetAfterRequestBytes(long n) {
        setAction(FaultAction.RESET_AFTER_REQUEST_BYTES);
        this.bytes = requireNonNegative(n);
        return this;
    }

    /**
     * Passes the response head and the first {@code n} bytes of its body on (as on the wire,
     * chunk framing included), then resets the connection: a download broken midway. Responses
     * whose body is not longer than {@code n} pass unharmed.
     */
    public FaultRule resetAfterResponseBytes(long n) {
        setAction(FaultAction.RESET_AFTER_RESPONSE_BYTES);
        this.bytes = requireNonNegative(n);
        return this;
    }

    /**
     * Forwards the request with the body byte at {@code offset} (as on the wire, chunk framing
     * included) inverted, and everything else unchanged: a body altered between client and server
     * that still arrives whole. Requests whose body is not longer than {@code offset} pass unharmed.
     */
    public FaultRule flipRequestByte(long offset) {
        setAction(FaultAction.FLIP_REQUEST_BYTE);
        this.bytes = requireNonNegative(offset);
        return this;
    }

    /**
     * Passes the response on with the body byte at {@code offset} (as on the wire, chunk framing
     * included) inverted: a download altered on the way that still arrives whole. Responses whose
     * body is not longer than {@code offset} pass unharmed.
     */
    public FaultRule flipResponseByte(long offset) {
        setAction(FaultAction.FLIP_RESPONSE_BYTE);
        this.bytes = requireNonNegative(offset);
        return this;
    }

    /** Holds the request this long, then forwards it. */
    public FaultRule stallRequest(Duration duration) {
        return stall(FaultAction.STALL_REQUEST, duration);
    }

    /** Holds the request this long, then resets the connection without forwarding it. */
    public FaultRule stallRequestThenReset(Duration duration) {
        return stall(FaultAction.STALL_REQUEST_THEN_RESET, duration);
    }

    /** Holds the server's response this long (once its head arrived), then passes it on. */
    public FaultRule stallResponse(Duration duration) {
        return stall(FaultAction.STALL_RESPONSE, duration);
    }

    /** Holds the server's response this long, then resets the connection instead of passing it on. */
    public FaultRule stallResponseThenReset(Duration duration) {
        return stall(FaultAction.STALL_RESPONSE_THEN_RESET, duration);
    }

    /**
     * Adds this delay before the first byte of every selected final response (forwarded or
     * answered by the proxy). Combines with other rules: delays of several matching rules add up.
     */
    public FaultRule delayResponse(Duration duration) {
        return stall(FaultAction.LATENCY, duration);
    }

    // ---- state -----------------------------------------------------------------------------

    /** The action, or null while none is set. */
    public FaultAction action() {
        return action;
    }

    /** How many times this rule fired (was applied to a request). */
    public long timesFired() {
        return fired.get();
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("FaultRule[")
                .append(operations == null ? "any" : operations.toString());
        if (keyPattern != null) {
            s.append(" key~").append(keyPattern.pattern());
        }
        switch (selection) {
            case NTH:
                s.append(" nth=").append(nth);
                break;
            case PROBABILITY:
                s.append(" p=").append(probability);
                break;
            default:
                s.append(" always");
        }
        if (limit >= 0) {
            s.append(" times=").append(limit);
        }
        s.append(' ').append(action);
        if (action == FaultAction.RESPOND_ERROR) {
            s.append(' ').append(status).append(' ').append(code);
        } else if (action == FaultAction.RESET_AFTER_REQUEST_BYTES || action == FaultAction.RESET_AFTER_RESPONSE_BYTES
                || action == FaultAction.FLIP_REQUEST_BYTE || action == FaultAction.FLIP_RESPONSE_BYTE) {
            s.append(' ').append(bytes);
        } else if (!duration.isZero()) {
            s.append(' ').append(duration);
        }
        return s.append(" fired=").append(fired.get()).append(']').toString();
    }

    // ---- used by the proxy -----------------------------------------------------------------

    /** Checks the rule is complete and never injected before, and freezes it. */
    synchronized void freeze() {
        if (action == null) {
            throw new IllegalStateException("the rule has no action: " + this);
        }
        if (frozen) {
            throw new IllegalStateException("a rule can be injected once: " + this);
        }
        frozen = true;
    }

    boolean matches(ProxiedRequest request) {
        return (operations == null || operations.contains(request.operation()))
                && (keyPattern == null || keyPattern.matcher(request.key()).matches())
                && (predicate == null || predicate.test(request));
    }

    /** Counts one matching request and says whether the rule selects it. */
    synchronized boolean selects() {
        matched++;
        switch (selection) {
            case NTH:
                return matched == nth;
            case PROBABILITY:
                return random.nextDouble() < probability;
            default:
                return true;
        }
    }

    /** Takes one firing within the limit. */
    boolean tryReserve() {
        while (true) {
            long now = fired.get();
            if (limit >= 0 && now >= limit) {
                return false;
            }
            if (fired.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    /** Gives back a firing that did not apply. */
    void release() {
        fired.decrementAndGet();
    }

    int status() {
        return status;
    }

    String code() {
        return code;
    }

    String message() {
        return message;
    }

    long bytes() {
        return bytes;
    }

    Duration duration() {
        return duration;
    }

    private FaultRule stall(FaultAction stallAction, Duration duration) {
        if (duration == null || duration.isNegative()) {
            throw new IllegalArgumentException("duration must be >= 0: " + duration);
        }
        setAction(stallAction);
        this.duration = duration;
        return this;
    }

    private void setAction(FaultAction newAction) {
        checkNotFrozen();
        if (action != null) {
            throw new IllegalStateException("the rule already has an action: " + action);
        }
        this.action = newAction;
    }

    private void checkNotFrozen() {
        if (frozen) {
            throw new IllegalStateException("the rule was injected already: " + this);
        }
    }

    private static long requireNonNegative(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("negative byte count: " + n);
        }
        return n;
    }

    private static String defaultMessage(String code) {
        switch (code) {
            case "SlowDown":
                return "Please reduce your request rate.";
            case "InternalError":
                return "We encountered an internal error. Please try again.";
            case "ServiceUnavailable":
                return "Service is unable to handle request.";
            case "TooManyRequests":
                return "Too many requests, please reduce your request rate.";
            case "NoSuchKey":
                return "The specified key does not exist.";
            case "AccessDenied":
                return "Access Denied";
            case "RequestTimeout":
                return "Your socket connection to the server was not read from or written to within the timeout period.";
            default:
                return code;
        }
    }
}
