package io.github.s3tiered.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Loopback ports for servers that a test starts in another process (S3Proxy, moto, a Flink
 * JobManager): the port is chosen here and bound there, later.
 *
 * <p>They are chosen outside the kernel's ephemeral range: below it, or above it where it starts
 * too low. A port from {@code new ServerSocket(0)} lies in that range, and between the choice and
 * the server's bind the kernel may give it to any outgoing connection as its local end. CI saw it:
 * a second cluster's JobManager could not bind its REST port 40845 ("Could not start rest endpoint
 * on any port"), and the test waited two minutes for it. Outside the range only a listener that
 * binds the port by number can take it.
 *
 * <p>Invariant: no port is handed out twice in one JVM, so two servers of one test never share
 * one even when the first has not bound its port yet.
 */
public final class LoopbackPorts {

    /** Ports below this are left alone: well-known and registered services live there. */
    static final int LOWEST = 10_000;

    private static final Path EPHEMERAL_RANGE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    /** Where the range cannot be read (not Linux): Linux's default start, below IANA's 49152. */
    private static final int DEFAULT_EPHEMERAL_START = 32_768;

    private static final Set<Integer> HANDED_OUT = new HashSet<>();

    private LoopbackPorts() {
    }

    /** A loopback port that nothing listens on now, outside the ephemeral range, never handed out before here. */
    public static synchronized int next() {
        int[] ephemeral = ephemeralRange();
        if (ephemeral[0] - LOWEST >= 1_000) {
            return pick(LOWEST, ephemeral[0]);
        }
        if (65_536 - (ephemeral[1] + 1) >= 1_000) {
            return pick(ephemeral[1] + 1, 65_536);
        }
        // a range as wide as this leaves no room outside it: the kernel's choice, with its race
        return kernelChoice();
    }

    /** A port of {@code [from, to)} that nothing listens on and that was not handed out before, from a random start. */
    static synchronized int pick(int from, int to) {
        int size = to - from;
        int start = ThreadLocalRandom.current().nextInt(size);
        for (int i = 0; i < size; i++) {
            int port = from + (start + i) % size;
            if (!HANDED_OUT.contains(port) && bindable(port)) {
                HANDED_OUT.add(port);
                return port;
            }
        }
        throw new IllegalStateException("No free loopback port left in " + from + "-" + (to - 1));
    }

    static synchronized boolean handedOut(int port) {
        return HANDED_OUT.contains(port);
    }

    /** The kernel's ephemeral range, first and last port. */
    static int[] ephemeralRange() {
        try {
            if (Files.isReadable(EPHEMERAL_RANGE)) {
                // not readString: it trusts the size procfs reports and returned "3" of "32768 60999" here
                String[] range = Files.readAllLines(EPHEMERAL_RANGE, StandardCharsets.US_ASCII).get(0).trim().split("\\s+");
                return new int[] {Integer.parseInt(range[0]), Integer.parseInt(range[1])};
            }
        } catch (IOException | RuntimeException e) {
            // unreadable or unexpected: the default below
        }
        return new int[] {DEFAULT_EPHEMERAL_START, 65_535};
    }

    private static boolean bindable(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int kernelChoice() {
        for (int attempt = 0; attempt < 200; attempt++) {
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                if (HANDED_OUT.add(s.getLocalPort())) {
                    return s.getLocalPort();
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Could not find a free loopback port", e);
            }
        }
        throw new IllegalStateException("The kernel offered only loopback ports handed out before, 200 times");
    }
}
