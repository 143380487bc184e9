package io.github.s3tiered.bench;

import io.github.s3tiered.examples.FailureInjector;
import io.github.s3tiered.examples.RecoveryJob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

import java.util.SplittableRandom;

/**
 * The benchmark's job: {@code keys x visits} records; each visit appends an incompressible payload
 * to its key's ListState, so RocksDB holds about {@code keys x visits x payload} bytes at the end and
 * every checkpoint uploads the SST files written since the last one. One failure is injected
 * after {@code failAfter} records (and after a checkpoint completed).
 */
final class StateHeavyJob {

    private StateHeavyJob() {}

    static void build(StreamExecutionEnvironment env, long keys, int visits, int payloadBytes, long failAfter) {
        long records = keys * visits;
        env.fromSource(new DataGeneratorSource<>(i -> i, records, RateLimiterStrategy.noOp(), Types.LONG),
                        WatermarkStrategy.noWatermarks(), "sequence")
                .uid("sequence")
                .map(new FailureInjector(failAfter))
                .uid("failure-injector")
                .keyBy(new RecoveryJob.KeyOf(Math.toIntExact(keys)))
                .process(new AppendPayload(payloadBytes))
                .uid("state")
                .name("state")
                .sinkTo(new DiscardingSink<>())
                .uid("discard");
    }

    static final class AppendPayload extends KeyedProcessFunction<Long, Long, Long> {
        private final int payloadBytes;
        private transient ListState<byte[]> payloads;

        AppendPayload(int payloadBytes) {
            this.payloadBytes = payloadBytes;
        }

        @Override
        public void open(OpenContext openContext) {
            payloads = getRuntimeContext().getListState(
                    new ListStateDescriptor<>("payloads", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        }

        @Override
        public void processElement(Long index, Context ctx, Collector<Long> out) throws Exception {
            byte[] payload = new byte[payloadBytes];
            new SplittableRandom(index).nextBytes(payload);
            payloads.add(payload);
        }
    }
}
