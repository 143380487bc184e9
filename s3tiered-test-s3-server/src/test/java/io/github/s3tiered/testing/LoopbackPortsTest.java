package io.github.s3tiered.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

class LoopbackPortsTest {

    @Test
    void portsAreDistinctBindableAndBelowTheEphemeralRange() throws Exception {
        int ephemeralStart = LoopbackPorts.ephemeralStart();
        Set<Integer> ports = new HashSet<>();
        for (int i = 0; i < 500; i++) {
            int port = LoopbackPorts.next();
            assertThat(ports.add(port)).as("port %d handed out twice", port).isTrue();
            if (ephemeralStart - LoopbackPorts.LOWEST >= 1_000) {
                assertThat(port).isBetween(LoopbackPorts.LOWEST, ephemeralStart - 1);
            }
        }
        int port = LoopbackPorts.next();
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            assertThat(s.getLocalPort()).isEqualTo(port);
        }
    }

    @Test
    void aPortSomeoneListensOnIsNotHandedOut() throws Exception {
        // hold many ports of the range; none of them may come back
        Set<Integer> held = new HashSet<>();
        Set<ServerSocket> sockets = new HashSet<>();
        try {
            for (int p = LoopbackPorts.LOWEST; p < LoopbackPorts.LOWEST + 2_000; p++) {
                try {
                    ServerSocket s = new ServerSocket();
                    s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), p));
                    sockets.add(s);
                    held.add(p);
                } catch (java.io.IOException taken) {
                    // someone else's: not handed out either, as the test checks
                }
            }
            for (int i = 0; i < 200; i++) {
                assertThat(held).doesNotContain(LoopbackPorts.next());
            }
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }
}
