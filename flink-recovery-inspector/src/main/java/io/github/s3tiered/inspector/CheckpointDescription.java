package io.github.s3tiered.inspector;

import java.util.List;

/**
 * What a checkpoint holds, with its validation.
 *
 * @param validation the (non-deep) validation, with the referenced files
 * @param operators each operator's state; empty when the metadata cannot be read
 * @param masterStates states of master hooks (inline in the metadata)
 */
public record CheckpointDescription(Validation validation, List<OperatorSummary> operators, int masterStates) {

    public CheckpointDescription {
        operators = List.copyOf(operators);
    }
}
