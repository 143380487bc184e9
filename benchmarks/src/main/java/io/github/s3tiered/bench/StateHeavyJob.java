package io.github.s3tiered.bench;

import io.github.s3tiered.examples.FailureInjector;
import io.github.s3tiered.examples.RecoveryJob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.SplittableRandom;

/**
 * The benchmark's job: {@code keys x visits} records; each visit appends an incompressible payload
 * to its key's ListState, so RocksDB holds about {@code keys x visits x payload} bytes at the end and
 * every checkpoint uploads the SST files written since the last one. One failure is injected
 * after {@code failAfter} records (and after a checkpoint completed).
 *
 * <p>With {@link StateShape#VALUE} each visit instead overwrites its key's ValueState with the
 * payload: the state stays about {@code keys x payload} bytes while every flush writes new
 * versions and RocksDB's compactions drop the ones replaced, rewriting files the checkpoints
 * before referenced (where the ListState mostly adds files).
 *
 * <p>In the runs with faults, once it has seen all its visits, each key reports what its ListState holds (count and a digest
 * of the payloads) into {@link FinalStates}, so a run can tell whether the state it ended with is
 * exact after the restores it went through. A key complete before the last restore is not read
 * again after it; the injected failure comes before most keys are complete.
 */
final class StateHeavyJob {

    private StateHeavyJob() {}

    /** What each visit does to its key's state. */
    enum StateShape {
        /** Appends the payload to a ListState: the state grows through the run. */
        LIST,
        /** Overwrites a ValueState with the payload: the state's size stays, RocksDB compacts. */
        VALUE;

        static StateShape parse(String name) {
            for (StateShape s : values()) {
                if (s.name().equalsIgnoreCase(name)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("--state " + name + ": expected list or value");
        }
    }

    /**
     * The job; with {@code checkState} each key also counts its appends (a ValueState: one more
     * RocksDB read and write per record) and reports its state once complete, for the fault runs.
     */
    static void build(StreamExecutionEnvironment env, StateShape shape, long keys, int visits, int payloadBytes,
            long failAfter, boolean checkState) {
        if (shape == StateShape.VALUE && checkState) {
            // the last of a key's visits to arrive depends on the two source subtasks' timing
            throw new IllegalArgumentException("--state value has no exact final state to check: use it without --fault-rate");
        }
        long records = keys * visits;
        env.fromSource(new DataGeneratorSource<>(i -> i, records, RateLimiterStrategy.noOp(), Types.LONG),
                        WatermarkStrategy.noWatermarks(), "sequence")
                .uid("sequence")
                .map(new FailureInjector(failAfter))
                .uid("failure-injector")
                .keyBy(new RecoveryJob.KeyOf(Math.toIntExact(keys)))
                .process(shape == StateShape.VALUE ? new OverwritePayload(payloadBytes)
                        : new AppendPayload(payloadBytes, checkState ? visits : 0))
                .uid("state")
                .name("state")
                .sinkTo(new CollectSink())
                .uid("final-states");
    }

    /** The payload of record {@code index}: the same bytes in every run and every replay. */
    static byte[] payload(long index, int payloadBytes) {
        byte[] payload = new byte[payloadBytes];
        new SplittableRandom(index).nextBytes(payload);
        return payload;
    }

    /** Each visit replaces its key's value: RocksDB's compactions drop the versions replaced. */
    static final class OverwritePayload extends KeyedProcessFunction<Long, Long, long[]> {
        private final int payloadBytes;
        private transient ValueState<byte[]> value;

        OverwritePayload(int payloadBytes) {
            this.payloadBytes = payloadBytes;
        }

        @Override
        public void open(OpenContext openContext) {
            value = getRuntimeContext().getState(
                    new ValueStateDescriptor<>("payload", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        }

        @Override
        public void processElement(Long index, Context ctx, Collector<long[]> out) throws Exception {
            value.update(payload(index, payloadBytes));
        }
    }

    static final class AppendPayload extends KeyedProcessFunction<Long, Long, long[]> {
        private final int payloadBytes;
        private final int visits;
        private transient ListState<byte[]> payloads;
        /** Appends so far: the visits of a key come from two source subtasks in any order. */
        private transient ValueState<Integer> appended;

        /** {@code visits} 0: no counting, no reports (the job of the fault-free tables). */
        AppendPayload(int payloadBytes, int visits) {
            this.payloadBytes = payloadBytes;
            this.visits = visits;
        }

        @Override
        public void open(OpenContext openContext) {
            payloads = getRuntimeContext().getListState(
                    new ListStateDescriptor<>("payloads", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
            if (visits > 0) {
                appended = getRuntimeContext().getState(new ValueStateDescriptor<>("appended", Types.INT));
            }
        }

        @Override
        public void processElement(Long index, Context ctx, Collector<long[]> out) throws Exception {
            payloads.add(payload(index, payloadBytes));
            if (visits == 0) {
                return;
            }
            Integer before = appended.value();
            int count = before == null ? 1 : before + 1;
            appended.update(count);
            if (count >= visits) { // more than 'visits' would be a duplicate: reported, and caught by the check
                long held = 0;
                long digest = 0;
                for (byte[] p : payloads.get()) {
                    held++;
                    digest += FinalStates.digest(p);
                }
                out.collect(new long[] {ctx.getCurrentKey(), held, digest});
            }
        }
    }
}
