package io.github.s3tiered.preupload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;

import org.junit.jupiter.api.Test;

import java.time.Duration;

/** The reuse window follows the checkpoint interval unless the operator sets it. */
class PreUploadSettingsTest {

    private static final long MINUTE = 60_000;

    @Test
    void withoutAnIntervalTheWindowIsTenMinutes() {
        assertThat(window(new Configuration())).isEqualTo(10 * MINUTE);
        assertThat(window(config("execution.checkpointing.interval", "1 s"))).isEqualTo(10 * MINUTE);
    }

    @Test
    void aLongIntervalGetsTwiceItsLength() {
        assertThat(window(config("execution.checkpointing.interval", "30 min"))).isEqualTo(60 * MINUTE);
        PreUploadSettings s = PreUploadSettings.from(config("execution.checkpointing.interval", "30 min"), 20_480);
        assertThat(s.orphanGraceMillis()).isEqualTo(120 * MINUTE);
    }

    @Test
    void theIntervalDuringBacklogCountsWhenItIsLonger() {
        Configuration c = config("execution.checkpointing.interval", "1 min");
        c.setString("execution.checkpointing.interval-during-backlog", "1 h");
        assertThat(window(c)).isEqualTo(120 * MINUTE);
    }

    @Test
    void anExplicitWindowIsKeptEvenWhenShorterThanTheInterval() {
        Configuration c = config("execution.checkpointing.interval", "1 h");
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ofMinutes(5));
        assertThat(window(c)).isEqualTo(5 * MINUTE);
    }

    @Test
    void aHugeIntervalOrWindowDoesNotOverflowTheGraceOrItsNanoseconds() {
        PreUploadSettings s = PreUploadSettings.from(config("execution.checkpointing.interval", "100000000 d"), 20_480);
        assertThat(s.orphanGraceMillis()).isPositive();
        assertThat(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(s.reuseWindowMillis())).isLessThan(Long.MAX_VALUE);
        Configuration c = new Configuration();
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ofDays(100_000_000));
        assertThat(PreUploadSettings.from(c, 20_480).orphanGraceMillis()).isPositive();
    }

    @Test
    void aZeroWindowIsRefusedNamingTheKey() {
        Configuration c = new Configuration();
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ZERO);
        assertThatThrownBy(() -> PreUploadSettings.from(c, 20_480)).isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("s3tiered.preupload.reuse-window");
    }

    private static long window(Configuration c) {
        return PreUploadSettings.from(c, 20_480).reuseWindowMillis();
    }

    private static Configuration config(String key, String value) {
        Configuration c = new Configuration();
        c.setString(key, value);
        return c;
    }
}
