package io.github.s3tiered.inspector;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.apache.flink.util.Collector;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A small keyed job (DataGeneratorSource, keyBy, ValueState + ListState) whose checkpoints the
 * tests trigger one by one, so that what is on disk is known: the checkpoint ids and a savepoint.
 */
final class CheckpointingJob {

    static final int PARALLELISM = 2;
    static final int KEYS = 500;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** What a finished job left behind; {@code savepoint} is the first of {@code savepoints}, or null. */
    record Result(JobID jobId, Path jobDir, List<String> checkpoints, String savepoint, List<String> savepoints) {}

    private CheckpointingJob() {}

    /**
     * Job configuration: RocksDB incremental, checkpoints retained on cancellation, triggered by the
     * test (the interval is long), every state chunk in a file (no inline state, so that files are
     * what the inspector checks).
     */
    static Configuration config(Path checkpointBase, Map<String, String> extra) {
        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        conf.setString("execution.checkpointing.incremental", "true");
        conf.setString("execution.checkpointing.dir", checkpointBase.toUri().toString());
        conf.setString("execution.checkpointing.interval", "1h");
        conf.setString("execution.checkpointing.num-retained", "3");
        conf.setString("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        conf.setString("execution.checkpointing.data-inline-threshold", "0b");
        conf.setString("restart-strategy.type", "none");
        extra.forEach(conf::setString);
        return conf;
    }

    /**
     * Runs the job, triggers {@code checkpoints} checkpoints (each after {@code warmUp} and once
     * {@link #KEYS} records passed since the last) and,
     * if asked, a savepoint into the job's own directory, then cancels it.
     */
    static Result run(MiniCluster cluster, Configuration conf, boolean slowConsumer, int checkpoints, Duration warmUp,
            boolean savepoint) throws Exception {
        return run(cluster, conf, slowConsumer, checkpoints, warmUp,
                savepoint ? List.of(SavepointFormatType.CANONICAL) : List.of());
    }

    /** As above, with a savepoint of each given format after the checkpoints. */
    static Result run(MiniCluster cluster, Configuration conf, boolean slowConsumer, int checkpoints, Duration warmUp,
            List<SavepointFormatType> savepointFormats) throws Exception {
        // bound to the test's cluster explicitly: in @BeforeAll the extension has not set its context environment yet
        StreamExecutionEnvironment env = new TestStreamEnvironment(cluster, conf, PARALLELISM, List.of(), List.of());
        // the slow consumer backpressures an unthrottled source: buffers fill, unaligned checkpoints carry them
        var rate = slowConsumer ? RateLimiterStrategy.noOp() : RateLimiterStrategy.perSecond(4000); // generic in 2.x only
        DataGeneratorSource<Long> source = new DataGeneratorSource<>(i -> i, Long.MAX_VALUE, rate, Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers").uid("numbers")
                .keyBy(v -> v % KEYS)
                .process(new CountAndRemember(slowConsumer)).uid("count").name("count")
                .sinkTo(new DiscardingSink<>()).uid("sink");
        JobClient client = env.executeAsync("inspector-fixture");
        JobID id = client.getJobID();
        Path jobDir = Path.of(java.net.URI.create(conf.getString("execution.checkpointing.dir", null))).resolve(id.toString());
        try {
            waitUntilRunning(client);
            List<String> done = new ArrayList<>();
            long processed = CountAndRemember.PROCESSED.get();
            for (int i = 0; i < checkpoints; i++) {
                processed = warmUp(warmUp, processed, id);
                done.add(triggerCheckpoint(cluster, id));
            }
            List<String> savepoints = new ArrayList<>();
            for (SavepointFormatType format : savepointFormats) {
                processed = warmUp(warmUp, processed, id);
                savepoints.add(cluster.triggerSavepoint(id, jobDir.toUri().toString(), false, format)
                        .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
            }
            return new Result(id, jobDir, done, savepoints.isEmpty() ? null : savepoints.get(0), savepoints);
        } finally {
            client.cancel().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (!status(client).isGloballyTerminalState() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
        }
    }

    /**
     * Waits {@code warmUp}, and until the job has processed {@link #KEYS} records since {@code
     * processedBefore} (RUNNING is the job's status, not its tasks': on a slow host the first
     * checkpoint could otherwise come before any record, and the next one a moment later). Returns
     * the count now.
     */
    private static long warmUp(Duration warmUp, long processedBefore, JobID id) throws InterruptedException {
        Thread.sleep(warmUp.toMillis());
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (CountAndRemember.PROCESSED.get() < processedBefore + KEYS) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Job " + id + " processed " + (CountAndRemember.PROCESSED.get()
                        - processedBefore) + " records in " + TIMEOUT + ", fewer than " + KEYS);
            }
            Thread.sleep(20);
        }
        return CountAndRemember.PROCESSED.get();
    }

    private static void waitUntilRunning(JobClient client) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (status(client) != JobStatus.RUNNING) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Job " + client.getJobID() + " not running after " + TIMEOUT);
            }
            Thread.sleep(50);
        }
    }

    /** The job's status; INITIALIZING while the dispatcher does not know the job yet. */
    private static JobStatus status(JobClient client) {
        try {
            return client.getJobStatus().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (Exception e) {
            return JobStatus.INITIALIZING;
        }
    }

    /** Retries while tasks are still starting (the coordinator refuses to trigger until all run). */
    private static String triggerCheckpoint(MiniCluster cluster, JobID id) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            try {
                return cluster.triggerCheckpoint(id).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
    }

    /**
     * Counts per key and keeps the last few values: ValueState, ListState and MapState, and event-time
     * timers that never fire (no watermarks), so that every kind of keyed state is in each snapshot.
     */
    static final class CountAndRemember extends KeyedProcessFunction<Long, Long, Long> {

        /** Records processed by every instance in this JVM (the MiniCluster's): what the warm-up waits for. */
        static final java.util.concurrent.atomic.AtomicLong PROCESSED = new java.util.concurrent.atomic.AtomicLong();

        private final boolean slow;
        private transient ValueState<Long> count;
        private transient ListState<Long> recent;
        private transient org.apache.flink.api.common.state.MapState<Long, String> bySlot;

        CountAndRemember(boolean slow) {
            this.slow = slow;
        }

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            recent = getRuntimeContext().getListState(new ListStateDescriptor<>("recent", Types.LONG));
            bySlot = getRuntimeContext().getMapState(
                    new org.apache.flink.api.common.state.MapStateDescriptor<>("by-slot", Types.LONG, Types.STRING));
        }

        @Override
        public void processElement(Long value, Context ctx, Collector<Long> out) throws Exception {
            long c = count.value() == null ? 1 : count.value() + 1;
            count.update(c);
            if (c % 4 == 0) {
                recent.clear();
            }
            recent.add(value);
            bySlot.put(c % 3, "v" + value);
            if (c % 4 == 1) {
                ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE - 1 - (c % 5));
            }
            if (slow) {
                Thread.sleep(1);
            }
            PROCESSED.incrementAndGet();
            out.collect(c);
        }
    }
}
