package io.github.s3tiered.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class NetworkProfileTest {

    @Test
    void namesAreReadWhateverTheirCaseAndUnknownOnesNameTheProfilesThereAre() {
        assertThat(NetworkProfile.of("loopback")).isEqualTo(NetworkProfile.LOOPBACK);
        assertThat(NetworkProfile.of(" WAN ")).isEqualTo(NetworkProfile.WAN);
        assertThat(NetworkProfile.of("Slow")).isEqualTo(NetworkProfile.SLOW);
        assertThatThrownBy(() -> NetworkProfile.of("lan"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'lan'")
                .hasMessageContaining("[loopback, wan, slow]");
    }

    @Test
    void onlyLoopbackRunsWithoutTheShapingProxyAndTheOthersSayWhatTheyShape() {
        assertThat(NetworkProfile.LOOPBACK.shaped()).isFalse();
        assertThat(NetworkProfile.LOOPBACK).hasToString("loopback (no proxy)");
        assertThat(NetworkProfile.WAN.shaped()).isTrue();
        assertThat(NetworkProfile.WAN).hasToString("wan (20 ms per response, 100 MiB/s per connection, 1024 MiB/s in all)");
        assertThat(NetworkProfile.SLOW.shaped()).isTrue();
        assertThat(NetworkProfile.SLOW).hasToString("slow (100 ms per response, 20 MiB/s per connection, 100 MiB/s in all)");
    }
}
