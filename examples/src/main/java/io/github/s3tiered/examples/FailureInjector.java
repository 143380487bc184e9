package io.github.s3tiered.examples;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;

/**
 * Fails the job once: in the first attempt, after its share of {@code failAfterRecords} and after
 * at least one checkpoint completed (so that the restore has something to restore).
 *
 * <p>Or, with {@link #repeatedly}, in every attempt below a given number, each time after a number
 * of checkpoints completed in that attempt: a job that fails again and again and still makes
 * progress, for tests of many recoveries in one run. What one attempt moves the job on is bounded
 * by the source's {@link CheckpointGatedRate}, not here: a bound enforced by failing spends attempts
 * without progress, and one by time depends on the host's speed.
 */
public class FailureInjector extends RichMapFunction<Long, Long> implements CheckpointListener {

    /** The message of the injected failure, recognised by the demo and the tests. */
    public static final String MESSAGE = "Injected failure (FailureInjector) to test recovery";

    private final long failAfterRecords;
    private final int everyCheckpoints;
    private final int untilAttempt;
    private transient long seen;
    private transient long threshold;
    private transient boolean armed;
    private transient volatile int checkpointsCompleted;

    public FailureInjector(long failAfterRecords) {
        this(failAfterRecords, 1, 1);
    }

    private FailureInjector(long failAfterRecords, int everyCheckpoints, int untilAttempt) {
        this.failAfterRecords = failAfterRecords;
        this.everyCheckpoints = everyCheckpoints;
        this.untilAttempt = untilAttempt;
    }

    /** Fails each attempt numbered below {@code untilAttempt} once {@code everyCheckpoints} checkpoints completed in it. */
    public static FailureInjector repeatedly(int everyCheckpoints, int untilAttempt) {
        return new FailureInjector(1, everyCheckpoints, untilAttempt);
    }

    @Override
    public void open(OpenContext openContext) {
        var task = getRuntimeContext().getTaskInfo();
        armed = failAfterRecords > 0 && task.getAttemptNumber() < untilAttempt && task.getIndexOfThisSubtask() == 0;
        threshold = failAfterRecords / task.getNumberOfParallelSubtasks();
    }

    @Override
    public Long map(Long index) {
        seen++;
        if (armed && seen >= threshold && checkpointsCompleted >= everyCheckpoints) {
            throw new IllegalStateException(MESSAGE + " after " + seen + " records of subtask 0 in attempt "
                    + getRuntimeContext().getTaskInfo().getAttemptNumber());
        }
        return index;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
        checkpointsCompleted++;
    }
}
