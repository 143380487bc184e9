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
 * <p>They are chosen below the kernel's ephemeral range. A port from {@code new ServerSocket(0)}
 * lies in that range, and between the choice and the server's bind the kernel may give it to any
 * outgoing connection as its local end. CI saw it: a second cluster's JobManager could not bind
 * its REST port 40845 ("Could not start rest endpoint on any port"), and the test waited two
 * minutes for it. Below the range only a listener that binds the port by number can take it.
 *
 * <p>Invariant: no port is handed out twice in one JVM, so two servers of one test never share
 * one even when the first has not bound its port yet.
 */
public final class LoopbackPorts {

    /** Ports below this are left alone: well-known and registered services live there. */
    static final int LOWEST = 10_000;

    private static final Path EPHEMERAL_RANGE = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    /** Where the range cannot be read (not Linux), IANA's: 49152-65535; Linux's default starts at 32768. */
    private static final int DEFAULT_EPHEMERAL_START = 32_768;

    private static final Set<Integer> HANDED_OUT = new HashSet<>();

    private LoopbackPorts() {
    }

    /** A loopback port that nothing listens on now, outside the ephemeral range, never handed out before here. */
    public static synchronized int next() {
        int end = ephemeralStart();
        if (end - LOWEST < 1_000) {
            // a range that starts this low leaves no room: fall back to the kernel's choice
            return kernelChoice();
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = random.nextInt(LOWEST, end);
            if (!HANDED_OUT.contains(port) && bindable(port)) {
                HANDED_OUT.add(port);
                return port;
            }
        }
        throw new IllegalStateException("No free loopback port found in " + LOWEST + "-" + (end - 1) + " after 200 tries");
    }

    /** The first port of the kernel's ephemeral range. */
    static int ephemeralStart() {
        try {
            if (Files.isReadable(EPHEMERAL_RANGE)) {
                // not readString: it trusts the size procfs reports and returned "3" of "32768 60999" here
                String[] range = Files.readAllLines(EPHEMERAL_RANGE, StandardCharsets.US_ASCII).get(0).trim().split("\\s+");
                return Integer.parseInt(range[0]);
            }
        } catch (IOException | RuntimeException e) {
            // unreadable or unexpected: the default below
        }
        return DEFAULT_EPHEMERAL_START;
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
