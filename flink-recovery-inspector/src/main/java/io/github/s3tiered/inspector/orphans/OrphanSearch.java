package io.github.s3tiered.inspector.orphans;

import io.github.s3tiered.inspector.CheckpointKind;
import io.github.s3tiered.inspector.CheckpointLocation;
import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.InspectionProgress;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.OrphanFile;
import io.github.s3tiered.inspector.OrphanOptions;
import io.github.s3tiered.inspector.Orphans;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.discovery.CheckpointDiscovery;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.inspector.metadata.MetadataLoading;
import io.github.s3tiered.inspector.storage.DirectoryListings;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds files under a job's {@code shared/} and {@code taskowned/}, and {@code chk-N} directories
 * without metadata, that no retained checkpoint references. A file is kept when in doubt: younger
 * than the minimum age, of unknown age, or inside a subdirectory (Flink's file merging) a retained
 * checkpoint references something in.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class OrphanSearch {

    /** The most {@code chk-N} ids between retained checkpoints probed for a {@code _metadata} no listing showed. */
    static final int MAX_GAP_PROBES = 100;
    /** How many ids in a row without {@code _metadata} end the probes above the newest and below the oldest retained. */
    static final int EDGE_PROBES = 3;
    /**
     * How far this host's clock may run ahead of S3's, whose stamps the ages are taken from: an
     * orphan must be this much older than {@code --min-age} and the checkpoint timeout (the storage's
     * own removal compares S3's stamps with each other, with {@code orphan-clock-margin}).
     */
    static final long CLOCK_MARGIN_MILLIS = 60_000;

    private final ClassLoader classLoader;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;

    public OrphanSearch(ClassLoader classLoader, ChecksumSource checksums, InspectionProgress progress) {
        this.classLoader = classLoader;
        this.checksums = checksums;
        this.progress = progress;
    }

    /**
     * Checkpoints whose {@code _metadata} was gone when it was read, though a listing showed the
     * checkpoint: subsumed meanwhile by a newer one that listing did not show. Of this search.
     */
    private final List<CheckpointLocation> vanished = new ArrayList<>();
    /** Every checkpoint directory whose references this search looked for, by {@link PathKey}. */
    private final Set<String> lookedAt = new HashSet<>();

    public Orphans search(Path jobDir, OrphanOptions options, long nowMillis, DirectoryListings listings) throws IOException {
        vanished.clear();
        lookedAt.clear();
        FileSystemCalls calls = listings.calls();
        JobDirectory job = CheckpointDiscovery.jobDirectory(jobDir, listings);
        Set<String> referenced = new HashSet<>();
        List<Path> retained = new ArrayList<>();
        List<Problem> unreadable = new ArrayList<>();
        List<CheckpointLocation> withoutMetadata = new ArrayList<>();

        List<String> listingGaps = new ArrayList<>();
        MaterializationsInProgress materializations = new MaterializationsInProgress();
        collectReferences(job.checkpoints(), nowMillis, referenced, retained, unreadable, withoutMetadata, listingGaps, listings,
                materializations);
        List<CheckpointLocation> siblingsWithoutMetadata = new ArrayList<>();
        Set<String> jobsRead = new HashSet<>(Set.of(PathKey.of(jobDir)));
        if (options.includeSiblingJobs() && jobDir.getParent() != null) {
            for (JobDirectory sibling : siblingJobs(jobDir, listings)) {
                progress.step("reading the checkpoints of sibling job directory " + sibling.path());
                jobsRead.add(PathKey.of(sibling.path()));
                collectReferences(sibling.checkpoints(), nowMillis, referenced, retained, unreadable, siblingsWithoutMetadata,
                        listingGaps, listings);
            }
        }
        for (Path other : options.alsoRead()) {
            // a job resumed in CLAIM mode into another checkpoint directory: read as the siblings are;
            // a path of another kind (a checkpoint: the job's older retained ones would go unread; a
            // job's shared/, an empty directory: nothing) would let files it uses look unreferenced
            io.github.s3tiered.inspector.PathRole role = CheckpointDiscovery.classify(other, listings);
            if (role != io.github.s3tiered.inspector.PathRole.JOB_DIRECTORY
                    && role != io.github.s3tiered.inspector.PathRole.BASE_DIRECTORY) {
                throw new IOException("The directory to read as well " + other + " is neither a job directory nor a"
                        + " checkpoint directory of jobs (" + role + "): name the job directory of the job that"
                        + " resumed from this one, or the checkpoint directory holding it");
            }
            for (JobDirectory claimer : CheckpointDiscovery.discover(other, listings)) {
                if (jobsRead.add(PathKey.of(claimer.path()))) {
                    progress.step("reading the checkpoints of job directory " + claimer.path());
                    collectReferences(claimer.checkpoints(), nowMillis, referenced, retained, unreadable,
                            siblingsWithoutMetadata, listingGaps, listings);
                }
            }
        }

        PreUploadGrace grace = PreUploadGrace.of(jobDir, calls, checksums, options.preUploadGrace());
        // a checkpoint in progress writes files its _metadata names only when it completes, up to its
        // timeout; ages are S3's stamps against this host's clock, which may run ahead of S3's
        long minAge = Math.max(options.minAge().toMillis(), grace.checkpointTimeoutMillis());
        // (no margin where no minimum age was asked for: every unreferenced file, a stopped job's)
        long aheadOfS3 = minAge > 0 ? nowMillis - CLOCK_MARGIN_MILLIS : nowMillis;
        long oldest = aheadOfS3 - minAge;
        // an unknown grace keeps every such file: a live TaskManager may be handing it to a checkpoint
        long oldestPreUploaded = grace.unknown() ? Long.MIN_VALUE : Math.min(oldest, aheadOfS3 - grace.millis());
        List<OrphanFile> orphans = new ArrayList<>();
        int[] tooYoung = {0};
        int[] preUploadsKept = {0};
        walk(new Path(jobDir, CheckpointNames.SHARED_DIR), OrphanFile.Kind.SHARED_FILE, referenced, oldest, oldestPreUploaded,
                orphans, tooYoung, preUploadsKept, listings);
        Path taskOwned = new Path(jobDir, CheckpointNames.TASK_OWNED_DIR);
        long oldestTaskOwned = oldest;
        if (materializations.any()) {
            Map<String, Long> times = new HashMap<>();
            modificationTimes(taskOwned, listings, times);
            oldestTaskOwned = Math.min(oldest, materializations.orphanedBefore(times));
        }
        walk(taskOwned, OrphanFile.Kind.TASK_OWNED_FILE, referenced, oldestTaskOwned, oldestTaskOwned, orphans, tooYoung,
                preUploadsKept, listings);

        // A retained checkpoint that the listing of the job directory left out would make the files
        // only it references look unreferenced. Some S3-compatible stores leave existing objects out
        // of a listing while others are written or deleted, so the listing is cross-checked before
        // anything is called an orphan; the references of every checkpoint found so are kept too.
        crossCheckCheckpoints(jobDir, job, nowMillis, referenced, retained, unreadable, listingGaps, listings);
        // A checkpoint without _metadata when first looked at may have completed since, and Flink
        // then subsumed the one whose references were read: its reused files, often days old, would
        // look unreferenced. Each is looked at again (one HEAD), and its references kept if it completed.
        List<CheckpointLocation> stillWithout = new ArrayList<>();
        collectReferences(withoutMetadata, nowMillis, referenced, retained, unreadable, stillWithout, listingGaps, listings);
        withoutMetadata.retainAll(stillWithout);
        keepMetadataNamedOtherwise(withoutMetadata, referenced, retained, unreadable, listings);
        List<CheckpointLocation> siblingsStillWithout = new ArrayList<>();
        collectReferences(siblingsWithoutMetadata, nowMillis, referenced, retained, unreadable, siblingsStillWithout, listingGaps,
                listings);
        keepMetadataNamedOtherwise(siblingsStillWithout, referenced, retained, unreadable, listings);
        // unlike this job's, the siblings' directories were listed once: one without _metadata may
        // be one subsumed before it was read, as well as one in progress
        vanished.addAll(siblingsStillWithout);
        findWhatSubsumedTheVanished(nowMillis, referenced, retained, unreadable, listingGaps, listings);
        orphans.removeIf(o -> isReferenced(referenced, o.path()));

        for (CheckpointLocation stray : withoutMetadata) {
            if (stray.kind() == CheckpointKind.SAVEPOINT) {
                // the operator's, and Flink leaves a failed one only on a crash; a native savepoint a job
                // resumed in CLAIM mode loses its _metadata when subsumed while that job's checkpoints,
                // perhaps under another directory than the ones read here, still use its files
                continue;
            }
            String dirKey = PathKey.of(stray.path());
            String dirPath = pathOnly(stray.path());
            if (referenced.stream().anyMatch(r -> PathKey.isInside(r, dirKey) || PathKey.isInside(r, dirPath))) {
                continue;
            }
            DirectoryListings.Listing content = listings.listOrThrow(stray.path());
            long newest = 0;
            long bytes = 0;
            FileStatus self = null;
            for (FileStatus s : listings.listOrThrow(jobDir).entries().values()) {
                if (PathKey.of(s.getPath()).equals(dirKey)) {
                    self = s;
                }
            }
            if (self != null) {
                newest = self.getModificationTime();
            }
            for (FileStatus s : content.entries().values()) {
                newest = Math.max(newest, s.getModificationTime());
                bytes += s.isDir() ? 0 : s.getLen();
            }
            if (newest > 0 && newest <= oldest) {
                orphans.add(new OrphanFile(stray.path(), OrphanFile.Kind.STRAY_CHECKPOINT_DIRECTORY, bytes, newest));
            } else {
                tooYoung[0]++;
            }
        }

        List<Path> deleted = new ArrayList<>();
        String refused = null;
        if (!listingGaps.isEmpty()) {
            // a listing proven incomplete may have left out more: no file is safe to call an orphan
            refused = "no orphans reported and nothing deleted: the storage's listings of " + jobDir + " left out what exists ("
                    + String.join("; ", listingGaps) + "), so a retained checkpoint may be missing from them too and the"
                    + " files only it references would look unreferenced; search again later";
            orphans.clear();
        } else if (grace.unreadable() != null) {
            // it records how long the job's checkpoints may run before their _metadata names their files
            refused = "no orphans reported and nothing deleted: " + grace.unreadable() + ", so how long a checkpoint"
                    + " in progress may still write files before its _metadata names them is unknown; search again later";
            orphans.clear();
        } else if (!orphans.isEmpty() && retained.isEmpty()) {
            // nothing read names what the directory holds: with entropy injection a directory under a
            // resolved entropy prefix holds a job's files and chk-N while their _metadata lie under the
            // path without the marker, so every file here would look unreferenced
            refused = "no orphans reported and nothing deleted: no retained checkpoint was found in " + jobDir
                    + (options.includeSiblingJobs() ? " nor beside it" : "") + ", so nothing here is known to be"
                    + " unreferenced. Under entropy injection, the checkpoints' _metadata lie under the path without the"
                    + " entropy marker: name that directory. If the job ended and Flink discarded all its checkpoints, what"
                    + " is left here is the job's and can go with the directory";
            orphans.clear();
        } else if (!unreadable.isEmpty()) {
            // listed as orphans, the files only they reference would be deleted by whoever acts on the list
            refused = "no orphans reported and nothing deleted: the _metadata of " + unreadable.size() + " checkpoint(s)"
                    + " cannot be read, so the files they reference are unknown (first: " + unreadable.get(0).file() + ")";
            orphans.clear();
        } else if (options.delete()) {
            for (OrphanFile o : orphans) {
                try {
                    if (o.kind() == OrphanFile.Kind.STRAY_CHECKPOINT_DIRECTORY) {
                        if (deleteStray(o.path(), listings)) {
                            deleted.add(o.path());
                        }
                    } else if (calls.delete(o.path(), false) || calls.getFileStatus(o.path()) == null) {
                        deleted.add(o.path());
                    }
                } catch (IOException e) {
                    // denied (no s3:DeleteObject) or not answered: the others would fail alike; what
                    // was deleted before is reported, not lost in the error
                    refused = "deleted " + deleted.size() + " of " + orphans.size() + " orphans, then stopped: the delete of "
                            + o.path() + " failed (" + e.getMessage() + "); the rest were not deleted";
                    break;
                }
            }
        }
        int referencedFiles = (int) referenced.stream().filter(r -> !r.startsWith(PATH_ONLY)).count();
        return new Orphans(jobDir, orphans, retained, unreadable, referencedFiles, tooYoung[0], grace.millis(),
                preUploadsKept[0], deleted, refused, calls.snapshot());
    }

    /**
     * Deletes the files the search listed in a stray {@code chk-N}, then the directory if nothing
     * else is in it; true when it is gone. Never a recursive delete, which lists again when it
     * runs: a run of the same job id restored from an older checkpoint counts its ids on from it,
     * and may be writing this {@code chk-N} anew by now (what it wrote must stay).
     */
    private static boolean deleteStray(Path dir, DirectoryListings listings) throws IOException {
        FileSystemCalls calls = listings.calls();
        for (FileStatus s : listings.listOrThrow(dir).entries().values()) {
            if (!s.isDir()) {
                calls.delete(s.getPath(), false);
            }
        }
        try {
            calls.delete(dir, false);
        } catch (IOException notEmpty) {
            return false; // a local file system refuses a directory with files in it: kept
        }
        return calls.getFileStatus(dir) == null;
    }

    /**
     * Looks for retained checkpoints that the first listing of the job directory left out, adds
     * their references, and records in {@code listingGaps} each proof that a listing was incomplete:
     * <ul>
     *   <li>the listing of the job directory lacked {@code shared/} or {@code taskowned/} although
     *       their own listings show entries;
     *   <li>a second listing of the job directory, made after the walk of {@code shared/} and
     *       {@code taskowned/}, shows a checkpoint whose {@code _metadata} is older than the start
     *       of the search (a younger one was completed meanwhile: its references are kept, no proof);
     *   <li>a {@code chk-N} between the lowest and the highest retained checkpoint that no listing
     *       showed has a {@code _metadata} (one HEAD per such id, the nearest to the newest first, at
     *       most {@link #MAX_GAP_PROBES}).
     * </ul>
     */
    private void crossCheckCheckpoints(Path jobDir, JobDirectory job, long nowMillis, Set<String> referenced, List<Path> retained,
            List<Problem> unreadable, List<String> listingGaps, DirectoryListings listings) throws IOException {
        FileSystemCalls calls = listings.calls();
        DirectoryListings.Listing first = listings.listOrThrow(jobDir);
        for (String sub : List.of(CheckpointNames.SHARED_DIR, CheckpointNames.TASK_OWNED_DIR)) {
            int entries = listings.listOrThrow(new Path(jobDir, sub)).entries().size();
            if (first.get(sub) == null && entries > 0) {
                listingGaps.add("its listing lacked " + sub + "/, which holds " + entries + " entries");
            }
        }

        Set<String> known = new HashSet<>();
        Set<Long> knownIds = new HashSet<>();
        for (CheckpointLocation cp : job.checkpoints()) {
            known.add(PathKey.of(cp.path()));
            knownIds.add(cp.idFromName());
        }
        // a second, fresh listing (not the cached one): what one listing left out, another may show
        FileStatus[] again = calls.listStatus(jobDir);
        List<CheckpointLocation> added = new ArrayList<>();
        for (FileStatus s : again == null ? new FileStatus[0] : again) {
            String name = s.getPath().getName();
            if (!s.isDir() || known.contains(PathKey.of(s.getPath()))) {
                continue;
            }
            if (CheckpointNames.isCheckpointName(name)) {
                added.add(new CheckpointLocation(s.getPath(), CheckpointKind.CHECKPOINT, CheckpointNames.idFromName(name)));
            } else if (CheckpointNames.isSavepointName(name)) {
                added.add(new CheckpointLocation(s.getPath(), CheckpointKind.SAVEPOINT, -1));
            }
        }
        for (CheckpointLocation cp : added) {
            knownIds.add(cp.idFromName());
            FileStatus metadata = calls.getFileStatus(new Path(cp.path(), CheckpointMetadataReader.METADATA_FILE));
            if (metadata == null || metadata.isDir()) {
                continue; // in progress or aborted: it references nothing yet
            }
            if (metadata.getModificationTime() < nowMillis) {
                listingGaps.add("a second listing showed " + cp.path().getName() + ", whose _metadata predates the search");
            }
            collectReferences(List.of(cp), nowMillis, referenced, retained, unreadable, new ArrayList<>(), listingGaps, listings);
        }

        long low = Long.MAX_VALUE;
        long high = Long.MIN_VALUE;
        for (Path r : retained) {
            long id = CheckpointNames.idFromName(r.getName());
            if (id >= 0 && PathKey.of(r.getParent()).equals(PathKey.of(jobDir))) {
                low = Math.min(low, id);
                high = Math.max(high, id);
            }
        }
        if (high < 0) {
            return;
        }
        int probes = 0;
        for (long id = high - 1; id > low && probes < MAX_GAP_PROBES; id--) {
            if (knownIds.contains(id)) {
                continue;
            }
            probes++;
            probeForUnlisted(jobDir, id, nowMillis, referenced, retained, unreadable, listingGaps, listings);
        }
        // beyond the newest and the oldest retained: a retained checkpoint both listings left out
        // there is between no two others (the newest, with num-retained above 1, holds the files
        // only it references); ids go up one at a time, failed checkpoints skip some
        int misses = 0;
        for (long id = high + 1; misses < EDGE_PROBES; id++) {
            if (knownIds.contains(id)) {
                continue;
            }
            misses = probeForUnlisted(jobDir, id, nowMillis, referenced, retained, unreadable, listingGaps, listings) ? 0
                    : misses + 1;
        }
        misses = 0;
        for (long id = low - 1; id >= 1 && misses < EDGE_PROBES; id--) {
            if (knownIds.contains(id)) {
                continue;
            }
            misses = probeForUnlisted(jobDir, id, nowMillis, referenced, retained, unreadable, listingGaps, listings) ? 0
                    : misses + 1;
        }
    }

    /** One HEAD of {@code chk-<id>/_metadata}; a file there no listing showed is a gap, and its references are kept. */
    private boolean probeForUnlisted(Path jobDir, long id, long nowMillis, Set<String> referenced, List<Path> retained,
            List<Problem> unreadable, List<String> listingGaps, DirectoryListings listings) throws IOException {
        Path dir = new Path(jobDir, "chk-" + id);
        FileStatus metadata = listings.calls().getFileStatus(new Path(dir, CheckpointMetadataReader.METADATA_FILE));
        if (metadata == null || metadata.isDir()) {
            return false;
        }
        if (metadata.getModificationTime() < nowMillis) {
            listingGaps.add("no listing showed " + dir.getName() + ", which has a _metadata");
        } // else completed during the search (a live job): its references are kept, no gap proven
        collectReferences(List.of(new CheckpointLocation(dir, CheckpointKind.CHECKPOINT, id)), nowMillis, referenced,
                retained, unreadable, new ArrayList<>(), listingGaps, listings);
        return true;
    }

    /**
     * Reads the references of each checkpoint that has a {@code _metadata}; the others go to
     * {@code withoutMetadata}. A {@code _metadata} its directory's listing lacks is looked for by a
     * HEAD: a retained checkpoint taken for one without metadata would lose its references, and its
     * directory would look like an aborted checkpoint's. One found so that is older than the search
     * proves the listing incomplete ({@code listingGaps}).
     */
    private void collectReferences(List<CheckpointLocation> checkpoints, long nowMillis, Set<String> referenced,
            List<Path> retained, List<Problem> unreadable, List<CheckpointLocation> withoutMetadata, List<String> listingGaps,
            DirectoryListings listings) throws IOException {
        collectReferences(checkpoints, nowMillis, referenced, retained, unreadable, withoutMetadata, listingGaps, listings, null);
    }

    /** As above; {@code materializations}, when given, is offered each checkpoint's changelog materializations. */
    private void collectReferences(List<CheckpointLocation> checkpoints, long nowMillis, Set<String> referenced,
            List<Path> retained, List<Problem> unreadable, List<CheckpointLocation> withoutMetadata, List<String> listingGaps,
            DirectoryListings listings, MaterializationsInProgress materializations) throws IOException {
        for (CheckpointLocation cp : checkpoints) {
            lookedAt.add(PathKey.of(cp.path()));
            DirectoryListings.Listing content = listings.listOrThrow(cp.path());
            FileStatus metadataStatus = content.get(CheckpointMetadataReader.METADATA_FILE);
            if (metadataStatus == null || metadataStatus.isDir()) {
                metadataStatus = listings.calls().getFileStatus(new Path(cp.path(), CheckpointMetadataReader.METADATA_FILE));
                if (metadataStatus != null && !metadataStatus.isDir() && metadataStatus.getModificationTime() < nowMillis) {
                    listingGaps.add("the listing of " + cp.path().getName() + " lacked its _metadata");
                }
            }
            if (metadataStatus == null || metadataStatus.isDir()) {
                withoutMetadata.add(cp);
                continue;
            }
            progress.step("reading " + new Path(cp.path(), CheckpointMetadataReader.METADATA_FILE));
            // as the storage durably holds it: a stale local copy must not decide what is referenced
            MetadataLoading.Loaded loaded = MetadataLoading.load(cp.path(), listings.calls(), checksums, classLoader);
            if (loaded.metadata() == null) {
                if (loaded.problem().verdict() != Verdict.NO_METADATA) {
                    unreadable.add(loaded.problem());
                } else {
                    vanished.add(cp); // deleted since the listing: a checkpoint Flink just subsumed
                }
                continue;
            }
            CheckpointMetadata metadata = loaded.metadata();
            CheckpointReferences refs = keep(cp.path(), new Path(cp.path(), CheckpointMetadataReader.METADATA_FILE), metadata,
                    referenced, retained, unreadable);
            if (materializations != null) {
                materializations.offer(metadata.getCheckpointId(), refs.materializations());
            }
        }
    }

    /** A checkpoint retained: what it references is kept. */
    private static CheckpointReferences keep(Path checkpointDir, Path metadataFile, CheckpointMetadata metadata,
            Set<String> referenced, List<Path> retained, List<Problem> unreadable) {
        retained.add(checkpointDir);
        CheckpointReferences refs = CheckpointReferences.of(metadata);
        for (ReferencedFile f : refs.files()) {
            referenced.add(PathKey.of(f.path()));
            referenced.add(pathOnly(f.path()));
        }
        if (!refs.unsupportedHandles().isEmpty()) {
            // files it references that are not known: none may be taken for an orphan
            unreadable.add(new Problem(Verdict.UNKNOWN, metadataFile.toString(),
                    "state handles of a type this inspector cannot map to files: " + refs.unsupportedHandles().get(0)));
        }
        return refs;
    }

    /**
     * Of the checkpoint directories still without {@code _metadata}, those holding it under another
     * name (kept so by hand) are checkpoints, not aborted ones: Flink restores from any file a
     * restore path names. Such a file begins with Flink's metadata magic number: the first 4 bytes
     * of each file not named as Flink names its own are read, as the storage durably holds them,
     * whatever their age (a copy of an old checkpoint's metadata is young, the files it references
     * old). A checkpoint found so keeps its directory and what it references; a file that begins
     * so but cannot be read stops the search from reporting orphans.
     */
    private void keepMetadataNamedOtherwise(List<CheckpointLocation> withoutMetadata, Set<String> referenced,
            List<Path> retained, List<Problem> unreadable, DirectoryListings listings) throws IOException {
        for (java.util.Iterator<CheckpointLocation> it = withoutMetadata.iterator(); it.hasNext(); ) {
            CheckpointLocation cp = it.next();
            boolean kept = false;
            for (FileStatus s : listings.listOrThrow(cp.path()).entries().values()) {
                if (s.isDir() || s.getLen() < 4 || namedAsFlinkNamesItsOwn(s.getPath().getName())) {
                    continue;
                }
                byte[] head = listings.calls().firstBytes(s.getPath(), 4);
                if (head == null || head.length < 4
                        || java.nio.ByteBuffer.wrap(head).getInt() != org.apache.flink.runtime.checkpoint.Checkpoints.HEADER_MAGIC_NUMBER) {
                    continue;
                }
                progress.step("reading " + s.getPath() + ", which begins as checkpoint metadata");
                MetadataLoading.Loaded loaded = MetadataLoading.load(cp.path(), s.getPath(), listings.calls(), checksums,
                        classLoader);
                if (loaded.metadata() == null) {
                    unreadable.add(new Problem(Verdict.UNKNOWN, s.getPath().toString(), "begins as checkpoint metadata kept"
                            + " under another name than _metadata (Flink restores from such a file when a restore path"
                            + " names it), but cannot be read: " + loaded.problem().reason()));
                    continue;
                }
                if (!kept) {
                    keep(cp.path(), s.getPath(), loaded.metadata(), referenced, retained, unreadable);
                    kept = true;
                } else {
                    keep(cp.path(), s.getPath(), loaded.metadata(), referenced, new ArrayList<>(), unreadable);
                }
            }
            if (kept) {
                it.remove(); // a checkpoint, not a stray directory
            }
        }
    }

    /** Flink's state files: a random UUID; a metadata file being written: {@code ._metadata.inprogress.<uuid>}. */
    private static final java.util.regex.Pattern FLINK_OWN_NAME = java.util.regex.Pattern.compile(
            "(\\._metadata\\.inprogress\\.)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private static boolean namedAsFlinkNamesItsOwn(String name) {
        return FLINK_OWN_NAME.matcher(name).matches();
    }

    /**
     * A checkpoint that vanished between its directory's listing and the read of its
     * {@code _metadata} (or a sibling job's found without one) was subsumed by a newer one, which completed before it was deleted and
     * which that listing did not show. That newer one reuses the vanished one's files (a sibling
     * job restored in CLAIM mode: this job's {@code shared/} files); unread, they would look
     * unreferenced. So each directory where one vanished is listed afresh and the checkpoints it
     * shows for the first time are read. One that vanishes again is looked for again, a few
     * times; then the search reports no orphans (a job subsuming faster than it can be read).
     */
    private void findWhatSubsumedTheVanished(long nowMillis, Set<String> referenced, List<Path> retained,
            List<Problem> unreadable, List<String> listingGaps, DirectoryListings listings) throws IOException {
        for (int round = 0; !vanished.isEmpty(); round++) {
            if (round == MAX_RELISTINGS) {
                listingGaps.add("checkpoints kept being subsumed while they were read (last: " + vanished.get(0).path()
                        + "), so what their successors reference is unknown");
                vanished.clear();
                return;
            }
            Set<String> dirs = new java.util.LinkedHashSet<>();
            Map<String, Path> dirPaths = new HashMap<>();
            for (CheckpointLocation cp : vanished) {
                String key = PathKey.of(cp.path().getParent());
                dirs.add(key);
                dirPaths.put(key, cp.path().getParent());
            }
            vanished.clear();
            for (String key : dirs) {
                Path dir = dirPaths.get(key);
                progress.step("listing " + dir + " again: a checkpoint in it was subsumed while it was read");
                FileStatus[] again;
                try {
                    again = listings.calls().listStatus(dir); // fresh, not the cached listing
                } catch (IOException e) {
                    listingGaps.add("listing " + dir + " again failed (" + e.getMessage() + "), so what succeeded a"
                            + " checkpoint subsumed there is unknown");
                    continue;
                }
                List<CheckpointLocation> added = new ArrayList<>();
                for (FileStatus st : again == null ? new FileStatus[0] : again) {
                    String name = st.getPath().getName();
                    if (st.isDir() && CheckpointNames.isCheckpointName(name) && !lookedAt.contains(PathKey.of(st.getPath()))) {
                        added.add(new CheckpointLocation(st.getPath(), CheckpointKind.CHECKPOINT, CheckpointNames.idFromName(name)));
                    }
                }
                // one listed now without _metadata is in progress: what vanished was subsumed by one that
                // completed first, shown here with its _metadata (or gone in turn: vanished again)
                collectReferences(added, nowMillis, referenced, retained, unreadable, new ArrayList<>(), listingGaps,
                        new DirectoryListings(listings.calls()));
            }
        }
    }

    private static final int MAX_RELISTINGS = 3;

    /** Marks the keys of {@link #pathOnly} in the set of references. */
    private static final String PATH_ONLY = "path-only:";

    /**
     * The path alone, without scheme and authority: {@code _metadata} names files as Flink was
     * given them ({@code hdfs:///x}, {@code s3a://b/x}) and a listing names them as the file system
     * qualifies them ({@code hdfs://ns1/x}), or the operator lists them through another scheme of
     * the same store ({@code s3://b/x}). A file counts as referenced by either form: more is kept,
     * never more deleted.
     */
    private static String pathOnly(Path p) {
        String path = p.toUri().getPath() == null ? "" : p.toUri().getPath();
        while (path.length() > 1 && path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        return PATH_ONLY + path;
    }

    private static boolean isReferenced(Set<String> referenced, Path file) {
        return referenced.contains(PathKey.of(file)) || referenced.contains(pathOnly(file));
    }

    private static List<JobDirectory> siblingJobs(Path jobDir, DirectoryListings listings) throws IOException {
        List<JobDirectory> out = new ArrayList<>();
        String self = PathKey.of(jobDir);
        for (FileStatus s : listings.listOrThrow(jobDir.getParent()).entries().values()) {
            if (!s.isDir() || PathKey.of(s.getPath()).equals(self) || !CheckpointNames.looksLikeJobId(s.getPath().getName())) {
                continue;
            }
            JobDirectory sibling = CheckpointDiscovery.jobDirectory(s.getPath(), listings);
            if (!sibling.checkpoints().isEmpty()) {
                out.add(sibling);
            }
        }
        return out;
    }

    /** The modification times of the files under {@code dir}, by {@link PathKey} and by its path part. */
    private static void modificationTimes(Path dir, DirectoryListings listings, Map<String, Long> into) throws IOException {
        for (FileStatus s : listings.listOrThrow(dir).entries().values()) {
            if (s.isDir()) {
                modificationTimes(s.getPath(), listings, into);
            } else {
                String key = PathKey.of(s.getPath());
                into.put(key, s.getModificationTime());
                into.put(PathKey.pathPart(key), s.getModificationTime());
            }
        }
    }

    /**
     * {@code oldestPreUploaded} applies to the names of uploads ahead of checkpoints, {@code oldest}
     * to the others; {@code preUploadsKept} counts the former among {@code tooYoung}, which also
     * counts the files kept in a directory in use (see below).
     *
     * <p>A subdirectory (Flink's file merging: {@code shared/job_<id>_op_<id>/},
     * {@code taskowned/job_<id>_tm_<id>/}) that holds a file a retained checkpoint references keeps
     * its unreferenced files too: with {@code file-merging.across-checkpoint-boundary}, a
     * TaskManager keeps physical files open in a pool and appends later checkpoints' segments to
     * them, while no retained checkpoint references one that only a subsumed checkpoint used, and
     * its time is its creation's on some file systems (HDFS) or its last write's, maybe older than
     * the minimum age: deleted, the next checkpoint would name a file that no longer exists.
     */
    private void walk(Path dir, OrphanFile.Kind kind, Set<String> referenced, long oldest, long oldestPreUploaded,
            List<OrphanFile> orphans, int[] tooYoung, int[] preUploadsKept, DirectoryListings listings) throws IOException {
        walk(dir, 0, kind, referenced, oldest, oldestPreUploaded, orphans, tooYoung, preUploadsKept, listings);
    }

    private void walk(Path dir, int depth, OrphanFile.Kind kind, Set<String> referenced, long oldest,
            long oldestPreUploaded, List<OrphanFile> orphans, int[] tooYoung, int[] preUploadsKept,
            DirectoryListings listings) throws IOException {
        DirectoryListings.Listing listing = listings.listOrThrow(dir);
        boolean inUse = depth > 0 && listing.entries().values().stream()
                .anyMatch(s -> !s.isDir() && isReferenced(referenced, s.getPath()));
        for (FileStatus s : listing.entries().values()) {
            if (s.isDir()) {
                walk(s.getPath(), depth + 1, kind, referenced, oldest, oldestPreUploaded, orphans, tooYoung,
                        preUploadsKept, listings);
            } else if (!isReferenced(referenced, s.getPath())) {
                long time = s.getModificationTime();
                boolean preUploaded = CheckpointNames.isPreUploadedName(s.getPath().getName());
                if (!inUse && time > 0 && time <= (preUploaded ? oldestPreUploaded : oldest)) {
                    orphans.add(new OrphanFile(s.getPath(), kind, s.getLen(), time));
                } else {
                    tooYoung[0]++;
                    preUploadsKept[0] += preUploaded ? 1 : 0;
                }
            }
        }
    }
}
