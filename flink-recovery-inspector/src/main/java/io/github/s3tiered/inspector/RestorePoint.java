package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.List;
import java.util.Optional;

/**
 * The newest restorable checkpoint of a job directory.
 *
 * @param jobDirectory the directory searched
 * @param chosen the validation of the restore point; empty when nothing is restorable
 * @param skipped newer candidates that are not restorable, newest first, each with its verdict
 * @param compatibility what Flink would reject for the job given in the options (empty without one)
 * @param candidates how many checkpoints (and savepoints) were considered
 * @param requests file-system calls the search made
 */
public record RestorePoint(
        Path jobDirectory,
        Optional<Validation> chosen,
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

    /** Why there is no restore point, or why the newer ones were skipped, for a human. */
    public String explanation() {
        StringBuilder sb = new StringBuilder();
        if (chosen.isEmpty()) {
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
