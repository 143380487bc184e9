package io.github.s3tiered.inspector.validation;

import io.github.s3tiered.inspector.CheckpointKind;
import io.github.s3tiered.inspector.CheckpointLocation;
import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.DeepCheck;
import io.github.s3tiered.inspector.InspectionProgress;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.RequestCount;
import io.github.s3tiered.inspector.StorageUnreadableException;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.inspector.metadata.MetadataConsistency;
import io.github.s3tiered.inspector.metadata.MetadataLoading;
import io.github.s3tiered.inspector.storage.DirectoryListings;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.UnsupportedFileSystemSchemeException;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Validates one checkpoint: reads its metadata as the storage durably holds it (checked against
 * its recorded CRC32C, bounded against hostile lengths, cross-checked), then checks that every
 * referenced file is there with its recorded size by listing each parent directory once (the
 * job's {@code shared/} listed from the start, while the metadata is read); in deep mode it
 * rehearses the restore ({@link DeepValidation}).
 *
 * <p>Every failure to read the storage becomes an {@link Verdict#UNKNOWN} problem, never a verdict
 * about the checkpoint: a throttled or unreachable S3 proves nothing.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class CheckpointValidator {

    /**
     * Schemes of file systems that Flink's plugins or Hadoop provide, exactly as they are looked
     * up (case-sensitive, as Flink's lookup is): a file named through one of them, where no file
     * system serves it, is unknown, not missing.
     */
    private static final java.util.Set<String> WELL_KNOWN_SCHEMES = java.util.Set.of("file", "s3", "s3a", "s3n", "s3p",
            "s3tiered", "gs", "oss", "wasb", "wasbs", "abfs", "abfss", "hdfs", "viewfs", "webhdfs", "swebhdfs", "cosn",
            "obs", "ofs", "jfs");


    private final ClassLoader classLoader;
    private final boolean jobClassesComplete;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;
    private final long inFlightDataIgnoredOf;

    public CheckpointValidator(ClassLoader classLoader, boolean jobClassesComplete, ChecksumSource checksums, InspectionProgress progress) {
        this(classLoader, jobClassesComplete, checksums, progress, -1);
    }

    /** @param inFlightDataIgnoredOf the checkpoint judged without its in-flight data, as Flink restores it then; -1: none */
    public CheckpointValidator(ClassLoader classLoader, boolean jobClassesComplete, ChecksumSource checksums, InspectionProgress progress,
            long inFlightDataIgnoredOf) {
        this.inFlightDataIgnoredOf = inFlightDataIgnoredOf;
        this.classLoader = classLoader;
        this.jobClassesComplete = jobClassesComplete;
        this.checksums = checksums;
        this.progress = progress;
    }

    public Validation validate(Path path, boolean deep, DirectoryListings listings) throws IOException {
        String spelled = path.toUri().getPath();
        if (spelled != null && spelled.length() > 1 && spelled.endsWith("/")) {
            path = path.getParent(); // a URI of a directory ends with '/': the directory itself is meant
        }
        Path dir = CheckpointNames.checkpointDirectory(path);
        CheckpointKind kind = CheckpointNames.kindOf(dir);
        FileSystemCalls calls = listings.calls();
        RequestCount before = calls.snapshot();

        DirectoryListings.Listing own = listings.list(dir);
        if (own.unreadable()) {
            return failed(dir, kind, new Problem(Verdict.UNKNOWN, dir.toString(), own.error().getMessage()), 0, -1, calls, before);
        }
        Path metadataPath = new Path(dir, CheckpointMetadataReader.METADATA_FILE);
        FileStatus metadataStatus = own.get(CheckpointMetadataReader.METADATA_FILE);
        if (metadataStatus == null || metadataStatus.isDir()) {
            // confirmed by a direct status call (one HEAD on S3): a listing may leave out an object that exists
            try {
                metadataStatus = confirmed(metadataPath, calls);
            } catch (StorageUnreadableException e) {
                return failed(dir, kind, new Problem(Verdict.UNKNOWN, metadataPath.toString(), e.getMessage()), 0, -1, calls, before);
            }
        }
        if (metadataStatus == null && dir.equals(path) && path.getParent() != null && listsOnlyItself(own)) {
            // Flink restores from any file a restore path names, as that checkpoint's metadata, its
            // directory being the checkpoint's. A directory is what a name other than _metadata
            // usually means, so the file is asked for only when no such directory is there (a
            // listing of a file finds nothing through some S3 file systems, and the file
            // itself on a local disk and on s3tiered://).
            FileStatus named;
            try {
                named = confirmed(path, calls);
            } catch (StorageUnreadableException e) {
                return failed(dir, kind, new Problem(Verdict.UNKNOWN, path.toString(), e.getMessage()), 0, -1, calls, before);
            }
            if (named != null) {
                metadataPath = path;
                metadataStatus = named;
                dir = path.getParent();
                kind = CheckpointNames.kindOf(dir);
            }
        }
        if (metadataStatus == null && !own.exists()) {
            throw new FileNotFoundException("No such checkpoint directory: " + dir);
        }
        if (metadataStatus == null) {
            calls.dropStaleLocalCopy(metadataPath); // this host may keep a copy, which Flink's restore here would read
            return failed(dir, kind, new Problem(Verdict.NO_METADATA, null,
                    "no " + CheckpointMetadataReader.METADATA_FILE + " in " + dir + " (" + own.entries().size()
                            + " other entries): the checkpoint is in progress, was aborted, or its metadata was deleted"),
                    0, -1, calls, before);
        }

        if (kind == CheckpointKind.CHECKPOINT && CheckpointNames.isCheckpointName(dir.getName()) && dir.getParent() != null) {
            // Flink's layout: an incremental checkpoint's files are mostly in the job's shared/, a
            // listing of many pages that would otherwise wait for the _metadata to be read and
            // parsed; started now (the _metadata is known to be there), both go at once. A
            // checkpoint that references nothing there pays that one listing.
            listings.prefetch(new Path(dir.getParent(), CheckpointNames.SHARED_DIR));
        }
        MetadataLoading.Loaded loaded = MetadataLoading.load(dir, metadataPath, calls, checksums, classLoader);
        if (loaded.metadata() == null) {
            long bytes = loaded.problem().verdict() == Verdict.CORRUPT_METADATA ? metadataStatus.getLen() : -1;
            return failed(dir, kind, loaded.problem(), metadataStatus.getModificationTime(), bytes, calls, before);
        }
        CheckpointMetadata metadata = loaded.metadata();
        if (inFlightDataIgnoredOf >= 0 && metadata.getCheckpointId() == inFlightDataIgnoredOf) {
            metadata = withoutInFlightData(metadata);
        }
        List<Problem> problems = new ArrayList<>();
        for (String contradiction : MetadataConsistency.check(metadata, dir.getName())) {
            problems.add(new Problem(Verdict.CORRUPT_METADATA, metadataPath.toString(), contradiction));
        }

        CheckpointReferences refs = CheckpointReferences.of(metadata);
        if (!refs.unsupportedHandles().isEmpty()) {
            // their files are unknown, so nothing proves them there: never RESTORABLE on that
            problems.add(new Problem(Verdict.UNKNOWN, metadataPath.toString(), refs.unsupportedHandles().size()
                    + " state handle(s) of a type this inspector cannot map to files, so their files were not checked: "
                    + String.join("; ", refs.unsupportedHandles().subList(0, Math.min(3, refs.unsupportedHandles().size())))));
        }
        List<ReferencedFile> files = refs.files();
        progress.step("checking " + files.size() + " files of " + dir);
        Map<String, FileStatus> present = checkPresence(files, listings, problems);
        ChangelogFileSizes.check(refs.changelogFiles(), present, calls, checksums, problems);
        dropStaleLocalCopies(problems, calls);

        DeepCheck deepCheck = null;
        if (deep && problems.stream().noneMatch(p -> p.verdict() == Verdict.CORRUPT_METADATA)) {
            deepCheck = new DeepValidation(classLoader, jobClassesComplete, checksums, progress, calls)
                    .run(metadataPath, loaded.read(), metadata, files, present, problems);
        }
        return new Validation(dir, kind, metadata.getCheckpointId(), verdictOf(problems), problems,
                metadataStatus.getModificationTime(), metadataStatus.getLen(), files, refs.inlineHandles(),
                refs.unsupportedHandles(), deepCheck, calls.snapshot().minus(before), metadata);
    }

    /** As Flink's restore takes it with the in-flight data discarded ({@code CheckpointCoordinator#extractOperatorStates}). */
    private static CheckpointMetadata withoutInFlightData(CheckpointMetadata metadata) {
        List<org.apache.flink.runtime.checkpoint.OperatorState> states = new ArrayList<>();
        for (org.apache.flink.runtime.checkpoint.OperatorState s : metadata.getOperatorStates()) {
            states.add(s.copyAndDiscardInFlightData());
        }
        return new CheckpointMetadata(metadata.getCheckpointId(), states, metadata.getMasterStates(),
                metadata.getCheckpointProperties());
    }

    /** Said of a missing file that holds in-flight data only. */
    private static final String IN_FLIGHT_ONLY = " (in-flight data only: Flink resumes the checkpoint without it when"
            + " execution.state-recovery.without-channel-state.checkpoint-id names it, losing the records in flight at"
            + " the checkpoint)";

    /**
     * The verdict on a checkpoint listed in its job directory but gone when its turn came (the
     * validation threw {@link FileNotFoundException}): a running job removes what it subsumes.
     */
    public static Validation vanished(CheckpointLocation location, FileSystemCalls calls) {
        Path dir = location.path();
        return failed(dir, location.kind(), new Problem(Verdict.NO_METADATA, null, dir + " no longer exists: it was"
                + " removed after its job directory was listed (a running job removes the checkpoints it subsumes)"),
                0, -1, calls, calls.snapshot());
    }

    /**
     * The verdict on a checkpoint not validated because the storage stopped answering for the ones
     * before it: UNKNOWN, as each of them would most likely be after its own retries.
     */
    public static Validation notAttempted(CheckpointLocation location, String why, FileSystemCalls calls) {
        return failed(location.path(), location.kind(), new Problem(Verdict.UNKNOWN, null, "not validated: " + why),
                0, -1, calls, calls.snapshot());
    }

    /** The first of the problems' verdicts in {@link Verdict}'s order, or RESTORABLE without any. */
    private static Verdict verdictOf(List<Problem> problems) {
        return problems.stream().map(Problem::verdict).min(Comparator.naturalOrder()).orElse(Verdict.RESTORABLE);
    }

    private static Validation failed(Path dir, CheckpointKind kind, Problem problem, long time, long bytes, FileSystemCalls calls,
            RequestCount before) {
        return new Validation(dir, kind, -1, problem.verdict(), List.of(problem), time, bytes, List.of(), 0, List.of(), null,
                calls.snapshot().minus(before), null);
    }

    /**
     * A file whose object S3 holds with another size than recorded was replaced or cut after it was
     * written, and one S3 no longer holds was deleted or lost: on {@code s3tiered://}, this host may
     * hold a local copy of the old content, which a restore here would use. One HEAD per such file
     * lets the file system drop that copy.
     */
    private static void dropStaleLocalCopies(List<Problem> problems, FileSystemCalls calls) {
        for (Problem p : problems) {
            if ((p.verdict() == Verdict.SIZE_MISMATCH || p.verdict() == Verdict.MISSING_FILES) && p.file() != null) {
                calls.dropStaleLocalCopy(new Path(p.file()));
            }
        }
    }

    /**
     * Checks each file against the listing of its directory (one listing per directory, in the
     * order first referenced; a scheme spelled another way is another directory). Returns the files
     * found, by {@link PathKey}.
     */
    private static Map<String, FileStatus> checkPresence(List<ReferencedFile> files, DirectoryListings listings,
            List<Problem> problems) throws IOException {
        Map<String, List<ReferencedFile>> byParent = new LinkedHashMap<>();
        Map<String, Path> parents = new LinkedHashMap<>();
        for (ReferencedFile f : files) {
            Path parent = f.path().getParent();
            // PathKey ignores the scheme's case; Flink's file system lookup does not ("File:" finds
            // none), so a scheme spelled otherwise is a directory of its own here
            String key = parent.toUri().getScheme() + "|" + PathKey.of(parent);
            parents.putIfAbsent(key, parent);
            byParent.computeIfAbsent(key, k -> new ArrayList<>()).add(f);
        }
        Map<String, FileStatus> present = new LinkedHashMap<>();
        for (Map.Entry<String, List<ReferencedFile>> e : byParent.entrySet()) {
            DirectoryListings.Listing listing;
            try {
                parents.get(e.getKey()).getFileSystem(); // as a restore resolves it, exactly
                listing = listings.list(parents.get(e.getKey()));
            } catch (UnsupportedFileSystemSchemeException noFileSystem) {
                // the checkpoint's own directory was read with a file system, these files name another
                String scheme = parents.get(e.getKey()).toUri().getScheme();
                if (scheme == null) { // a path without one takes fs.default-scheme's
                    scheme = org.apache.flink.core.fs.FileSystem.getDefaultFsUri().getScheme();
                }
                boolean known = scheme != null && WELL_KNOWN_SCHEMES.contains(scheme);
                for (ReferencedFile f : e.getValue()) {
                    problems.add(known
                            // a plugin missing on this host (a job moved from s3:// to s3tiered:// still
                            // references s3:// files): nothing says whether the file is there
                            ? new Problem(Verdict.UNKNOWN, f.path().toString(), "no file system for its scheme '" + scheme
                                    + "' on this host, so whether it is there is unknown: add the plugin (or Hadoop) for it"
                                    + " where this runs (" + noFileSystem.getMessage() + ")")
                            // a scheme no file system has (a damaged path: "File:", "fime:"), which no
                            // restore reads either
                            : new Problem(Verdict.MISSING_FILES, f.path().toString(), "no file system for its scheme '"
                                    + scheme + "' here, so a restore here cannot read it either ("
                                    + noFileSystem.getMessage() + ")"));
                }
                continue;
            }
            for (ReferencedFile f : e.getValue()) {
                if (listing.unreadable()) {
                    problems.add(new Problem(Verdict.UNKNOWN, f.path().toString(), listing.error().getMessage()));
                    continue;
                }
                FileStatus status = listing.get(f.path().getName());
                if (status == null || status.isDir() || !fits(f, status.getLen())) {
                    // a listing may leave out (or mis-size) an object that exists: only a direct
                    // status call (one HEAD on S3) decides, and only for the files the listing does not prove
                    try {
                        status = confirmed(f.path(), listings.calls());
                    } catch (StorageUnreadableException unreadable) {
                        problems.add(new Problem(Verdict.UNKNOWN, f.path().toString(), unreadable.getMessage()));
                        continue;
                    }
                }
                if (status == null) {
                    problems.add(new Problem(Verdict.MISSING_FILES, f.path().toString(),
                            "missing" + (listing.exists() ? "" : " (its directory " + listing.dir() + " is missing)")
                                    + "; holds " + String.join(",", f.kinds()) + " state of operator " + String.join(",", f.operators())
                                    + (f.kinds().equals(java.util.Set.of("channel")) ? IN_FLIGHT_ONLY : "")));
                } else if (f.exactSize() && status.getLen() != f.minSize()) {
                    problems.add(new Problem(Verdict.SIZE_MISMATCH, f.path().toString(),
                            "recorded size " + f.minSize() + " bytes, found " + status.getLen()));
                } else if (!f.exactSize() && status.getLen() < f.minSize()) {
                    problems.add(new Problem(Verdict.SIZE_MISMATCH, f.path().toString(),
                            "its segments need at least " + f.minSize() + " bytes, found " + status.getLen()));
                } else {
                    present.put(PathKey.of(f.path()), status);
                }
            }
        }
        return present;
    }

    private static boolean fits(ReferencedFile f, long size) {
        return f.exactSize() ? size == f.minSize() : size >= f.minSize();
    }

    /** Whether no directory {@code path} exists, or a listing of it answered only itself, a file. */
    private static boolean listsOnlyItself(DirectoryListings.Listing listing) {
        return !listing.exists() || listing.itselfAFile();
    }

    /**
     * The status of a file by a direct call (one HEAD on S3), null when it does not exist or is a
     * directory; a storage that does not answer throws {@link StorageUnreadableException}.
     */
    private static FileStatus confirmed(Path file, FileSystemCalls calls) throws IOException {
        FileStatus s = calls.getFileStatus(file);
        return s == null || s.isDir() ? null : s;
    }
}
