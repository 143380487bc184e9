package io.github.s3tiered.checkpoint;

import io.github.s3tiered.preupload.PreUploadSettings;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;

/**
 * Removes the objects in a job's {@code shared/} directory that no retained checkpoint references
 * and no running checkpoint can: the RocksDB files uploaded for checkpoints that never completed
 * (a TaskManager killed during its upload, a declined or expired checkpoint). Flink deletes the
 * files of checkpoints it knows; these it never learns of, so without this they stay in S3 forever.
 *
 * <p>Runs on the JobManager after a checkpoint completed. The retained checkpoints are known
 * without trusting a listing (some S3-compatible stores leave existing objects out of a listing
 * while others are written): every checkpoint this JobManager finalized is remembered
 * ({@link PendingCheckpoints#finalized}, at once, not only those the verifier gets to) with its references until its
 * {@code _metadata} is gone (a HEAD), and nothing is removed until the oldest of them is gone after
 * a pass saw it retained; Flink subsumes the oldest first, so from then on no older checkpoint, one
 * it completed before this JobManager started included, is retained (a newer one gone while an
 * older one is there, or one gone before any pass saw it, was discarded for another reason, e.g.
 * the HA store refused it: no sign of subsumption). The checkpoint the job was restored from, which
 * a restore without claim leaves retained and older than all of them, is looked at in every pass
 * that lists.
 * The {@code chk-N} directories a listing shows are added on top; a {@code chk-N} above every
 * checkpoint started here and not older than those
 * retained here (another coordinator on this directory: Flink's adaptive scheduler makes a new one
 * at each restart; an older one is an earlier run's under the same job id), or one whose {@code
 * _metadata} disappears while it is read, ends the pass. A reference matches a file by its path
 * alone (the scheme and bucket as spelled aside: a job that moved from {@code s3://} to {@code
 * s3tiered://} names its older files through the old scheme). An object goes only if
 * <ul>
 *   <li>no retained checkpoint references it (if a {@code _metadata} cannot be read, nothing is
 *       removed), and
 *   <li>S3 stamped it more than {@link #clockMarginSeconds} and the checkpoint timeout ({@link
 *       #checkpointTimeoutSeconds}, for checkpoints of another run on this directory) before the second of {@code
 *       chk-M/_metadata} (S3-compatible stores of several nodes stamp by each node's clock), where
 *       M is the newest retained checkpoint finalized here whose checkpoints pending at its
 *       finalization have all ended: every checkpoint running now was started after M was
 *       finalized, so the files it
 *       writes are younger than M's metadata on the same clock, S3's; the older files it reuses are
 *       of checkpoints its TaskManager saw complete, registered with Flink, which deletes them when
 *       no retained checkpoint references them (and fails a checkpoint that still refers to one).
 * </ul>
 * So checkpoints that follow each other without a pause (each as long as the interval) do not keep
 * the removal off: the next one starts after the previous one was finalized. Only direct children
 * of {@code shared/} are considered (not file-merging subdirectories, not {@code taskowned/}, not
 * savepoints).
 */
final class OrphanSweep {

    private static final Logger LOG = LoggerFactory.getLogger(OrphanSweep.class);
    private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");
    /**
     * How much older than the reference checkpoint's {@code _metadata} an object must be, in
     * seconds ({@link VerificationOptions#ORPHAN_CLOCK_MARGIN}): only delays removal.
     */
    private final long clockMarginSeconds;
    /**
     * {@link VerificationOptions#ORPHAN_MIN_AGE}, by default the job's checkpoint timeout, in seconds:
     * objects are also kept while younger than this before the reference checkpoint's {@code _metadata}. Another run writing this job directory (a
     * JobManager of a fixed job id left running beside a new one) shows itself only through its
     * {@code chk-N} in a listing, and on S3 a checkpoint whose small state goes into its
     * {@code _metadata} has nothing under {@code chk-N} until it completes, while its new files are
     * in {@code shared/} already. Whatever coordinator runs a checkpoint, it started less than a
     * timeout ago, after the reference's {@code _metadata} less a timeout: its files are younger.
     * Only delays the removal.
     */
    private final long checkpointTimeoutSeconds;

    /**
     * A checkpoint this JobManager finalized, while its {@code _metadata} was there at the last
     * look. {@code references} and {@code metadataSecond} are filled at the first sweep that sees it.
     */
    private static final class Completed {
        final Path dir;
        /** The checkpoints pending when it was finalized. */
        final Set<Long> pendingThen;
        Set<String> references;
        long metadataSecond = -1;

        Completed(Path dir, Set<Long> pendingThen) {
            this.dir = dir;
            this.pendingThen = pendingThen;
        }
    }

    private final Path jobDir;
    private final ClassLoader classLoader;
    private final PendingCheckpoints pending;
    /** Guarded by this. */
    private final TreeMap<Long, Completed> completedHere = new TreeMap<>();
    /** References of checkpoints not finalized here, from their {@code _metadata}: it never changes. */
    private final Map<Long, Set<String>> listedReferences = new HashMap<>();
    /** Whether one of {@link #completedHere} was subsumed: then every older checkpoint is too. */
    private boolean olderOnesGone;
    /**
     * The checkpoint this job was restored from, when it resolved one: restored without claim
     * (Flink's default) it is never subsumed, so it may be retained, older than every checkpoint
     * completed here, beside them (a job id used again restores from its own directory). Its
     * {@code _metadata} is looked at in every pass that lists, not left to a listing. Guarded by this.
     */
    private Path restoredFrom;
    /**
     * Its metadata file: {@code _metadata}, or the file the restore path named (Flink restores from
     * any file named so, its directory being the checkpoint's). Guarded by this.
     */
    private Path restoredFromMetadata;
    /** Its references, read once. Guarded by this. */
    private Set<String> restoredFromReferences;
    /**
     * Objects S3 stamped before this second stay (JobManager's clock, less the clock margin): they
     * are not of this run, whose checkpoints this pass follows, but maybe of an
     * earlier run of the job id, and such an object may be referenced from another job's directory
     * (a job restored in CLAIM mode from that run's checkpoint, which it then subsumed: nothing in
     * this directory names the files it still uses). The inspector's {@code orphans}, which reads
     * the directories beside this one too, lists them. So also when this run restored from a
     * checkpoint of this directory: that run's later checkpoint may be the one another job claimed
     * (the restored checkpoint's own references are kept all the same). A coordinator made later
     * for the same job (the adaptive scheduler's restarts, a JobManager failover with HA) starts a
     * floor of its own: what the earlier one leaked stays too. Guarded by this.
     */
    private long notBeforeSecond = Long.MIN_VALUE;
    /** Failed deletes in a row after which a pass stops removing. */
    private static final int MAX_FAILED_DELETES_IN_A_ROW = 3;
    private long removed;
    private long removedBytes;

    /**
     * The least time between two passes that list: an object becomes removable as time passes
     * after its upload (the margin, the pre-upload grace), so listing after every checkpoint,
     * each second, finds about what the listing before left, at one LIST per 1,000 objects of
     * {@code shared/} each time. A pass in between still follows the retained checkpoints.
     */
    private final long listingIntervalNanos;
    private final LongSupplier nanoClock;
    /** When the last pass listed; guarded by this. */
    private long lastListingNanos;
    private boolean listedBefore;

    /**
     * Pre-uploaded objects ({@code <sha256>-<id>.sst}) are kept this much longer: a running TaskManager
     * may hand one to the next checkpoint although no checkpoint references it yet.
     */
    private final long preUploadGraceMillis;

    /**
     * Under entropy injection, where version 0.2.0 put its uploads ahead of checkpoints: the job's
     * {@code shared/} with the entropy marker kept literally (this version writes them to the job
     * directory without it). No running TaskManager hands one of them to a checkpoint any more, so
     * they go by the same rules as the others, once no retained checkpoint references them. Listed
     * until a listing shows none; null without entropy. Guarded by this.
     */
    private Path legacySharedDir;

    OrphanSweep(Path jobDir, ClassLoader classLoader, PendingCheckpoints pending, long preUploadGraceMillis,
            long clockMarginSeconds) {
        this(jobDir, null, classLoader, pending, preUploadGraceMillis, clockMarginSeconds);
    }

    /** {@code legacyJobDir}: the job directory as Flink names it, with the entropy marker; or null. */
    OrphanSweep(Path jobDir, Path legacyJobDir, ClassLoader classLoader, PendingCheckpoints pending,
            long preUploadGraceMillis, long clockMarginSeconds) {
        this(jobDir, legacyJobDir, classLoader, pending, preUploadGraceMillis, clockMarginSeconds, 0, System::nanoTime, 0);
    }

    /**
     * {@code listingIntervalSeconds}: the least time between two listings of the job directory and
     * {@code shared/} ({@link #lastListingNanos}); {@code nanoClock} tells the time;
     * {@code checkpointTimeoutSeconds}: see {@link #checkpointTimeoutSeconds}.
     */
    OrphanSweep(Path jobDir, Path legacyJobDir, ClassLoader classLoader, PendingCheckpoints pending,
            long preUploadGraceMillis, long clockMarginSeconds, long listingIntervalSeconds, LongSupplier nanoClock,
            long checkpointTimeoutSeconds) {
        this.checkpointTimeoutSeconds = checkpointTimeoutSeconds;
        this.listingIntervalNanos = TimeUnit.SECONDS.toNanos(listingIntervalSeconds);
        this.nanoClock = nanoClock;
        this.preUploadGraceMillis = preUploadGraceMillis;
        this.clockMarginSeconds = clockMarginSeconds;
        this.jobDir = jobDir;
        this.legacySharedDir = legacyJobDir == null || legacyJobDir.equals(jobDir) ? null : new Path(legacyJobDir, "shared");
        this.classLoader = classLoader;
        this.pending = pending;
    }

    /** The directory of the checkpoint or savepoint this job was restored from (see {@link #restoredFrom}). */
    synchronized void restoredFrom(Path checkpointDir) {
        restoredFrom(checkpointDir, new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE));
    }

    /**
     * As {@link #restoredFrom(Path)}, read from {@code metadataFile}, the file Flink restored from:
     * what it references stays. The age floor stays too, also for a restore from a checkpoint of
     * this directory: an earlier run's objects newer than that checkpoint may be another job's,
     * one that claimed a later checkpoint of that run and subsumed it (see {@link #notBeforeSecond}).
     */
    synchronized void restoredFrom(Path checkpointDir, Path metadataFile) {
        if (!checkpointDir.equals(restoredFrom) || !metadataFile.equals(restoredFromMetadata)) {
            restoredFrom = checkpointDir;
            restoredFromMetadata = metadataFile;
            restoredFromReferences = null;
        }
    }

    /**
     * This run started at {@code startMillis} (the JobManager's clock): objects S3 stamped more than
     * the clock margin before it stay, whatever this run restored from
     * ({@link #notBeforeSecond}). Not the minimum age as well: an earlier run's newest files, which a
     * job that claimed its last checkpoint still uses, would be taken by a run started within it.
     */
    synchronized void runStartedAt(long startMillis) {
        notBeforeSecond = startMillis / 1000 - clockMarginSeconds;
    }

    /** Objects removed so far, and their bytes. */
    synchronized long[] removed() {
        return new long[] {removed, removedBytes};
    }

    /**
     * After checkpoint {@code checkpointId} completed, with the files its {@code _metadata}
     * references (null when they could not be parsed: then they are read here, or nothing is
     * removed); never throws.
     */
    synchronized void afterCompleted(long checkpointId, Set<String> references) {
        // one moment's view: every checkpoint finalized by then is in completedHere, the rest pending
        PendingCheckpoints.View view = pending.take();
        for (PendingCheckpoints.Finalized f : view.finalized()) {
            completedHere.put(f.checkpointId(), new Completed(f.dir(), f.pendingThen()));
        }
        Completed c = completedHere.get(checkpointId);
        if (c != null && c.references == null && references != null) {
            c.references = references;
        }
        try {
            sweep(checkpointId, view.pending());
        } catch (IOException | RuntimeException e) {
            LOG.warn("Orphan removal in {} after checkpoint {} skipped: {}", jobDir, checkpointId, e.toString());
        }
    }

    private void sweep(long checkpointId, Set<Long> pendingNow) throws IOException {
        FileSystem fs = jobDir.getFileSystem();
        // first forget the subsumed ones (also when no sweep follows: the memory stays bounded)
        Set<String> referenced = new HashSet<>();
        Set<Long> present = new HashSet<>(); // whose references are in `referenced`
        boolean olderKept = false; // ascending ids: one gone after one kept was not subsumed
        for (var it = completedHere.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            Completed c = e.getValue();
            FileStatus metadata = statusOrNull(fs, new Path(c.dir, CheckpointMetadataReader.METADATA_FILE));
            if (c.references == null && metadata != null) {
                try {
                    c.references = referencesOf(fs, c.dir); // one the verifier skipped: read its _metadata
                } catch (FileNotFoundException subsumedMeanwhile) {
                    metadata = null;
                }
            }
            if (metadata == null && e.getKey() >= checkpointId) {
                // the one completing now, or newer: not seen yet is not gone, and its files stay
                if (c.references == null) {
                    LOG.debug("No orphan removal in {} after checkpoint {}: the _metadata of checkpoint {} is not readable yet",
                            jobDir, checkpointId, e.getKey());
                    return;
                }
                referenced.addAll(c.references);
                continue;
            }
            if (metadata == null || c.references == null) {
                it.remove();
                if (olderKept) {
                    LOG.debug("Checkpoint {} in {} is gone while an older one is retained: discarded (its HA store"
                            + " entry failed?), not subsumed", e.getKey(), jobDir);
                } else if (c.metadataSecond < 0) {
                    // gone before any pass saw it: finalized, then discarded (its HA store entry failed)
                    LOG.debug("Checkpoint {} in {} is gone before a pass saw it retained: no sign of subsumption",
                            e.getKey(), jobDir);
                } else {
                    olderOnesGone = true;
                }
                continue;
            }
            olderKept = true;
            if (c.metadataSecond < 0) {
                // whole seconds: S3 gives a HEAD's time in seconds and a listing's perhaps in milliseconds
                c.metadataSecond = metadata.getModificationTime() / 1000;
            }
            referenced.addAll(c.references);
            present.add(e.getKey());
        }
        if (!olderOnesGone) {
            LOG.debug("No orphan removal in {} yet: no checkpoint this JobManager completed was subsumed, so older ones"
                    + " it never saw may be retained", jobDir);
            return;
        }
        Map.Entry<Long, Completed> reference = null;
        for (var e : completedHere.descendingMap().entrySet()) {
            if (present.contains(e.getKey()) && java.util.Collections.disjoint(e.getValue().pendingThen, pendingNow)) {
                reference = e;
                break;
            }
        }
        if (reference == null) {
            LOG.debug("No orphan removal in {} after checkpoint {}: checkpoints {} are running since before the retained"
                    + " ones completed", jobDir, checkpointId, pendingNow);
            return;
        }
        long before = reference.getValue().metadataSecond - clockMarginSeconds - checkpointTimeoutSeconds;
        long oldestHereSecond = Long.MAX_VALUE;
        for (long id : present) {
            oldestHereSecond = Math.min(oldestHereSecond, completedHere.get(id).metadataSecond);
        }
        long now = nanoClock.getAsLong();
        if (listedBefore && now - lastListingNanos < listingIntervalNanos) {
            LOG.debug("No listing for the orphan removal in {} after checkpoint {}: the last one was {} ms ago", jobDir,
                    checkpointId, TimeUnit.NANOSECONDS.toMillis(now - lastListingNanos));
            return;
        }
        listedBefore = true;
        lastListingNanos = now;
        if (restoredFrom != null) {
            if (statusOrNull(restoredFrom.getFileSystem(), restoredFromMetadata) == null) {
                restoredFrom = null; // claimed and subsumed, or removed by hand: it keeps nothing any more
                restoredFromMetadata = null;
                restoredFromReferences = null;
            } else {
                if (restoredFromReferences == null) {
                    try {
                        restoredFromReferences = referencesOf(restoredFrom.getFileSystem(), restoredFrom, restoredFromMetadata);
                    } catch (FileNotFoundException vanished) {
                        LOG.debug("No orphan removal in {} after checkpoint {}: {}, restored from, was removed while it was"
                                + " read", jobDir, checkpointId, restoredFrom);
                        return;
                    }
                }
                if (restoredFromReferences != null) {
                    referenced.addAll(restoredFromReferences);
                }
            }
        }
        FileStatus[] jobDirEntries = listOrEmpty(fs, jobDir);
        // after the listing: a checkpoint started here is registered before any of its files is written
        long highestKnown = Math.max(pending.highestStarted(), completedHere.isEmpty() ? -1 : completedHere.lastKey());
        long lowestHere = Math.min(pending.lowestStarted(), completedHere.isEmpty() ? Long.MAX_VALUE : completedHere.firstKey());
        for (FileStatus child : jobDirEntries) {
            var m = CHECKPOINT_DIR.matcher(child.getPath().getName());
            if (!child.isDir() || !m.matches()) {
                continue;
            }
            long id = Long.parseLong(m.group(1));
            if (present.contains(id)) {
                continue;
            }
            if (id > highestKnown && !leftFromBefore(fs, child.getPath(), oldestHereSecond)) {
                LOG.info("No orphan removal in {} after checkpoint {}: it holds chk-{}, newer than any checkpoint this"
                        + " coordinator started (another one writes here, e.g. after a restart)", jobDir, checkpointId, id);
                return;
            }
            Set<String> refs = listedReferences.get(id);
            if (refs == null) {
                try {
                    refs = referencesOf(fs, child.getPath());
                } catch (FileNotFoundException vanished) {
                    // subsumed while this pass runs: a newer checkpoint, perhaps not listed, took over its files
                    LOG.debug("No orphan removal in {} after checkpoint {}: {} was removed while it was read", jobDir,
                            checkpointId, child.getPath());
                    return;
                }
                if (refs == null) {
                    if (id < lowestHere && !leftFromBefore(fs, child.getPath(), oldestHereSecond)) {
                        // a run of the same job id restored from an older checkpoint counts its ids from
                        // there: written since this coordinator's checkpoints, it runs now, and its
                        // checkpoint in progress has files in shared/ that no _metadata names yet
                        LOG.info("No orphan removal in {} after checkpoint {}: it holds chk-{} without _metadata,"
                                + " below any checkpoint this coordinator started and written since (another one"
                                + " writes here)", jobDir, checkpointId, id);
                        return;
                    }
                    continue; // no _metadata: started, aborted or being removed; its files are in chk-N itself
                }
                if (id < lowestHere && !leftFromBefore(fs, child.getPath(), oldestHereSecond)) {
                    // completed since this coordinator's oldest retained checkpoint: that other run's
                    // next checkpoint may have files in shared/ already, with nothing in its chk-N yet
                    LOG.info("No orphan removal in {} after checkpoint {}: it holds chk-{}, below any checkpoint this"
                            + " coordinator started and completed since (another one writes here)", jobDir, checkpointId, id);
                    return;
                }
                // judged until read once: a run beside this one ends each pass until its checkpoint is older
                // than the oldest retained here
                listedReferences.put(id, refs);
            }
            present.add(id);
            referenced.addAll(refs);
        }
        listedReferences.keySet().retainAll(present);
        Set<String> referencedPaths = new HashSet<>();
        for (String key : referenced) {
            referencedPaths.add(PathKey.pathPart(key));
        }
        long preUploadsBefore = before - (preUploadGraceMillis + 999) / 1000;
        List<FileStatus> orphans = new ArrayList<>();
        for (FileStatus f : listOrEmpty(fs, new Path(jobDir, "shared"))) {
            long olderThan = PreUploadSettings.isPreUploadedName(f.getPath().getName()) ? preUploadsBefore : before;
            if (!f.isDir() && f.getModificationTime() / 1000 < olderThan && f.getModificationTime() / 1000 >= notBeforeSecond
                    && isUnreferenced(f, referencedPaths)) {
                orphans.add(f);
            }
        }
        List<FileStatus> legacyOrphans = legacySharedDir == null ? List.of()
                : legacyOrphans(fs, referencedPaths, preUploadsBefore);
        orphans.addAll(legacyOrphans);
        if (orphans.isEmpty()) {
            return;
        }
        long bytes = 0;
        int count = 0;
        int failed = 0;
        int failedInARow = 0;
        IOException firstFailure = null;
        Path firstFailed = null;
        for (FileStatus f : orphans) {
            try {
                fs.delete(f.getPath(), false);
                bytes += f.getLen();
                count++;
                failedInARow = 0;
            } catch (IOException e) {
                failed++;
                if (firstFailure == null) {
                    firstFailure = e;
                    firstFailed = f.getPath();
                }
                // a role without s3:DeleteObject (a bucket whose lifecycle rules clean up), or a
                // storage that throttles, fails the others alike: the pass ends; one object that
                // cannot go (an object-lock hold) does not keep the others
                if (++failedInARow == MAX_FAILED_DELETES_IN_A_ROW) {
                    break;
                }
            }
        }
        if (firstFailure != null) {
            // one WARN a pass, not one for each object at every pass
            LOG.warn("Could not remove {} orphan(s) of {}/shared ({} not tried in this pass; the next pass tries again);"
                    + " first {}: {}", failed, jobDir, orphans.size() - count - failed, firstFailed, firstFailure.getMessage());
        }
        removed += count;
        removedBytes += bytes;
        if (!legacyOrphans.isEmpty()) {
            LOG.info("{} of them were uploads ahead of checkpoints that version 0.2.0 made under the entropy marker itself"
                    + " ({}); this version writes them to {}/shared", legacyOrphans.size(), legacySharedDir, jobDir);
        }
        if (count == 0) {
            return;
        }
        LOG.info("Removed {} objects ({} bytes) from {}/shared that no retained checkpoint references and that are older than"
                + " checkpoint {}: files of checkpoints that never completed (a TaskManager lost during its upload, a declined"
                + " or expired checkpoint) or that were just subsumed", count, bytes, jobDir, reference.getKey());
    }

    /**
     * The objects in {@link #legacySharedDir} to remove: only uploads ahead of checkpoints (nothing
     * else was written there), by the rules of the others. Stops listing it once it holds none.
     */
    private List<FileStatus> legacyOrphans(FileSystem fs, Set<String> referencedPaths, long preUploadsBefore)
            throws IOException {
        List<FileStatus> orphans = new ArrayList<>();
        boolean any = false;
        for (FileStatus f : listOrEmpty(fs, legacySharedDir)) {
            if (f.isDir() || !PreUploadSettings.isPreUploadedName(f.getPath().getName())) {
                continue;
            }
            any = true;
            if (f.getModificationTime() / 1000 < preUploadsBefore && f.getModificationTime() / 1000 >= notBeforeSecond
                    && isUnreferenced(f, referencedPaths)) {
                orphans.add(f);
            }
        }
        if (!any) {
            LOG.debug("No uploads ahead of checkpoints left under the entropy marker in {}", legacySharedDir);
            legacySharedDir = null;
        }
        return orphans;
    }

    private static boolean isUnreferenced(FileStatus f, Set<String> referencedPaths) {
        return !referencedPaths.contains(PathKey.pathPart(PathKey.of(f.getPath())));
    }

    /**
     * Whether a {@code chk-N} above every id started here is older than every checkpoint retained
     * here: left by an earlier run under the same job id (a fixed id, a counter that restarted
     * lower), not written by another coordinator now. By its {@code _metadata}, or else by every
     * object in it.
     */
    private static boolean leftFromBefore(FileSystem fs, Path checkpointDir, long oldestHereSecond) throws IOException {
        FileStatus metadata = statusOrNull(fs, new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE));
        if (metadata != null) {
            return metadata.getModificationTime() / 1000 < oldestHereSecond;
        }
        for (FileStatus f : listOrEmpty(fs, checkpointDir)) {
            if (f.isDir() || f.getModificationTime() / 1000 >= oldestHereSecond) {
                return false;
            }
        }
        return true;
    }

    private static FileStatus statusOrNull(FileSystem fs, Path path) throws IOException {
        try {
            return fs.getFileStatus(path);
        } catch (FileNotFoundException gone) {
            return null;
        }
    }

    /**
     * The files a checkpoint references; null when its directory has no {@code _metadata}.
     *
     * @throws FileNotFoundException when the {@code _metadata} a HEAD found is gone when read
     */
    private Set<String> referencesOf(FileSystem fs, Path checkpointDir) throws IOException {
        return referencesOf(fs, checkpointDir, new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE));
    }

    private Set<String> referencesOf(FileSystem fs, Path checkpointDir, Path metadataFile) throws IOException {
        // expected to exist: one HEAD (exists() would also list, to look for a "directory")
        if (statusOrNull(fs, metadataFile) == null) {
            return null;
        }
        // an unreadable _metadata throws: then nothing is known to be unreferenced
        return referencedFiles(CheckpointMetadataReader.load(checkpointDir, metadataFile, classLoader), metadataFile);
    }

    /**
     * The files a checkpoint's metadata references, by {@link PathKey}. Throws when it holds state
     * handles this version cannot map to files (a handle type of a later Flink): the files they
     * name are unknown, so none is known to be unreferenced, as the inspector's {@code orphans}
     * refuses too.
     */
    static Set<String> referencedFiles(org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata metadata,
            Path metadataFile) throws IOException {
        CheckpointReferences references = CheckpointReferences.of(metadata);
        if (!references.unsupportedHandles().isEmpty()) {
            throw new IOException(metadataFile + " holds state handles whose files this version cannot tell: "
                    + String.join(", ", references.unsupportedHandles()));
        }
        Set<String> refs = new HashSet<>();
        references.files().forEach(f -> refs.add(PathKey.of(f.path())));
        return refs;
    }

    private static FileStatus[] listOrEmpty(FileSystem fs, Path dir) throws IOException {
        try {
            FileStatus[] entries = fs.listStatus(dir);
            return entries == null ? new FileStatus[0] : entries;
        } catch (FileNotFoundException e) {
            return new FileStatus[0];
        }
    }
}
