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
    void aMinimumPauseLongerThanTheIntervalCounts() {
        Configuration c = config("execution.checkpointing.interval", "1 min");
        c.setString("execution.checkpointing.min-pause", "20 min");
        assertThat(window(c)).isEqualTo(40 * MINUTE);
    }

    @Test
    void theInspectorsGraceCoversAWindowThenTheCheckpointTimeout() {
        // handed out up to a window after the upload, referenced once the checkpoint completes, plus a window of slack
        assertThat(PreUploadSettings.from(new Configuration(), 20_480).orphanSearchGraceMillis()).isEqualTo(30 * MINUTE);
        Configuration longTimeout = config("execution.checkpointing.timeout", "1 h");
        assertThat(PreUploadSettings.from(longTimeout, 20_480).orphanSearchGraceMillis()).isEqualTo(80 * MINUTE);
        assertThat(PreUploadSettings.from(config("execution.checkpointing.interval", "30 min"), 20_480)
                .orphanSearchGraceMillis()).isEqualTo(130 * MINUTE);
    }

    @Test
    void anExplicitWindowIsKeptEvenWhenShorterThanTheInterval() {
        Configuration c = config("execution.checkpointing.interval", "1 h");
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ofMinutes(5));
        assertThat(window(c)).isEqualTo(5 * MINUTE);
    }

    @Test
    void aHugeIntervalOrWindowDoesNotOverflowTheGraceOrItsNanoseconds() {
        Configuration huge = config("execution.checkpointing.interval", "100000000 d");
        huge.setString("execution.checkpointing.timeout", "100000000 d");
        PreUploadSettings s = PreUploadSettings.from(huge, 20_480);
        assertThat(s.orphanGraceMillis()).isPositive();
        assertThat(s.orphanSearchGraceMillis()).isPositive();
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

    /**
     * A TaskManager whose own configuration makes its window longer than the JobManager's (which
     * sweeps and records orphans by its own) reuses within the JobManager's; with pre-upload off in
     * the JobManager it reuses nothing.
     */
    @Test
    void aTaskReusesWithinTheShorterOfItsWindowAndTheJobManagers() {
        PreUploadSettings taskManagers = PreUploadSettings.from(config("execution.checkpointing.interval", "30 min"), 20_480);
        assertThat(taskManagers.reusedWithin(10 * MINUTE).reuseWindowMillis()).isEqualTo(10 * MINUTE);
        assertThat(taskManagers.reusedWithin(10 * MINUTE).enabled()).isTrue();
        assertThat(taskManagers.reusedWithin(90 * MINUTE)).isSameAs(taskManagers);
        assertThat(taskManagers.reusedWithin(-1).enabled()).isFalse();
        PreUploadSettings off = PreUploadSettings.from(config("s3tiered.preupload.enabled", "false"), 20_480);
        assertThat(off.reusedWithin(10 * MINUTE).enabled()).isFalse();
    }
}
