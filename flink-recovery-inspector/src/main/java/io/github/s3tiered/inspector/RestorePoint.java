package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.List;
import java.util.Optional;

/**
 * The newest restorable checkpoint of a job directory.
 *
 * @param jobDirectory the directory searched
 * @param chosen the validation of the newest restorable checkpoint by id; empty when nothing is
 *     restorable, or when the search stopped at a checkpoint it could not judge. Not a restore
 *     point when {@link #runsDisagree()}: {@link #path()} is the value to resume from
 * @param undecided the checkpoint whose storage could not be read ({@link Outcome#UNKNOWN}), at
 *     which the search stopped rather than choose an older one
 * @param skipped newer candidates that are not restorable, newest first, each with its verdict
 * @param compatibility what Flink would reject for the job given in the options (empty without one)
 * @param writtenLater checkpoints with a lower id than the chosen one whose {@code _metadata} was
 *     written after its own: another run under the same job id wrote them, and the ids do not
 *     tell which state is the newer; the search then names no restore point
 * @param candidates how many checkpoints (and savepoints) were considered
 * @param requests file-system calls the search made
 */
public record RestorePoint(
        Path jobDirectory,
        Optional<Validation> chosen,
        Optional<Validation> undecided,
        List<Validation> skipped,
        List<CompatibilityIssue> compatibility,
        List<WrittenLater> writtenLater,
        int candidates,
        RequestCount requests) {

    /** A checkpoint of a lower id whose {@code _metadata} was written at {@code metadataTimestamp}, after the chosen one's. */
    public record WrittenLater(Path path, long metadataTimestamp) {}

    public RestorePoint {
        skipped = List.copyOf(skipped);
        compatibility = List.copyOf(compatibility);
        writtenLater = List.copyOf(writtenLater);
    }

    /** Whether the directory holds checkpoints of two runs in an order the ids contradict: no restore point is named. */
    public boolean runsDisagree() {
        return chosen.isPresent() && !writtenLater.isEmpty();
    }

    /** The value for {@code execution.state-recovery.path}, if there is a restore point. */
    public Optional<Path> path() {
        return runsDisagree() ? Optional.empty() : chosen.map(Validation::path);
    }

    /**
     * RESTORABLE when there is a restore point; UNKNOWN when the search stopped undecided, or
     * when the ids and the times of two runs' checkpoints disagree; else NOT_RESTORABLE.
     */
    public Outcome outcome() {
        return runsDisagree() || undecided.isPresent() ? Outcome.UNKNOWN
                : chosen.isPresent() ? Outcome.RESTORABLE : Outcome.NOT_RESTORABLE;
    }

    /** Why there is no restore point, or why the newer ones were skipped, for a human. */
    public String explanation() {
        StringBuilder sb = new StringBuilder();
        if (runsDisagree()) {
            sb.append("Cannot choose a restore point in ").append(jobDirectory).append(": its newest restorable checkpoint by id, ")
                    .append(chosen.get().path()).append(" (_metadata written ")
                    .append(java.time.Instant.ofEpochMilli(chosen.get().metadataTimestamp())).append("), is older than");
            for (WrittenLater w : writtenLater) {
                sb.append(' ').append(w.path().getName()).append(" (written ")
                        .append(java.time.Instant.ofEpochMilli(w.metadataTimestamp())).append(')');
            }
            sb.append(". One run completes its checkpoints in the order of their ids: a later run under the same job id,"
                    + " restored from an older checkpoint or savepoint, wrote the lower ids, and the highest id may be the"
                    + " state that run was rolled back from. Name the checkpoint to resume from (a copied directory also"
                    + " takes new times: name one there too)");
        } else if (undecided.isPresent()) {
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
