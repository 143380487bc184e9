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
    void boundsAJobAsksForThatTheSharedUploaderDoesNotApplyAreNamed() {
        PreUploadSettings defaults = PreUploadSettings.from(new Configuration(), 20_480);
        assertThat(SstPreUploader.boundsNotApplied(defaults, defaults.maxConcurrent(), defaults.maxQueuedBytes())).isNull();

        Configuration more = config("s3tiered.preupload.max-concurrent", "8");
        String told = SstPreUploader.boundsNotApplied(PreUploadSettings.from(more, 20_480), 2, defaults.maxQueuedBytes());
        assertThat(told).contains("s3tiered.preupload.max-concurrent: 8 (in use: 2)")
                .doesNotContain("max-queued-bytes").contains("TaskManager's configuration file");
    }

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
    void withoutCheckpointingNothingIsUploadedAhead() {
        // the backend and storage named in config.yaml for every job, and a job without checkpoints:
        // nothing would ever refer to the uploads
        assertThat(PreUploadSettings.from(new Configuration(), 20_480).enabled()).isFalse();
        assertThat(PreUploadSettings.from(config("execution.checkpointing.interval", "0 ms"), 20_480).enabled()).isFalse();
        assertThat(PreUploadSettings.from(config("execution.checkpointing.interval", "1 min"), 20_480).enabled()).isTrue();
        Configuration off = config("execution.checkpointing.interval", "1 min");
        off.set(PreUploadOptions.ENABLED, false);
        assertThat(PreUploadSettings.from(off, 20_480).enabled()).isFalse();
    }

    @Test
    void anExplicitWindowIsKeptEvenWhenShorterThanTheInterval() {
        Configuration c = config("execution.checkpointing.interval", "1 h");
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ofMinutes(5));
        assertThat(window(c)).isEqualTo(5 * MINUTE);
    }

    /** What this class logs while {@code action} runs, as "LEVEL message". */
    private static java.util.List<String> logged(Runnable action) {
        return io.github.s3tiered.testing.CapturedLogs.during(PreUploadSettings.class, action::run);
    }

    @Test
    void aWindowShorterThanTheIntervalIsWarnedAboutOncePerProcess() {
        // an interval no other test (or rerun) uses: the warning is logged once per process and message
        long minutes = 1_000 + System.nanoTime() % 1_000_000;
        Configuration c = config("execution.checkpointing.interval", minutes + " min");
        c.set(PreUploadOptions.REUSE_WINDOW, Duration.ofMinutes(7));
        java.util.List<String> first = logged(() -> PreUploadSettings.from(c, 20_480));
        assertThat(first).singleElement().asString().startsWith("WARN s3tiered.preupload.reuse-window (420000 ms) is shorter"
                + " than the time between checkpoints (" + minutes * MINUTE + " ms)");
        assertThat(logged(() -> PreUploadSettings.from(c, 20_480))).isEmpty();
        // as long as the interval: nothing to warn about
        Configuration fits = config("execution.checkpointing.interval", "7 min");
        fits.set(PreUploadOptions.REUSE_WINDOW, Duration.ofMinutes(7));
        assertThat(logged(() -> PreUploadSettings.from(fits, 20_480))).noneMatch(e -> e.startsWith("WARN"));
    }

    @Test
    void aTaskManagerWindowLongerThanTheJobManagersIsWarnedAbout() {
        long minutes = 1_000 + System.nanoTime() % 1_000_000; // as above: a window no other test or rerun has
        PreUploadSettings taskManagers = PreUploadSettings.from(config("execution.checkpointing.interval", minutes + " min"),
                20_480);
        assertThat(logged(() -> taskManagers.reusedWithin(11 * MINUTE))).singleElement().asString()
                .startsWith("WARN Uploads ahead of checkpoints are reused within the JobManager's window (660000 ms), shorter"
                        + " than this TaskManager's (" + 2 * minutes * MINUTE + " ms)");
        assertThat(logged(() -> taskManagers.reusedWithin(11 * MINUTE))).isEmpty();
        assertThat(logged(() -> taskManagers.reusedWithin(4 * minutes * MINUTE))).isEmpty();
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

    @Test
    void aSmallNumberWithoutAUnitIsRefusedNamingTheKeyAndBothReadings() {
        // Flink reads them as 60 ms and 512 bytes: the window would be gone, and every file over the bound
        assertThatThrownBy(() -> PreUploadSettings.from(config("s3tiered.preupload.reuse-window", "60"), 20_480))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("s3tiered.preupload.reuse-window").hasMessageContaining("60 ms").hasMessageContaining("'60 s'");
        assertThatThrownBy(() -> PreUploadSettings.from(config("s3tiered.preupload.max-queued-bytes", "512"), 20_480))
                .isInstanceOf(IllegalConfigurationException.class)
                .hasMessageContaining("s3tiered.preupload.max-queued-bytes").hasMessageContaining("512 bytes");
        assertThat(window(config("s3tiered.preupload.reuse-window", "60 s"))).isEqualTo(60_000);
        assertThat(window(config("s3tiered.preupload.reuse-window", "120000"))).isEqualTo(120_000);
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

    /**
     * While the JobManager holds reuse back (its grace record for the inspector not yet durable), a
     * checkpoint reuses nothing, the RocksDB instances go on uploading ahead, and nothing says that
     * pre-upload is off in the JobManager, which it is not.
     */
    @Test
    void whileTheJobManagerHoldsReuseBackNothingIsReusedAndNothingUploadedAhead() {
        String shared = "s3tiered://bucket/held-" + System.nanoTime() + "/shared";
        JobManagerReuseWindows.received(shared, JobManagerReuseWindows.HELD);
        assertThat(JobManagerReuseWindows.last(shared)).isEqualTo(JobManagerReuseWindows.HELD);
        assertThat(JobManagerReuseWindows.preUploadOff(shared)).as("an upload begun now would never be reused").isTrue();
        PreUploadSettings taskManagers = PreUploadSettings.from(config("execution.checkpointing.interval", "30 min"), 20_480);
        java.util.List<String> logs = logged(() -> assertThat(taskManagers.reusedWithin(JobManagerReuseWindows.HELD).enabled())
                .as("this checkpoint reuses nothing").isFalse());
        assertThat(logs).noneMatch(e -> e.startsWith("WARN"));

        long before = System.nanoTime();
        JobManagerReuseWindows.received(shared, 10 * MINUTE); // the record is durable: the window comes
        long after = System.nanoTime();
        assertThat(JobManagerReuseWindows.preUploadOff(shared)).as("uploads ahead from now on").isFalse();
        assertThat(taskManagers.reusedWithin(JobManagerReuseWindows.last(shared)).enabled()).isTrue();
        // ... for uploads begun from then on: one made while reuse was held may have outlived an
        // earlier run's record, which the inspector went by meanwhile
        long since = JobManagerReuseWindows.reusableSinceNanos(shared);
        assertThat(since).isBetween(before, after);
        long checkedAt = System.nanoTime();
        PreUploadSettings applied = taskManagers.reusedWithin(JobManagerReuseWindows.last(shared)).reusedSince(since);
        long elapsedMillis = (System.nanoTime() - since) / 1_000_000;
        if (applied.enabled()) {
            assertThat(applied.reuseWindowMillis()).isLessThanOrEqualTo(Math.max(1, elapsedMillis));
        } else {
            assertThat((checkedAt - since) / 1_000_000).as("nothing reusable in the same millisecond").isZero();
        }
        JobManagerReuseWindows.received(shared, 10 * MINUTE);
        assertThat(JobManagerReuseWindows.reusableSinceNanos(shared)).as("from the first window after the hold").isEqualTo(since);
        JobManagerReuseWindows.received(shared, JobManagerReuseWindows.NONE);
        assertThat(JobManagerReuseWindows.preUploadOff(shared)).as("off in the JobManager: no uploads ahead").isTrue();

        String neverHeld = "s3tiered://bucket/never-held-" + System.nanoTime() + "/shared";
        JobManagerReuseWindows.received(neverHeld, 10 * MINUTE);
        assertThat(JobManagerReuseWindows.reusableSinceNanos(neverHeld)).isEqualTo(Long.MIN_VALUE);
        PreUploadSettings windowed = taskManagers.reusedWithin(10 * MINUTE);
        assertThat(windowed.reusedSince(Long.MIN_VALUE)).isSameAs(windowed);
    }

    /**
     * When the last RocksDB instance uploading ahead for a job directory closes on this
     * TaskManager, the window its JobManager sent is forgotten (a later run of the job id starts as
     * on a new TaskManager, and the maps do not keep every job ever run here); a JobManager holding
     * reuse back stays held across it.
     */
    @Test
    void theLastInstanceClosingForgetsTheWindowButNotAHold() {
        String shared = "s3tiered://bucket/runs-" + System.nanoTime() + "/shared";
        JobManagerReuseWindows.listenerOpened(shared);
        JobManagerReuseWindows.listenerOpened(shared);
        JobManagerReuseWindows.received(shared, JobManagerReuseWindows.HELD);
        JobManagerReuseWindows.received(shared, 10 * MINUTE);
        JobManagerReuseWindows.listenerClosed(shared);
        assertThat(JobManagerReuseWindows.last(shared)).as("one instance still open").isEqualTo(10 * MINUTE);
        JobManagerReuseWindows.listenerClosed(shared);
        assertThat(JobManagerReuseWindows.last(shared)).isEqualTo(JobManagerReuseWindows.NONE);
        assertThat(JobManagerReuseWindows.reusableSinceNanos(shared)).isEqualTo(Long.MIN_VALUE);
        assertThat(JobManagerReuseWindows.preUploadOff(shared)).as("the next instance uploads ahead at once").isFalse();

        JobManagerReuseWindows.listenerOpened(shared);
        JobManagerReuseWindows.received(shared, JobManagerReuseWindows.HELD);
        JobManagerReuseWindows.listenerClosed(shared);
        JobManagerReuseWindows.listenerClosed(shared); // a close more than opened changes nothing
        assertThat(JobManagerReuseWindows.last(shared)).isEqualTo(JobManagerReuseWindows.HELD);
        assertThat(JobManagerReuseWindows.reusableSinceNanos(shared)).isEqualTo(Long.MAX_VALUE);
        assertThat(JobManagerReuseWindows.preUploadOff(shared)).isTrue();
    }

    /** Reuse limited to uploads begun since a time: the window shortened to the time since, never lengthened. */
    @Test
    void reuseSinceATimeShortensTheWindowToTheTimeSince() {
        PreUploadSettings taskManagers = PreUploadSettings.from(config("execution.checkpointing.interval", "30 min"), 20_480);
        long twoMinutesAgo = System.nanoTime() - 2 * MINUTE * 1_000_000;
        PreUploadSettings recent = taskManagers.reusedSince(twoMinutesAgo);
        assertThat(recent.enabled()).isTrue();
        assertThat(recent.reuseWindowMillis()).isBetween(2 * MINUTE, 2 * MINUTE + 60_000);
        assertThat(taskManagers.reusedSince(System.nanoTime() - 90 * MINUTE * 1_000_000)).as("longer ago than the window")
                .isSameAs(taskManagers);
        assertThat(taskManagers.reusedSince(System.nanoTime() + 1_000_000_000L).enabled()).as("not yet: nothing").isFalse();
        PreUploadSettings off = PreUploadSettings.from(config("s3tiered.preupload.enabled", "false"), 20_480);
        assertThat(off.reusedSince(twoMinutesAgo)).isSameAs(off);
    }
}
