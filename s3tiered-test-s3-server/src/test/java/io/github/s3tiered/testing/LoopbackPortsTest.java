package io.github.s3tiered.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

class LoopbackPortsTest {

    @Test
    void portsAreDistinctBindableAndOutsideTheEphemeralRange() throws Exception {
        int[] ephemeral = LoopbackPorts.ephemeralRange();
        assumeTrue(ephemeral[0] - LoopbackPorts.LOWEST >= 1_000 || 65_535 - ephemeral[1] >= 1_000,
                "the ephemeral range " + ephemeral[0] + "-" + ephemeral[1] + " leaves no room: the kernel's choice is used");
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 500; i++) {
            int port = LoopbackPorts.next();
            assertThat(ports.add(port)).as("port %d handed out twice", port).isTrue();
            assertThat(port).as("a port in the ephemeral range %d-%d", ephemeral[0], ephemeral[1])
                    .satisfiesAnyOf(p -> assertThat(p).isLessThan(ephemeral[0]), p -> assertThat(p).isGreaterThan(ephemeral[1]));
        }
        int port = LoopbackPorts.next();
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            assertThat(s.getLocalPort()).isEqualTo(port);
        }
    }

    @Test
    void portsSomeoneListensOnAreNotHandedOut() throws Exception {
        // twenty ports in a row, every other one held by a listener: only the others come out, then none
        List<ServerSocket> held = new ArrayList<>();
        try {
            int base = freeBlock(20);
            Set<Integer> free = new HashSet<>();
            for (int p = base; p < base + 20; p++) {
                if ((p - base) % 2 == 0) {
                    held.add(listen(p));
                } else {
                    free.add(p);
                }
            }
            Set<Integer> picked = new HashSet<>();
            for (int i = 0; i < 10; i++) {
                picked.add(LoopbackPorts.pick(base, base + 20));
            }
            assertThat(picked).isEqualTo(free);
            assertThatThrownBy(() -> LoopbackPorts.pick(base, base + 20))
                    .hasMessageContaining("No free loopback port left in " + base + "-" + (base + 19));
        } finally {
            for (ServerSocket s : held) {
                s.close();
            }
        }
    }

    /** The first port of {@code n} in a row outside the ephemeral range, none handed out yet, that can all be bound now. */
    private static int freeBlock(int n) throws IOException {
        int[] ephemeral = LoopbackPorts.ephemeralRange();
        for (int base = LoopbackPorts.LOWEST; base + n <= 65_536; base += n) {
            if (base + n > ephemeral[0] && base <= ephemeral[1]) {
                continue;
            }
            int first = base;
            if (java.util.stream.IntStream.range(first, first + n).anyMatch(LoopbackPorts::handedOut)) {
                continue;
            }
            List<ServerSocket> probe = new ArrayList<>();
            try {
                for (int p = base; p < base + n; p++) {
                    probe.add(listen(p));
                }
                return base;
            } catch (IOException taken) {
                // try the next block
            } finally {
                for (ServerSocket s : probe) {
                    s.close();
                }
            }
        }
        throw new IllegalStateException("no " + n + " free ports in a row outside " + ephemeral[0] + "-" + ephemeral[1]);
    }

    private static ServerSocket listen(int port) throws IOException {
        ServerSocket s = new ServerSocket();
        try {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }
}
