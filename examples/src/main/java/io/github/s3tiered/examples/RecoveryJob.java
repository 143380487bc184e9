package io.github.s3tiered.examples;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.io.Serializable;

/**
 * The keyed-state job of the examples, the demo and the recovery tests: a bounded sequence of
 * record indices, keyed by {@code index % keys}; each key keeps a ValueState (sum of values) and a
 * ListState (every index it saw); at the end of the input each key emits its final state, which
 * {@link ExpectedResults} checks against what a failure-free run must give.
 */
public final class RecoveryJob {

    /**
     * What to run.
     *
     * @param records number of input records
     * @param keys number of distinct keys
     * @param recordsPerSecond source rate limit (all subtasks together); 0 for none
     * @param failAfterRecords throw once, in the first attempt, after this many records (counted
     *     over all subtasks) and after a checkpoint completed; 0 for no failure
     * @param outputDir directory of the result files
     * @param failEveryCheckpoints instead of the one failure: fail every attempt below {@code
     *     failUntilAttempt} once this many checkpoints completed in it; 0 for the one failure
     * @param failUntilAttempt see {@code failEveryCheckpoints}
     * @param recordsPerCheckpoint at most this many records of a subtask until a checkpoint
     *     completes ({@link CheckpointGatedRate}): with {@code failEveryCheckpoints}, what one attempt
     *     moves the job on; 0 for no such bound
     */
    public record Settings(long records, int keys, double recordsPerSecond, long failAfterRecords, String outputDir,
            int failEveryCheckpoints, int failUntilAttempt, int recordsPerCheckpoint) implements Serializable {

        public Settings(long records, int keys, double recordsPerSecond, long failAfterRecords, String outputDir) {
            this(records, keys, recordsPerSecond, failAfterRecords, outputDir, 0, 0, 0);
        }

        /**
         * These settings with at most {@code recordsPerCheckpoint} records of a subtask until a
         * checkpoint completes. A test that cancels its job after some checkpoints, or needs one
         * before its failure point, then cannot run out of input first, however slow the host.
         */
        public Settings gatedEvery(int recordsPerCheckpoint) {
            return new Settings(records, keys, recordsPerSecond, failAfterRecords, outputDir, failEveryCheckpoints,
                    failUntilAttempt, recordsPerCheckpoint);
        }

        FailureInjector failureInjector() {
            return failEveryCheckpoints > 0
                    ? FailureInjector.repeatedly(failEveryCheckpoints, failUntilAttempt)
                    : new FailureInjector(failAfterRecords);
        }
    }

    private RecoveryJob() {}

    @SuppressWarnings({"rawtypes", "unchecked"}) // Flink 2.x's RateLimiterStrategy is generic, 1.20's is not
    public static void build(StreamExecutionEnvironment env, Settings s) {
        RateLimiterStrategy rate = s.recordsPerCheckpoint() > 0
                ? new CheckpointGatedRate(s.recordsPerSecond(), s.recordsPerCheckpoint())
                : s.recordsPerSecond() > 0 ? RateLimiterStrategy.perSecond(s.recordsPerSecond()) : RateLimiterStrategy.noOp();
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(index -> index, s.records(), rate, Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "sequence")
                .uid("sequence")
                .map(s.failureInjector())
                .uid("failure-injector")
                .name("failure-injector")
                .keyBy(new KeyOf(s.keys()))
                .process(new KeyedListAndSum())
                .uid("keyed-state")
                .name("keyed-state")
                .sinkTo(new ResultFileSink(s.outputDir()))
                .uid("results")
                .name("results");
    }

    /** The value a record adds to its key's sum. */
    static long valueOf(long index) {
        return (index * 2654435761L) % 1000;
    }

    /** An order-independent fingerprint of one index, summed over a key's list. */
    static long fingerprintOf(long index) {
        long z = index + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Record index i belongs to key {@code i % keys}: every key is visited once per round of the input. */
    public static final class KeyOf implements org.apache.flink.api.java.functions.KeySelector<Long, Long> {
        private final int keys;

        public KeyOf(int keys) {
            this.keys = keys;
        }

        @Override
        public Long getKey(Long index) {
            return index % keys;
        }
    }
}
