package io.github.s3tiered.inspector.metadata;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.AbstractMergedChannelStateHandle;
import org.apache.flink.runtime.state.ChannelStateHelper;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
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

    /**
     * What a merged channel state handle records against its own channel list: Flink merges at
     * least one channel and records the sum of their sizes; a channel missing from the list would
     * not be restored. One sentence each; empty when they agree.
     */
    public static List<String> mergedChannelContradictions(OperatorSubtaskState s) {
        List<String> out = new ArrayList<>();
        for (StateObject h : channelHandles(s)) {
            if (!(h instanceof AbstractMergedChannelStateHandle<?, ?> merged)) {
                continue;
            }
            int channels;
            long sum = 0;
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(merged.getSerializedChannelOffsets()))) {
                channels = in.readInt();
                for (int i = 0; i < channels; i++) {
                    in.readInt(); // gate or partition
                    in.readInt(); // channel or subpartition
                    sum += in.readLong();
                    int offsets = in.readInt();
                    in.skipNBytes(8L * Math.max(0, offsets));
                }
            } catch (IOException unreadable) {
                continue; // reported where the channels are expanded
            }
            if (channels < 1 || sum != merged.getStateSize()) {
                out.add("merged channel state in " + merged.getDelegate() + " records " + merged.getStateSize()
                        + " bytes but lists " + channels + " channel(s) holding " + sum);
            }
        }
        return out;
    }

    /** The file behind a merged channel state handle; null for any other handle. */
    public static StreamStateHandle mergedChannelDelegate(StateObject h) {
        return h instanceof AbstractMergedChannelStateHandle<?, ?> merged ? merged.getDelegate() : null;
    }
}
