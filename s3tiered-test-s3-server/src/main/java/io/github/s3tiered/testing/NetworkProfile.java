package io.github.s3tiered.testing;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;

/**
 * How far away the S3 server seems: latency before each response and bandwidth caps, applied by a
 * {@link FaultInjectingProxy} in front of it. {@code loopback} is the server as it is (no proxy);
 * {@code wan} is a region's S3 seen from a compute instance: about 20 ms to the first byte of every
 * response (S3's typical first-byte latency for small objects), 100 MiB/s per connection (what one
 * S3 connection sustains) and 1 GiB/s in all (a 10 Gbit/s instance link); {@code slow} is S3 far
 * away or behind a congested link: 100 ms to the first byte of every response, 20 MiB/s per
 * connection and 100 MiB/s in all (a shared 1 Gbit/s link).
 */
public enum NetworkProfile {
    LOOPBACK(Duration.ZERO, 0, 0),
    WAN(Duration.ofMillis(20), 100L << 20, 1L << 30),
    SLOW(Duration.ofMillis(100), 20L << 20, 100L << 20);

    private final Duration latency;
    private final long perConnectionBytesPerSecond;
    private final long totalBytesPerSecond;

    NetworkProfile(Duration latency, long perConnectionBytesPerSecond, long totalBytesPerSecond) {
        this.latency = latency;
        this.perConnectionBytesPerSecond = perConnectionBytesPerSecond;
        this.totalBytesPerSecond = totalBytesPerSecond;
    }

    /** The profile of a name such as "wan"; the error names the profiles there are. */
    public static NetworkProfile of(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Unknown network profile '" + name + "': expected one of "
                    + Arrays.stream(values()).map(p -> p.name().toLowerCase(Locale.ROOT)).toList(), e);
        }
    }

    /** Whether a proxy is needed to give the server this profile. */
    public boolean shaped() {
        return this != LOOPBACK;
    }

    /** Puts the latency and the caps on a proxy (again after its rules were cleared). */
    public void applyTo(FaultInjectingProxy proxy) {
        if (!latency.isZero()) {
            proxy.inject(FaultRule.onAny().delayResponse(latency));
        }
        proxy.limitBandwidth(perConnectionBytesPerSecond, totalBytesPerSecond);
    }

    @Override
    public String toString() {
        return shaped()
                ? String.format(Locale.ROOT, "%s (%d ms per response, %d MiB/s per connection, %d MiB/s in all)",
                        name().toLowerCase(Locale.ROOT), latency.toMillis(), perConnectionBytesPerSecond >> 20,
                        totalBytesPerSecond >> 20)
                : name().toLowerCase(Locale.ROOT) + " (no proxy)";
    }
}
