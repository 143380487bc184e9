package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.List;
import java.util.Optional;

/**
 * The newest restorable checkpoint of a job directory.
 *
 * @param jobDirectory the directory searched
 * @param chosen the validation of the restore point; empty when nothing is restorable, or when
 *     the search stopped at a checkpoint it could not judge
 * @param undecided the checkpoint whose storage could not be read ({@link Outcome#UNKNOWN}), at
 *     which the search stopped rather than choose an older one
 * @param skipped newer candidates that are not restorable, newest first, each with its verdict
 * @param compatibility what Flink would reject for the job given in the options (empty without one)
 * @param candidates how many checkpoints (and savepoints) were considered
 * @param requests file-system calls the search made
 */
public record RestorePoint(
        Path jobDirectory,
        Optional<Validation> chosen,
        Optional<Validation> undecided,
        List<Validation> skipped,
        List<CompatibilityIssue> compatibility,
        int candidates,
        RequestCount requests) {

    public RestorePoint {
        skipped = List.copyOf(skipped);
        compatibility = List.copyOf(compatibility);
    }

    /** The value for {@code execution.state-recovery.path}, if there is a restore point. */
    public Optional<Path> path() {
        return chosen.map(Validation::path);
    }

    /** RESTORABLE when there is a restore point, UNKNOWN when the search stopped undecided, else NOT_RESTORABLE. */
    public Outcome outcome() {
        return chosen.isPresent() ? Outcome.RESTORABLE : undecided.isPresent() ? Outcome.UNKNOWN : Outcome.NOT_RESTORABLE;
    }

    /** Why there is no restore point, or why the newer ones were skipped, for a human. */
    public String explanation() {
        StringBuilder sb = new StringBuilder();
        if (undecided.isPresent()) {
            sb.append("Cannot choose a restore point in ").append(jobDirectory).append(": ").append(undecided.get().path())
                    .append(" could not be judged (").append(undecided.get().reason())
                    .append("); an older checkpoint is not chosen over it");
        } else if (chosen.isEmpty()) {
            sb.append("No restorable checkpoint among ").append(candidates).append(" in ").append(jobDirectory);
        } else {
            sb.append("Restore point ").append(chosen.get().path());
        }
        for (Validation s : skipped) {
            sb.append("\n  skipped ").append(s.path()).append(": ").append(s.reason());
        }
        for (CompatibilityIssue i : compatibility) {
            sb.append("\n  incompatible: ").append(i.reason());
        }
        return sb.toString();
    }
}
