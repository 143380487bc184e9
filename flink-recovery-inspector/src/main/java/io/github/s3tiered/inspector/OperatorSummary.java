package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.StateObject;

import java.util.ArrayList;
import java.util.List;

/**
 * One operator's state in a checkpoint.
 *
 * @param operatorId 32 hex digits
 * @param uid the uid set in the job, or null (metadata written before Flink 1.20 has none)
 * @param name the operator's name, or null
 * @param parallelism parallelism when the checkpoint was taken
 * @param maxParallelism max parallelism (number of key groups)
 * @param subtasksWithState subtasks that have any state
 * @param managedKeyedBytes sizes of each kind of state, summed over subtasks
 * @param rawKeyedBytes raw keyed state
 * @param managedOperatorBytes operator (non-keyed) state
 * @param rawOperatorBytes raw operator state
 * @param channelBytes in-flight data of an unaligned checkpoint
 * @param coordinatorBytes the operator coordinator's state (inline in the metadata)
 * @param files referenced files holding this operator's state
 */
public record OperatorSummary(
        String operatorId,
        String uid,
        String name,
        int parallelism,
        int maxParallelism,
        int subtasksWithState,
        long managedKeyedBytes,
        long rawKeyedBytes,
        long managedOperatorBytes,
        long rawOperatorBytes,
        long channelBytes,
        long coordinatorBytes,
        int files) {

    public long totalBytes() {
        return managedKeyedBytes + rawKeyedBytes + managedOperatorBytes + rawOperatorBytes + channelBytes + coordinatorBytes;
    }

    static List<OperatorSummary> of(CheckpointMetadata metadata, List<ReferencedFile> files) {
        List<OperatorSummary> out = new ArrayList<>();
        for (OperatorState op : metadata.getOperatorStates()) {
            String id = op.getOperatorID().toHexString();
            long keyed = 0;
            long rawKeyed = 0;
            long operator = 0;
            long rawOperator = 0;
            long channel = 0;
            int withState = 0;
            for (OperatorSubtaskState s : op.getStates()) {
                keyed += size(s.getManagedKeyedState());
                rawKeyed += size(s.getRawKeyedState());
                operator += size(s.getManagedOperatorState());
                rawOperator += size(s.getRawOperatorState());
                channel += OperatorStates.channelHandles(s).stream().mapToLong(h -> h.getStateSize()).sum();
                withState += s.hasState() ? 1 : 0;
            }
            long coordinator = op.getCoordinatorState() == null ? 0 : op.getCoordinatorState().getStateSize();
            int fileCount = (int) files.stream().filter(f -> f.operators().contains(id)).count();
            out.add(new OperatorSummary(id, OperatorStates.uid(op).orElse(null), OperatorStates.name(op).orElse(null),
                    op.getParallelism(), op.getMaxParallelism(), withState, keyed, rawKeyed, operator, rawOperator,
                    channel, coordinator, fileCount));
        }
        return out;
    }

    private static long size(Iterable<? extends StateObject> handles) {
        long sum = 0;
        for (StateObject h : handles) {
            if (h != null) {
                sum += h.getStateSize();
            }
        }
        return sum;
    }
}
