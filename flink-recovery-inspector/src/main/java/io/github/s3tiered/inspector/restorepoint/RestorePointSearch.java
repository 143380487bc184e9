package io.github.s3tiered.inspector.restorepoint;

import io.github.s3tiered.inspector.CheckpointKind;
import io.github.s3tiered.inspector.CheckpointLocation;
import io.github.s3tiered.inspector.CompatibilityIssue;
import io.github.s3tiered.inspector.InspectionProgress;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.Outcome;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.RestorePointOptions;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.discovery.CheckpointDiscovery;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.storage.DirectoryListings;
import io.github.s3tiered.inspector.storage.FileSystemCalls;
import io.github.s3tiered.inspector.validation.CheckpointValidator;
import io.github.s3tiered.inspector.validation.JobCompatibility;

import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Finds the newest restorable checkpoint of a job directory, with every newer one and why it was
 * skipped. Checkpoints are ordered by id; savepoints (by option) by the id in their metadata, and
 * those whose metadata cannot be read come last. The search stops at a checkpoint that could not be
 * judged ({@link Outcome#UNKNOWN}): an older one is never chosen over it; the result then has no
 * restore point and {@link RestorePoint#undecided()} names it.
 *
 * <p>A running job removes the checkpoints it subsumes ({@code _metadata} first, then the rest), so
 * a directory listed may be gone, or without {@code _metadata}, when its turn comes; a newer
 * checkpoint then exists that the listing did not show. The search starts again from a new listing
 * rather than fall back past it (for a checkpoint without {@code _metadata}, when a new listing
 * shows a checkpoint newer than any listed before), a few times, then fails naming the directory.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class RestorePointSearch {

    private final CheckpointValidator validator;
    private final InspectionProgress progress;

    public RestorePointSearch(CheckpointValidator validator, InspectionProgress progress) {
        this.validator = validator;
        this.progress = progress;
    }

    /** How many times a search starts again after a listed checkpoint disappeared. */
    static final int MAX_RESTARTS = 3;

    public RestorePoint search(Path jobDir, RestorePointOptions options, DirectoryListings listings) throws IOException {
        for (int restarts = 0; ; restarts++) {
            try {
                return searchOnce(jobDir, options, listings);
            } catch (CheckpointVanished e) {
                if (restarts == MAX_RESTARTS) {
                    throw new IOException("The checkpoints of " + jobDir + " kept disappearing while they were searched ("
                            + (restarts + 1) + " times; last " + e.dir + "): is the job still running?", e.getCause());
                }
                progress.step(e.dir + " disappeared during the search (a running job subsumed it); listing " + jobDir + " again");
                listings = new DirectoryListings(listings.calls()); // cached listings show what is gone
            }
        }
    }

    private RestorePoint searchOnce(Path jobDir, RestorePointOptions options, DirectoryListings listings) throws IOException {
        FileSystemCalls calls = listings.calls();
        JobDirectory job = CheckpointDiscovery.jobDirectory(jobDir, listings);

        // savepoints have no id in their name: validate them first to learn it
        List<Validation> validatedSavepoints = new ArrayList<>();
        if (options.includeSavepoints()) {
            for (CheckpointLocation sp : job.ofKind(CheckpointKind.SAVEPOINT)) {
                progress.step("validating " + sp.path());
                Validation v = validateListed(sp.path(), options, listings);
                if (v.outcome() == Outcome.UNKNOWN && v.checkpointId() < 0) {
                    // not read, so its id is unknown: it may be newer than any checkpoint here
                    return new RestorePoint(jobDir, Optional.empty(), Optional.of(v), List.of(), List.of(), List.of(),
                            job.checkpoints().size(), calls.snapshot());
                }
                validatedSavepoints.add(v);
            }
        }
        record Candidate(CheckpointLocation location, long id, Validation validation) {}
        List<Candidate> candidates = new ArrayList<>();
        for (CheckpointLocation cp : job.ofKind(CheckpointKind.CHECKPOINT)) {
            if (cp.idFromName() < options.belowId()) {
                candidates.add(new Candidate(cp, cp.idFromName(), null));
            }
        }
        for (Validation v : validatedSavepoints) {
            if (v.checkpointId() < options.belowId()) {
                candidates.add(new Candidate(new CheckpointLocation(v.path(), CheckpointKind.SAVEPOINT, -1),
                        v.checkpointId() < 0 ? Long.MIN_VALUE : v.checkpointId(), v));
            }
        }
        candidates.sort(Comparator.comparingLong(Candidate::id).reversed());

        long highestListed = job.ofKind(CheckpointKind.CHECKPOINT).stream().mapToLong(CheckpointLocation::idFromName)
                .max().orElse(-1);
        List<Validation> skipped = new ArrayList<>();
        Optional<Validation> chosen = Optional.empty();
        Optional<Validation> undecided = Optional.empty();
        int i = 0;
        for (Candidate c : candidates) {
            Validation v = c.validation();
            if (v == null) {
                progress.step("validating " + c.location().path() + " (" + (++i) + "/" + candidates.size() + ")");
                v = validateListed(c.location().path(), options, listings);
            }
            if (v.restorable()) {
                chosen = Optional.of(v);
                break;
            }
            if (v.outcome() == Outcome.UNKNOWN) {
                undecided = Optional.of(v);
                break;
            }
            if ((v.verdict() == Verdict.NO_METADATA || v.verdict() == Verdict.MISSING_FILES)
                    && c.location().kind() == CheckpointKind.CHECKPOINT
                    && newerCheckpointListed(jobDir, highestListed, calls)) {
                // being removed by a running job that completed a newer one (its _metadata goes first,
                // or, with Flink's parallel cleaner, together with its files): never fall back past that
                throw new CheckpointVanished(c.location().path(), null);
            }
            skipped.add(v);
        }
        List<CompatibilityIssue> issues = chosen.isPresent() && options.job() != null
                ? JobCompatibility.check(chosen.get().metadata(), options.job())
                : List.of();
        List<RestorePoint.WrittenLater> writtenLater = chosen.isPresent()
                ? writtenLater(chosen.get(), job, validatedSavepoints, listings)
                : List.of();
        return new RestorePoint(jobDir, chosen, undecided, skipped, issues, writtenLater, candidates.size(), calls.snapshot());
    }

    /**
     * How much later than the chosen checkpoint's {@code _metadata} an older checkpoint's must have
     * been written to count: beyond the stamps' resolution (S3 stamps whole seconds) and small
     * clock differences between the storage's servers. Two runs are apart by a restart at least.
     */
    static final long WRITTEN_LATER_MARGIN_MILLIS = 2_000;

    /**
     * The checkpoints with a lower id than the chosen one whose {@code _metadata} was written
     * after its own. One run completes its checkpoints in the order of their ids (a checkpoint
     * that completes aborts the older ones pending), so such a checkpoint was written by another
     * run under the same job id: one restored from an older savepoint or checkpoint (the id
     * counter then starts again after that one's id), while the chosen one is the state that run
     * was rolled back from. Which of the two a job should resume from, the ids cannot tell.
     */
    private static List<RestorePoint.WrittenLater> writtenLater(Validation chosen, JobDirectory job,
            List<Validation> savepoints, DirectoryListings listings) throws IOException {
        List<RestorePoint.WrittenLater> out = new ArrayList<>();
        long chosenId = chosen.kind() == CheckpointKind.CHECKPOINT
                ? CheckpointNames.idFromName(chosen.path().getName()) : chosen.checkpointId();
        if (chosenId < 0 || chosen.metadataTimestamp() <= 0) {
            return out;
        }
        // savepoints share the checkpoints' counter: one of a later run has a lower id too; not one
        // whose _metadata contradicts itself (damaged: its id is not to be trusted, and its time is
        // the damage's)
        for (Validation sp : savepoints) {
            if (sp != chosen && sp.checkpointId() >= 0 && sp.checkpointId() < chosenId
                    && sp.verdict() != Verdict.CORRUPT_METADATA
                    && sp.metadataTimestamp() > chosen.metadataTimestamp() + WRITTEN_LATER_MARGIN_MILLIS) {
                out.add(new RestorePoint.WrittenLater(sp.path(), sp.metadataTimestamp()));
            }
        }
        for (CheckpointLocation cp : job.ofKind(CheckpointKind.CHECKPOINT)) {
            if (cp.idFromName() >= chosenId) {
                continue;
            }
            DirectoryListings.Listing listing = listings.listOrThrow(cp.path());
            org.apache.flink.core.fs.FileStatus metadata = listing.exists()
                    ? listing.get(io.github.s3tiered.inspector.metadata.CheckpointMetadataReader.METADATA_FILE) : null;
            if (metadata != null && metadata.getModificationTime() > chosen.metadataTimestamp() + WRITTEN_LATER_MARGIN_MILLIS) {
                out.add(new RestorePoint.WrittenLater(cp.path(), metadata.getModificationTime()));
            }
        }
        return out;
    }

    /** One more listing of the job directory: does it show a checkpoint above {@code highestListed}? */
    private static boolean newerCheckpointListed(Path jobDir, long highestListed, FileSystemCalls calls) throws IOException {
        JobDirectory now = CheckpointDiscovery.jobDirectory(jobDir, new DirectoryListings(calls));
        return now.ofKind(CheckpointKind.CHECKPOINT).stream().anyMatch(cp -> cp.idFromName() > highestListed);
    }

    private Validation validateListed(Path dir, RestorePointOptions options, DirectoryListings listings) throws IOException {
        try {
            return validator.validate(dir, options.deep(), listings);
        } catch (FileNotFoundException e) {
            // the validator throws it only for a directory that no longer exists
            throw new CheckpointVanished(dir, e);
        }
    }

    private static final class CheckpointVanished extends IOException {
        final Path dir;

        /** {@code cause}: the directory's absence; null when only its {@code _metadata} went. */
        CheckpointVanished(Path dir, FileNotFoundException cause) {
            super(cause == null ? dir + " lost its _metadata or files while a newer checkpoint appeared" : cause.getMessage(),
                    cause);
            this.dir = dir;
        }
    }
}
