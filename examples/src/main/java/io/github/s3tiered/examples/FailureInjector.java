package io.github.s3tiered.examples;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;

/**
 * Fails the job once: in the first attempt, after its share of {@code failAfterRecords} and after
 * at least one checkpoint completed (so that the restore has something to restore).
 */
public class FailureInjector extends RichMapFunction<Long, Long> implements CheckpointListener {

    /** The message of the injected failure, recognised by the demo and the tests. */
    public static final String MESSAGE = "Injected failure (FailureInjector) to test recovery";

    private final long failAfterRecords;
    private transient long seen;
    private transient long threshold;
    private transient boolean armed;
    private transient volatile boolean checkpointCompleted;

    public FailureInjector(long failAfterRecords) {
        this.failAfterRecords = failAfterRecords;
    }

    @Override
    public void open(OpenContext openContext) {
        var task = getRuntimeContext().getTaskInfo();
        armed = failAfterRecords > 0 && task.getAttemptNumber() == 0 && task.getIndexOfThisSubtask() == 0;
        threshold = failAfterRecords / task.getNumberOfParallelSubtasks();
    }

    @Override
    public Long map(Long index) {
        if (armed && ++seen >= threshold && checkpointCompleted) {
            throw new IllegalStateException(MESSAGE + " after " + seen + " records of subtask 0");
        }
        return index;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
        checkpointCompleted = true;
    }
}
