package io.github.s3tiered.inspector.validation;

import io.github.s3tiered.inspector.CompatibilityIssue;
import io.github.s3tiered.inspector.JobShape;
import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The checks of Flink's {@code Checkpoints.loadAndValidateCheckpoint}, ahead of a restore.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class JobCompatibility {

    private JobCompatibility() {}

    public static List<CompatibilityIssue> check(CheckpointMetadata metadata, JobShape job) {
        List<CompatibilityIssue> issues = new ArrayList<>();
        for (OperatorState op : metadata.getOperatorStates()) {
            String id = op.getOperatorID().toHexString().toLowerCase(Locale.ROOT);
            String label = id + OperatorStates.uid(op).map(u -> " (uid " + u + ")").orElse("")
                    + OperatorStates.name(op).map(n -> " \"" + n + "\"").orElse("");
            if (!job.operatorIds().contains(id)) {
                // Flink skips operators without state; it rejects the others unless allowNonRestoredState
                if (hasState(op)) {
                    issues.add(new CompatibilityIssue(CompatibilityIssue.Kind.STATE_WITHOUT_OPERATOR, id,
                            "the checkpoint has state of operator " + label + " that the job does not have:"
                                    + " Flink rejects the restore unless execution.state-recovery.ignore-unclaimed-state"
                                    + " (allowNonRestoredState) is set"));
                }
            } else if (job.maxParallelism() > 0 && op.getMaxParallelism() != job.maxParallelism()) {
                issues.add(new CompatibilityIssue(CompatibilityIssue.Kind.MAX_PARALLELISM_MISMATCH, id,
                        "operator " + label + " has max parallelism " + op.getMaxParallelism() + " in the checkpoint,"
                                + " the job " + job.maxParallelism() + ": Flink rejects the restore when the job's"
                                + " max parallelism is set explicitly"));
            }
        }
        return issues;
    }

    static boolean hasState(OperatorState op) {
        if (op.getCoordinatorState() != null) {
            return true;
        }
        for (OperatorSubtaskState s : op.getStates()) {
            if (s.hasState()) {
                return true;
            }
        }
        return false;
    }
}
