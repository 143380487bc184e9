package io.github.s3tiered.examples;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keeps, per key, the sum of values (ValueState) and every index seen (ListState). At the end of
 * the input (the final watermark fires a timer at Long.MAX_VALUE) it emits
 * {@code key,count,sum,fingerprint}.
 */
public class KeyedListAndSum extends KeyedProcessFunction<Long, Long, String> {

    private transient ValueState<Long> sum;
    private transient ListState<Long> indices;

    @Override
    public void open(OpenContext openContext) {
        sum = getRuntimeContext().getState(new ValueStateDescriptor<>("sum", Types.LONG));
        indices = getRuntimeContext().getListState(new ListStateDescriptor<>("indices", Types.LONG));
    }

    @Override
    public void processElement(Long index, Context ctx, Collector<String> out) throws Exception {
        Long s = sum.value();
        sum.update((s == null ? 0 : s) + RecoveryJob.valueOf(index));
        indices.add(index);
        ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
        long count = 0;
        long fingerprint = 0;
        for (Long i : indices.get()) {
            count++;
            fingerprint += RecoveryJob.fingerprintOf(i);
        }
        out.collect(ctx.getCurrentKey() + "," + count + "," + sum.value() + "," + fingerprint);
    }
}
