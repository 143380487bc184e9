package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.DaemonThreads;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * On the JobManager, proves in the background that each completed checkpoint is entirely in S3:
 * every file its {@code _metadata} references exists with the recorded size. Files are checked
 * against listings, one per directory (on S3 one request per 1,000 entries): only the directories
 * that hold files not verified before, and every directory each
 * {@link VerificationOptions#FULL_LISTING_INTERVAL}-th time, so that an object deleted later is
 * found too. The metadata comes from the bytes the JobManager just wrote, not from a read.
 *
 * <p>Only the newest checkpoint matters: while one is verified, newer completions replace each
 * other and the newest is verified next. A checkpoint being subsumed loses its files before its
 * {@code _metadata} goes (Flink's shared-state registry deletes them first), so a missing object
 * that the newer checkpoint does not reference is judged only when the next checkpoint is
 * verified: reported if the {@code _metadata} is still there (a checkpoint retained beside the
 * newer ones, {@code execution.checkpointing.num-retained} above 1), dropped if it went.
 *
 * <p>State (guarded by {@code this}): files verified with their sizes (pruned to the newest
 * checkpoint's references), objects known missing (dropped once no newer checkpoint references
 * them), the newest verified checkpoint and the failures.
 */
final class CompletedCheckpointVerifier {

    private static final Logger LOG = LoggerFactory.getLogger(CompletedCheckpointVerifier.class);
    private static final int LISTING_PAGE = 1000;

    /** One thread for all jobs of this JobManager: verification is listing-bound and rare. */
    private static final ExecutorService EXECUTOR = executor();
    /**
     * Verifiers of this process with a drain handed to the executor and not yet ended. A drain
     * writes the status file (into the local tier) and removes orphans after its job may have
     * ended; tests that delete a tier directory wait for this to reach zero.
     */
    private static final AtomicInteger ACTIVE_DRAINS = new AtomicInteger();

    private final Path jobDir;
    private final int fullListingInterval;
    private final ClassLoader classLoader;
    private final VerificationStatusFile statusFile;
    /** Null when orphans are left alone. */
    private final OrphanSweep sweep;

    private final Map<String, Long> verified = new HashMap<>();
    private final Set<String> knownMissing = new LinkedHashSet<>();
    private long newestVerified = -1;
    private long failedCheckpoints;
    private long checkpointsVerified;
    private long listRequests;
    private VerificationStatusFile.Failure lastFailure;
    private Completed pending;
    private static final int MAX_UNDECIDED = 100;

    /**
     * Checkpoints with objects missing that the newer one did not reference, oldest first, each
     * judged a verification later; several when retained checkpoints lose files one after another.
     */
    private final java.util.ArrayDeque<Undecided> undecided = new java.util.ArrayDeque<>();
    private boolean running;
    private long newestSubmitted = -1;

    /** A completed checkpoint: its id, its metadata as written, its directory. */
    private record Completed(long checkpointId, byte[] metadata, Path checkpointDir) {}

    /**
     * A checkpoint and the objects it references that S3 did not hold, none referenced by the
     * newer one ({@code newerId}, verified right after it): judged when a checkpoint newer than
     * that one is verified, a checkpoint interval later.
     */
    /** {@code unanswered}: how often S3 did not say whether its {@code _metadata} is still there. */
    private record Undecided(Completed checkpoint, List<String> missing, long newerId, int unanswered) {}

    /** How often an undecided checkpoint is judged again when S3 does not answer, before it is left unjudged. */
    private static final int MAX_UNANSWERED = 3;

    /** Failed listings in a row after which they are told once as an ERROR, then logged at DEBUG. */
    private static final int LISTINGS_FAILED_TO_TELL = 3;

    /** Only the verifier's single thread touches it. */
    private int listingsFailedInARow;

    /** Whether a checkpoint's {@code _metadata} is there, as one HEAD answered; UNKNOWN when it failed. */
    private enum MetadataThere { YES, GONE, UNKNOWN }

    CompletedCheckpointVerifier(Path jobDir, int fullListingInterval, ClassLoader classLoader, OrphanSweep sweep) {
        this.sweep = sweep;
        this.jobDir = jobDir;
        this.fullListingInterval = Math.max(1, fullListingInterval);
        this.classLoader = classLoader;
        this.statusFile = new VerificationStatusFile(jobDir);
    }

    /** The orphan removal, or null when orphans are left alone. */
    OrphanSweep sweep() {
        return sweep;
    }

    /** The status sent to the tasks with the next checkpoint. */
    synchronized VerificationStatus status() {
        return new VerificationStatus(newestVerified, failedCheckpoints, knownMissing);
    }

    /** Called when the JobManager finalized a checkpoint; returns at once. */
    void completed(long checkpointId, byte[] metadata, Path checkpointDir) {
        synchronized (this) {
            newestSubmitted = Math.max(newestSubmitted, checkpointId);
            pending = new Completed(checkpointId, metadata, checkpointDir);
            if (running) {
                return;
            }
            running = true;
            ACTIVE_DRAINS.incrementAndGet();
        }
        try {
            EXECUTOR.execute(this::drain);
        } catch (RuntimeException rejected) {
            synchronized (this) {
                running = false;
                ACTIVE_DRAINS.decrementAndGet();
            }
            LOG.warn("Could not verify checkpoint {} of {}: {}", checkpointId, jobDir, rejected.toString());
        }
    }

    private void drain() {
        boolean ended = false;
        try {
            drainPending();
            ended = true;
        } finally {
            if (!ended) {
                // an Error out of the sweep: the next completed checkpoint starts a new drain
                synchronized (this) {
                    running = false;
                    ACTIVE_DRAINS.decrementAndGet();
                }
            }
        }
    }

    /**
     * Verifies the pending checkpoint; returns having cleared {@code running} and counted the drain
     * out when nothing is pending any more, or having queued the next drain behind the other jobs'
     * (one thread serves every job of the JobManager: a job whose verifications take longer than
     * its checkpoint interval kept it for good, and the others were never verified).
     */
    private void drainPending() {
        while (true) {
            Completed next;
            synchronized (this) {
                next = pending;
                pending = null;
                if (next == null) {
                    running = false;
                    ACTIVE_DRAINS.decrementAndGet();
                    return;
                }
            }
            boolean deletedMeanwhile = false;
            try {
                verify(next);
            } catch (Throwable t) {
                deletedMeanwhile = deletedMeanwhile(next);
                if (deletedMeanwhile) {
                    LOG.info("Checkpoint {} of {} was deleted before it was verified (subsumed, or discarded as its job"
                            + " ended): {}", next.checkpointId(), jobDir, t.toString());
                } else {
                    LOG.warn("Could not verify checkpoint {} of {}: {}", next.checkpointId(), jobDir, t.toString());
                }
            }
            if (sweep != null) {
                Set<String> references;
                try {
                    references = referencesOf(next);
                } catch (IOException | RuntimeException e) {
                    // the sweep reads the _metadata itself (and removes nothing if it cannot); it also
                    // takes over the finalized checkpoints, which would pile up otherwise; a checkpoint
                    // deleted since it was verified has nothing to sweep for
                    if (!deletedMeanwhile && !deletedMeanwhile(next)) {
                        LOG.warn("Checkpoint {} of {}: references not parsed for the orphan removal: {}",
                                next.checkpointId(), jobDir, e.toString());
                    }
                    references = null;
                }
                sweep.afterCompleted(next.checkpointId(), references);
            }
            synchronized (this) {
                if (pending == null) {
                    running = false;
                    ACTIVE_DRAINS.decrementAndGet();
                    return;
                }
            }
            try {
                EXECUTOR.execute(this::drain); // still running and counted: the next drain goes on
                return;
            } catch (RuntimeException rejected) {
                // verified on this thread then
            }
        }
    }

    /**
     * Whether the checkpoint's {@code _metadata} is gone, asked after its verification failed:
     * reading a relative state handle (heap snapshots, full and canonical snapshots) resolves the
     * checkpoint's directory on S3, which fails once Flink deleted it, as it does with the last
     * checkpoint of a job that ended. One HEAD, and only after a failure; unknown counts as not.
     */
    private static boolean deletedMeanwhile(Completed c) {
        return metadataThere(c) == MetadataThere.GONE;
    }

    private static MetadataThere metadataThere(Completed c) {
        Path metadata = new Path(c.checkpointDir(), CheckpointMetadataReader.METADATA_FILE);
        try {
            metadata.getFileSystem().getFileStatus(metadata);
            return MetadataThere.YES;
        } catch (java.io.FileNotFoundException gone) {
            return MetadataThere.GONE;
        } catch (IOException | RuntimeException e) {
            LOG.debug("Could not tell whether {} is still there: {}", metadata, e.toString());
            return MetadataThere.UNKNOWN;
        }
    }

    /** Waits until no verifier of this process has work pending or running; true when idle in time. */
    static boolean awaitAllIdle(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (ACTIVE_DRAINS.get() > 0) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /**
     * Reports each undecided checkpoint's missing objects if its {@code _metadata} is still there
     * when a checkpoint newer than the one that followed it is verified, a checkpoint interval or
     * more after they were found missing: by then a subsumed checkpoint's is gone.
     */
    private void judgeUndecided(long verifying) {
        List<Undecided> due = new ArrayList<>();
        synchronized (this) {
            // the newer checkpoint follows at once: too soon for a subsumption to have ended
            while (!undecided.isEmpty() && verifying > undecided.peekFirst().newerId()) {
                due.add(undecided.removeFirst());
            }
        }
        due.forEach(this::judge); // one that S3 did not answer for goes back, for the next verification
    }

    private void judge(Undecided u) {
        Completed c = u.checkpoint();
        MetadataThere there = metadataThere(c);
        if (there == MetadataThere.GONE) {
            LOG.debug("Checkpoint {} of {} was subsumed: the {} object(s) found missing went with it", c.checkpointId(),
                    jobDir, u.missing().size());
            return;
        }
        if (there == MetadataThere.UNKNOWN) {
            // S3 throttled or failed the HEAD (while it absorbs the subsumption's deletes, say): a
            // retained checkpoint is not reported lost on no answer; asked again at the next verification
            if (u.unanswered() + 1 >= MAX_UNANSWERED) {
                LOG.warn("Checkpoint {} of {}, with {} object(s) missing that a newer one does not reference, is left"
                        + " unjudged: S3 did not say {} times whether its _metadata is still there", c.checkpointId(),
                        jobDir, u.missing().size(), MAX_UNANSWERED);
                return;
            }
            synchronized (this) {
                undecided.addLast(new Undecided(c, u.missing(), u.newerId(), u.unanswered() + 1));
            }
            return;
        }
        synchronized (this) {
            failedCheckpoints++;
            knownMissing.addAll(u.missing());
            lastFailure = new VerificationStatusFile.Failure(c.checkpointId(), System.currentTimeMillis(), u.missing(),
                    List.of());
        }
        LOG.error("Checkpoint {} of {}, retained beside newer ones, references {} object(s) that S3 does not hold as"
                        + " recorded: it cannot be restored on a host without local copies. Missing: {}", c.checkpointId(),
                jobDir, u.missing().size(), u.missing().subList(0, Math.min(20, u.missing().size())));
    }

    /** Verifies {@code c} on the calling thread while the newer checkpoint is queued (for tests). */
    void verifyWhileNewerQueued(long checkpointId, byte[] metadata, Path checkpointDir, long newerId, byte[] newerMetadata,
            Path newerDir) throws IOException {
        synchronized (this) {
            pending = new Completed(newerId, newerMetadata, newerDir);
        }
        verify(new Completed(checkpointId, metadata, checkpointDir));
    }

    private void verify(Completed c) throws IOException {
        judgeUndecided(c.checkpointId());
        CheckpointMetadata metadata = CheckpointMetadataReader.parse(c.metadata(), c.checkpointDir(), classLoader);
        CheckpointReferences refs = CheckpointReferences.of(metadata);
        List<ReferencedFile> files = refs.files();
        Map<String, Set<Long>> changelogSizes = new HashMap<>();
        refs.changelogFiles().forEach(cf -> changelogSizes.put(PathKey.of(cf.path()), cf.recordedSizes()));
        boolean fullListing;
        Set<String> dirsToList = new LinkedHashSet<>();
        Map<String, Path> dirs = new LinkedHashMap<>();
        Map<String, List<ReferencedFile>> byDir = new LinkedHashMap<>();
        synchronized (this) {
            fullListing = checkpointsVerified % fullListingInterval == 0;
            for (ReferencedFile f : files) {
                String dir = PathKey.of(f.path().getParent());
                dirs.putIfAbsent(dir, f.path().getParent());
                byDir.computeIfAbsent(dir, d -> new ArrayList<>()).add(f);
                if (fullListing || !verified.containsKey(PathKey.of(f.path()))) {
                    dirsToList.add(dir);
                }
            }
        }
        List<String> missing = new ArrayList<>();
        List<String> resized = new ArrayList<>();
        Map<String, Long> found = new HashMap<>();
        long requests = 0;
        for (String dir : dirsToList) {
            Map<String, Long> sizes = new HashMap<>();
            FileStatus[] entries;
            try {
                entries = dirs.get(dir).getFileSystem().listStatus(dirs.get(dir));
            } catch (FileNotFoundException e) {
                entries = new FileStatus[0];
            } catch (IOException e) {
                // S3 did not answer: nothing is known, the next checkpoint tries again
                listingFailed(c, dirs.get(dir), e);
                return;
            }
            requests += Math.max(1, (entries.length + LISTING_PAGE - 1) / LISTING_PAGE);
            for (FileStatus s : entries) {
                if (!s.isDir()) {
                    sizes.put(s.getPath().getName(), s.getLen());
                }
            }
            for (ReferencedFile f : byDir.get(dir)) {
                Long size = sizes.get(f.path().getName());
                if (size == null || !fits(f, size)) {
                    // confirmed by a HEAD before anything is reported: a listing may lag behind
                    // writes on some S3-compatible stores
                    requests++;
                    size = statusOf(f.path());
                }
                String key = PathKey.of(f.path());
                String changelogMismatch = null;
                if (size != null && fits(f, size) && changelogSizes.containsKey(key)) {
                    Long before;
                    synchronized (this) {
                        before = verified.get(key);
                    }
                    if (!size.equals(before)) {
                        requests++;
                        try {
                            changelogMismatch = changelogMismatch(f.path(), size, changelogSizes.get(key));
                        } catch (FileNotFoundException e) {
                            size = null;
                        } catch (IOException e) {
                            // S3 did not answer: nothing is known, as when a listing fails (no
                            // checkpoint is called verified with a file unjudged); the next one tries again
                            LOG.warn("Could not verify checkpoint {} of {}: reading the compression flag of changelog file"
                                    + " {} failed: {}", c.checkpointId(), jobDir, f.path(), e.getMessage());
                            return;
                        }
                    }
                }
                if (size == null) {
                    missing.add(f.path().toString());
                } else if (!fits(f, size)) {
                    resized.add(f.path() + " (" + size + " bytes, recorded " + f.minSize() + ")");
                    missing.add(f.path().toString());
                } else if (changelogMismatch != null) {
                    resized.add(f.path() + " (" + changelogMismatch + ")");
                    missing.add(f.path().toString());
                } else {
                    found.put(key, size);
                }
            }
        }
        // every listing of this verification answered: a role that may list some prefixes only
        // fails at every checkpoint, which must not reset the count
        listingsFailedInARow = 0;
        Set<String> referenced = new HashSet<>();
        files.forEach(f -> referenced.add(PathKey.of(f.path())));
        // Flink deletes a subsumed checkpoint's _metadata with its files, and its shared files no
        // newer checkpoint references before either (the shared-state registry): files found
        // missing of a checkpoint whose _metadata is gone were deleted with it, not lost
        MetadataThere there = missing.isEmpty() ? MetadataThere.YES : metadataThere(c);
        if (there == MetadataThere.UNKNOWN) {
            // deleted by Flink (subsumed) or lost: a throttled HEAD is no answer, and no verdict is better
            // than a false one; the next checkpoint is verified in turn
            LOG.warn("Could not verify checkpoint {} of {}: {} object(s) it references are missing, and S3 did not say"
                    + " whether its _metadata is still there (subsumed meanwhile, or lost)", c.checkpointId(), jobDir,
                    missing.size());
            return;
        }
        boolean deleted = there == MetadataThere.GONE;
        // Outside the lock: parsing a newer checkpoint's metadata may ask S3 (a relative handle
        // resolves its checkpoint's directory), and status() and completed() wait on this lock,
        // the latter from Flink's checkpoint coordinator.
        Completed newer;
        synchronized (this) {
            newer = pending;
        }
        Set<String> referencedByNewer = missing.isEmpty() || newer == null ? null : referencesOrNull(newer);
        if (!deleted && !missing.isEmpty() && newer != null && referencedByNewer == null) {
            // which of the missing files the newer checkpoint no longer references (subsumed ones) is
            // unknown: every one would count as lost
            LOG.warn("Could not verify checkpoint {} of {}: {} object(s) it references are missing, and the newer"
                    + " checkpoint {}'s references could not be read to tell the subsumed ones", c.checkpointId(), jobDir,
                    missing.size(), newer.checkpointId());
            return;
        }
        // a checkpoint subsumed while it was verified loses files before its _metadata goes (see
        // the class comment); the newest never does. Those the newer one does not reference are
        // judged at the next verification, unless the checkpoint fails for others anyway
        List<String> notInNewer = new ArrayList<>();
        if (referencedByNewer != null) {
            for (String p : missing) {
                if (!referencedByNewer.contains(PathKey.of(new Path(p)))) {
                    notInNewer.add(p);
                }
            }
            missing.removeAll(notInNewer);
        }
        VerificationStatusFile.Snapshot snapshot;
        synchronized (this) {
            listRequests += requests;
            checkpointsVerified++;
            verified.putAll(found);
            verified.keySet().retainAll(referenced);
            knownMissing.removeIf(p -> !referenced.contains(PathKey.of(new Path(p))));
            if (deleted) {
                knownMissing.addAll(missing); // still not to be reused by a newer checkpoint
                if (referencedByNewer != null && !missing.isEmpty()) {
                    LOG.warn("Checkpoint {} of {} was deleted while it was verified (subsumed), and {} object(s) it"
                                    + " referenced are missing that the newer checkpoint {} references too (verified next): {}",
                            c.checkpointId(), jobDir, missing.size(), newer.checkpointId(),
                            missing.subList(0, Math.min(20, missing.size())));
                } else {
                    LOG.info("Checkpoint {} of {} was deleted while it was verified (subsumed, or discarded as its job"
                            + " ended): {} of its files were already gone", c.checkpointId(), jobDir,
                            missing.size() + notInNewer.size());
                }
                return;
            }
            if (missing.isEmpty() && !notInNewer.isEmpty()) {
                // not counted as verified: the next checkpoint, verified next, is newer anyway
                if (undecided.size() >= MAX_UNDECIDED) {
                    LOG.warn("Checkpoint {} of {}, with objects missing that a newer one does not reference, is left"
                            + " unjudged: {} checkpoints wait to be judged", undecided.peekFirst().checkpoint()
                            .checkpointId(), jobDir, undecided.size());
                    undecided.removeFirst();
                }
                undecided.addLast(new Undecided(c, List.copyOf(notInNewer), newer.checkpointId(), 0));
                LOG.debug("Checkpoint {} of {}: {} object(s) it references are missing that the newer checkpoint {}"
                        + " does not reference; judged at the next verification (subsumed, or lost)", c.checkpointId(),
                        jobDir, notInNewer.size(), newer.checkpointId());
            } else if (missing.isEmpty()) {
                newestVerified = Math.max(newestVerified, c.checkpointId());
                LOG.info("Checkpoint {} of {} is entirely in S3: {} files, {} directories listed ({} list requests)",
                        c.checkpointId(), jobDir, files.size(), dirsToList.size(), requests);
            } else {
                failedCheckpoints++;
                knownMissing.addAll(missing);
                lastFailure = new VerificationStatusFile.Failure(c.checkpointId(), System.currentTimeMillis(), List.copyOf(missing),
                        List.copyOf(resized));
                LOG.error("Checkpoint {} of {} references {} object(s) that S3 does not hold as recorded: it cannot be restored"
                                + " on a host without local copies. Missing: {}{}. The TaskManagers upload these files again for"
                                + " the next checkpoints instead of referencing them.",
                        c.checkpointId(), jobDir, missing.size(), missing.subList(0, Math.min(20, missing.size())),
                        resized.isEmpty() ? "" : "; resized: " + resized);
            }
            snapshot = new VerificationStatusFile.Snapshot(newestVerified, c.checkpointId(), checkpointsVerified,
                    failedCheckpoints, lastFailure, List.copyOf(knownMissing), listRequests, System.currentTimeMillis());
        }
        statusFile.write(snapshot);
    }

    /** For the orphan removal: fails on handles whose files this version cannot tell (see {@link OrphanSweep#referencedFiles}). */
    private Set<String> referencesOf(Completed c) throws IOException {
        CheckpointMetadata metadata = CheckpointMetadataReader.parse(c.metadata(), c.checkpointDir(), classLoader);
        return OrphanSweep.referencedFiles(metadata, new Path(c.checkpointDir(), CheckpointMetadataReader.METADATA_FILE));
    }

    /** The files a checkpoint references that this version can tell, for the verification's judgement. */
    private Set<String> knownReferencesOf(Completed c) throws IOException {
        Set<String> refs = new HashSet<>();
        CheckpointMetadata metadata = CheckpointMetadataReader.parse(c.metadata(), c.checkpointDir(), classLoader);
        CheckpointReferences.of(metadata).files().forEach(f -> refs.add(PathKey.of(f.path())));
        return refs;
    }

    private static boolean fits(ReferencedFile f, long size) {
        return f.exactSize() ? size == f.minSize() : size >= f.minSize();
    }

    /**
     * One WARN a failed listing, up to {@link #LISTINGS_FAILED_TO_TELL} in a row, then one ERROR,
     * then DEBUG until a listing succeeds: where the role may not list a prefix (a policy scoped by
     * {@code s3:prefix}) every checkpoint fails alike, and a WARN each would bury other logs.
     */
    private void listingFailed(Completed c, Path dir, IOException e) {
        int inARow = ++listingsFailedInARow;
        if (inARow < LISTINGS_FAILED_TO_TELL) {
            LOG.warn("Could not verify checkpoint {} of {}: listing {} failed: {}", c.checkpointId(), jobDir, dir,
                    e.getMessage());
        } else if (inARow == LISTINGS_FAILED_TO_TELL) {
            LOG.error("Checkpoints of {} are not being verified: listing {} failed for {} checkpoints in a row (the last:"
                    + " {}); check that the role may list the checkpoint directory's prefixes (s3:ListBucket). Logged"
                    + " again at DEBUG only, until a listing succeeds", jobDir, dir, inARow, e.getMessage());
        } else {
            LOG.debug("Could not verify checkpoint {} of {}: listing {} failed: {}", c.checkpointId(), jobDir, dir,
                    e.getMessage());
        }
    }

    /**
     * Why a changelog file of {@code size} bytes does not hold what {@code _metadata} records, or
     * null. Flink records the bytes after the file's compression flag, before compression: an
     * uncompressed file (flag 0) holds exactly one byte more; a compressed one any size, judged in
     * full by the inspector's validation. The flag is read as S3 holds it (one ranged GET on
     * {@code s3tiered://}), only for a file that does not hold one byte more than recorded.
     *
     * @throws FileNotFoundException when the file is gone
     */
    private static String changelogMismatch(Path file, long size, Set<Long> recorded) throws IOException {
        if (recorded.size() == 1 && recorded.contains(size - 1)) {
            return null;
        }
        int flag;
        java.util.Optional<S3TieredBridge> tiered = S3TieredBridge.forReads(file);
        if (tiered.isPresent()) {
            java.io.ByteArrayOutputStream first = new java.io.ByteArrayOutputStream();
            tiered.get().readDurable(file, first, 1);
            flag = first.size() == 0 ? -1 : first.toByteArray()[0] & 0xff;
        } else {
            try (java.io.InputStream in = file.getFileSystem().open(file)) {
                flag = in.read();
            }
        }
        if (flag == 1) {
            return null;
        }
        return flag == 0 ? size + " bytes, an uncompressed changelog file recorded with " + recorded
                + " byte(s) after its flag byte"
                : "starts with " + (flag < 0 ? "nothing" : "byte " + flag) + ", not a changelog file's compression flag";
    }

    /** The size of a file, null when it does not exist. */
    private static Long statusOf(Path file) throws IOException {
        try {
            FileStatus s = file.getFileSystem().getFileStatus(file);
            return s.isDir() ? null : s.getLen();
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    /**
     * The references of a newer completed checkpoint; null when they cannot be read (then every
     * missing file counts as lost).
     */
    private Set<String> referencesOrNull(Completed newer) {
        try {
            return knownReferencesOf(newer);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static ExecutorService executor() {
        // not the context loader of whichever job's thread started it: that one closes with its job
        ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> DaemonThreads.newThread(r, "s3tiered-checkpoint-verifier",
                        CompletedCheckpointVerifier.class.getClassLoader()));
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }
}
