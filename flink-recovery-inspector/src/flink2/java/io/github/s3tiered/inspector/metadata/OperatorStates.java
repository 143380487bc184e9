package io.github.s3tiered.inspector.metadata;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.AbstractMergedChannelStateHandle;
import org.apache.flink.runtime.state.ChannelStateHelper;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What Flink 2.x's checkpoint meta data records about operators and channel state beyond 1.20:
 * operator uids and names, upstream output buffers and merged channel state handles. The 1.20
 * line has its own class of this name, answering with what 1.20 records.
 */
public final class OperatorStates {

    private OperatorStates() {}

    /** An operator's state as Flink builds it for the meta data. */
    public static OperatorState create(String name, String uid, org.apache.flink.runtime.jobgraph.OperatorID id,
            int parallelism, int maxParallelism) {
        return new OperatorState(name, uid, id, parallelism, maxParallelism);
    }

    public static Optional<String> uid(OperatorState op) {
        return op.getOperatorUid();
    }

    public static Optional<String> name(OperatorState op) {
        return op.getOperatorName();
    }

    /** Every channel state handle of a subtask as recorded (merged ones unexpanded). */
    public static List<StateObject> channelHandles(OperatorSubtaskState s) {
        List<StateObject> out = new ArrayList<>();
        s.getInputChannelState().forEach(out::add);
        s.getUpstreamOutputBufferState().forEach(out::add);
        s.getResultSubpartitionState().forEach(out::add);
        return out;
    }

    /** Input channel state, per channel (merged handles expanded: their offsets are parsed, may throw). */
    public static List<AbstractChannelStateHandle<?>> unmergedInputHandles(OperatorSubtaskState s) {
        return new ArrayList<>(ChannelStateHelper.extractUnmergedInputHandles(s));
    }

    /** Output channel state, per subpartition (merged handles expanded, may throw). */
    public static List<AbstractChannelStateHandle<?>> unmergedOutputHandles(OperatorSubtaskState s) {
        return new ArrayList<>(ChannelStateHelper.extractUnmergedOutputHandles(s));
    }

    /** The file behind a merged channel state handle; null for any other handle. */
    public static StreamStateHandle mergedChannelDelegate(StateObject h) {
        return h instanceof AbstractMergedChannelStateHandle<?, ?> merged ? merged.getDelegate() : null;
    }
}
