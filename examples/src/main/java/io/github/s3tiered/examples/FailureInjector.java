package io.github.s3tiered.examples;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;

/**
 * Fails the job once: in the first attempt, after its share of {@code failAfterRecords} and after
 * at least one checkpoint completed (so that the restore has something to restore).
 *
 * <p>Or, with {@link #repeatedly}, in every attempt below a given number, each time after a number
 * of checkpoints completed in that attempt: a job that fails again and again and still makes
 * progress, for tests of many recoveries in one run. Such a job can also bound what one attempt
 * moves it on: each subtask fails its attempt after a number of records seen before a checkpoint
 * barrier passed it. Without the bound, an attempt whose checkpoints wait for a slow subtask (one starting
 * in a new TaskManager JVM takes seconds) completes its first checkpoint with all the input the
 * others read meanwhile, so a test's count of failures would depend on the host's speed.
 */
public class FailureInjector extends RichMapFunction<Long, Long> implements CheckpointListener, CheckpointedFunction {

    /** The message of the injected failure, recognised by the demo and the tests. */
    public static final String MESSAGE = "Injected failure (FailureInjector) to test recovery";

    private final long failAfterRecords;
    private final int everyCheckpoints;
    private final int untilAttempt;
    private final long maxRecordsWithoutCheckpoint;
    private transient long seen;
    private transient long threshold;
    private transient boolean armed;
    private transient boolean bounded;
    private transient volatile int checkpointsCompleted;
    /** Whether a checkpoint barrier passed in this attempt: what it holds is bounded from then on. */
    private transient boolean snapshotTaken;

    public FailureInjector(long failAfterRecords) {
        this(failAfterRecords, 1, 1, 0);
    }

    private FailureInjector(long failAfterRecords, int everyCheckpoints, int untilAttempt, long maxRecordsWithoutCheckpoint) {
        this.failAfterRecords = failAfterRecords;
        this.everyCheckpoints = everyCheckpoints;
        this.untilAttempt = untilAttempt;
        this.maxRecordsWithoutCheckpoint = maxRecordsWithoutCheckpoint;
    }

    /** Fails each attempt numbered below {@code untilAttempt} once {@code everyCheckpoints} checkpoints completed in it. */
    public static FailureInjector repeatedly(int everyCheckpoints, int untilAttempt) {
        return repeatedly(everyCheckpoints, untilAttempt, 0);
    }

    /**
     * As {@link #repeatedly(int, int)}, and, with {@code maxRecordsWithoutCheckpoint} > 0, also
     * once a subtask saw more records than that before the attempt's first checkpoint barrier
     * passed it (counted at the barrier, not at the checkpoint's completion, so that a slow upload
     * does not fail attempts that hold few records).
     */
    public static FailureInjector repeatedly(int everyCheckpoints, int untilAttempt, long maxRecordsWithoutCheckpoint) {
        return new FailureInjector(1, everyCheckpoints, untilAttempt, maxRecordsWithoutCheckpoint);
    }

    @Override
    public void open(OpenContext openContext) {
        var task = getRuntimeContext().getTaskInfo();
        boolean failing = task.getAttemptNumber() < untilAttempt;
        armed = failAfterRecords > 0 && failing && task.getIndexOfThisSubtask() == 0;
        bounded = maxRecordsWithoutCheckpoint > 0 && failing;
        threshold = failAfterRecords / task.getNumberOfParallelSubtasks();
    }

    @Override
    public Long map(Long index) {
        seen++;
        if (armed && seen >= threshold && checkpointsCompleted >= everyCheckpoints) {
            throw new IllegalStateException(MESSAGE + " after " + seen + " records of subtask 0 in attempt "
                    + getRuntimeContext().getTaskInfo().getAttemptNumber());
        }
        if (bounded && !snapshotTaken && seen > maxRecordsWithoutCheckpoint) {
            throw new IllegalStateException(MESSAGE + ": " + seen + " records of subtask "
                    + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() + " in attempt "
                    + getRuntimeContext().getTaskInfo().getAttemptNumber() + " before a checkpoint barrier");
        }
        return index;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) {
        snapshotTaken = true;
    }

    @Override
    public void initializeState(FunctionInitializationContext context) {
        // no state: the barrier's passing is what counts
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
        checkpointsCompleted++;
    }
}
