package io.github.s3tiered.inspector.metadata;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What Flink 1.20's checkpoint meta data records about operators and channel state: no operator
 * uids or names (2.x added them) and channel state one handle per channel, never merged. The 2.x
 * line has its own class of this name.
 */
public final class OperatorStates {

    private OperatorStates() {}

    /** An operator's state as Flink builds it for the meta data (1.20 keeps neither name nor uid). */
    public static OperatorState create(String name, String uid, org.apache.flink.runtime.jobgraph.OperatorID id,
            int parallelism, int maxParallelism) {
        return new OperatorState(id, parallelism, maxParallelism);
    }

    public static Optional<String> uid(OperatorState op) {
        return Optional.empty();
    }

    public static Optional<String> name(OperatorState op) {
        return Optional.empty();
    }

    /** Every channel state handle of a subtask as recorded. */
    public static List<StateObject> channelHandles(OperatorSubtaskState s) {
        List<StateObject> out = new ArrayList<>();
        s.getInputChannelState().forEach(out::add);
        s.getResultSubpartitionState().forEach(out::add);
        return out;
    }

    /** Input channel state, per channel. */
    public static List<AbstractChannelStateHandle<?>> unmergedInputHandles(OperatorSubtaskState s) {
        return new ArrayList<>(s.getInputChannelState());
    }

    /** Output channel state, per subpartition. */
    public static List<AbstractChannelStateHandle<?>> unmergedOutputHandles(OperatorSubtaskState s) {
        return new ArrayList<>(s.getResultSubpartitionState());
    }

    /** 1.20 never merges channel state handles: nothing to contradict. */
    public static List<String> mergedChannelContradictions(OperatorSubtaskState s) {
        return List.of();
    }

    /** 1.20 never merges channel state handles: always null. */
    public static StreamStateHandle mergedChannelDelegate(StateObject h) {
        return null;
    }
}
