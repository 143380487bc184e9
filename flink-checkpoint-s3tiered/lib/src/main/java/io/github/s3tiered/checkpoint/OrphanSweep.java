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
import java.util.regex.Pattern;

/**
 * Removes the objects in a job's {@code shared/} directory that no retained checkpoint references
 * and no running checkpoint can: the RocksDB files uploaded for checkpoints that never completed
 * (a TaskManager killed during its upload, a declined or expired checkpoint). Flink deletes the
 * files of checkpoints it knows; these it never learns of, so without this they stay in S3 forever.
 *
 * <p>Runs on the JobManager after checkpoint {@code M} completed, and only while no checkpoint is
 * pending ({@link PendingCheckpoints}). The retained checkpoints are known without trusting a
 * listing (some S3-compatible stores leave existing objects out of a listing while others are
 * written): every checkpoint this JobManager completed is remembered with its references until its
 * {@code _metadata} is gone (a HEAD), and nothing is removed until one of them is gone; Flink
 * subsumes the oldest first, so from then on no older checkpoint, one it completed before this
 * JobManager started included, is retained. The {@code chk-N} directories a listing shows are
 * added on top. An object goes only if
 * <ul>
 *   <li>no retained checkpoint references it (if a {@code _metadata} cannot be read, nothing is
 *       removed), and
 *   <li>S3 stamped it in a second before that of {@code chk-M/_metadata}: any later checkpoint was
 *       started after M completed, so its new files are younger than M's metadata on the same
 *       clock, S3's; the older files it reuses are M's, which M references.
 * </ul>
 * Only direct children of {@code shared/} are considered (not file-merging subdirectories, not
 * {@code taskowned/}, not savepoints).
 */
final class OrphanSweep {

    private static final Logger LOG = LoggerFactory.getLogger(OrphanSweep.class);
    private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");

    private final Path jobDir;
    private final ClassLoader classLoader;
    private final PendingCheckpoints pending;
    /** References per retained checkpoint: a checkpoint's {@code _metadata} never changes. */
    private final Map<Long, Set<String>> referencesById = new HashMap<>();
    /** The checkpoints this JobManager completed whose {@code _metadata} was there at the last look. */
    private final java.util.TreeMap<Long, Path> completedHere = new java.util.TreeMap<>();
    /** Whether one of {@link #completedHere} was subsumed: then every older checkpoint is too. */
    private boolean olderOnesGone;
    private long removed;
    private long removedBytes;

    /**
     * Pre-uploaded objects ({@code <sha256>.sst}) are kept this much longer: a running TaskManager
     * may hand one to the next checkpoint although no checkpoint references it yet.
     */
    private final long preUploadGraceMillis;

    OrphanSweep(Path jobDir, ClassLoader classLoader, PendingCheckpoints pending, long preUploadGraceMillis) {
        this.preUploadGraceMillis = preUploadGraceMillis;
        this.jobDir = jobDir;
        this.classLoader = classLoader;
        this.pending = pending;
    }

    /** Objects removed so far, and their bytes. */
    synchronized long[] removed() {
        return new long[] {removed, removedBytes};
    }

    /**
     * After checkpoint {@code checkpointId} (in {@code checkpointDir}) completed, with the files
     * its {@code _metadata} references; never throws.
     */
    synchronized void afterCompleted(long checkpointId, Path checkpointDir, Set<String> references) {
        completedHere.put(checkpointId, checkpointDir);
        referencesById.put(checkpointId, references);
        try {
            sweep(checkpointId, checkpointDir);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Orphan removal in {} after checkpoint {} skipped: {}", jobDir, checkpointId, e.toString());
        }
    }

    private void sweep(long checkpointId, Path checkpointDir) throws IOException {
        FileSystem fs = jobDir.getFileSystem();
        // first forget the subsumed ones (also when no sweep follows: the memory stays bounded)
        Set<String> referenced = new HashSet<>();
        Set<Long> present = new HashSet<>();
        for (var it = completedHere.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey() != checkpointId && !fs.exists(new Path(e.getValue(), CheckpointMetadataReader.METADATA_FILE))) {
                it.remove();
                olderOnesGone = true;
            } else {
                present.add(e.getKey());
                referenced.addAll(referencesById.get(e.getKey()));
            }
        }
        referencesById.keySet().retainAll(completedHere.keySet());
        if (!olderOnesGone) {
            LOG.debug("No orphan removal in {} yet: no checkpoint this JobManager completed was subsumed, so older ones"
                    + " it never saw may be retained", jobDir);
            return;
        }
        if (!pending.none()) {
            LOG.debug("No orphan removal in {} after checkpoint {}: checkpoints {} are running", jobDir, checkpointId, pending);
            return;
        }
        long completedSecond;
        try {
            // whole seconds: S3 gives a HEAD's time in seconds and a listing's perhaps in milliseconds
            completedSecond = fs.getFileStatus(new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE))
                    .getModificationTime() / 1000;
        } catch (FileNotFoundException subsumedMeanwhile) {
            return;
        }
        for (FileStatus child : listOrEmpty(fs, jobDir)) {
            var m = CHECKPOINT_DIR.matcher(child.getPath().getName());
            if (!child.isDir() || !m.matches()) {
                continue;
            }
            long id = Long.parseLong(m.group(1));
            if (present.contains(id)) {
                continue;
            }
            Set<String> refs = referencesById.get(id);
            if (refs == null) {
                refs = referencesOf(fs, child.getPath());
                if (refs == null) {
                    continue; // no _metadata: started, aborted or being removed; its files are in chk-N itself
                }
                referencesById.put(id, refs);
            }
            present.add(id);
            referenced.addAll(refs);
        }
        List<FileStatus> orphans = new ArrayList<>();
        for (FileStatus f : listOrEmpty(fs, new Path(jobDir, "shared"))) {
            long before = PreUploadSettings.isPreUploadedName(f.getPath().getName())
                    ? completedSecond - (preUploadGraceMillis + 999) / 1000
                    : completedSecond;
            if (!f.isDir() && f.getModificationTime() / 1000 < before && !referenced.contains(PathKey.of(f.getPath()))) {
                orphans.add(f);
            }
        }
        if (orphans.isEmpty()) {
            return;
        }
        if (!pending.none()) {
            return; // a checkpoint started while we listed: its files are younger, but stay on the safe side
        }
        long bytes = 0;
        int count = 0;
        for (FileStatus f : orphans) {
            try {
                fs.delete(f.getPath(), false);
                bytes += f.getLen();
                count++;
            } catch (IOException e) {
                LOG.warn("Could not remove orphan {}: {}", f.getPath(), e.getMessage());
            }
        }
        removed += count;
        removedBytes += bytes;
        LOG.info("Removed {} objects ({} bytes) from {}/shared that no retained checkpoint references and that are older than"
                + " checkpoint {}: files of checkpoints that never completed (a TaskManager lost during its upload, a declined"
                + " or expired checkpoint) or that were just subsumed", count, bytes, jobDir, checkpointId);
    }

    /** The files a checkpoint references; null when its directory has no {@code _metadata}. */
    private Set<String> referencesOf(FileSystem fs, Path checkpointDir) throws IOException {
        if (!fs.exists(new Path(checkpointDir, CheckpointMetadataReader.METADATA_FILE))) {
            return null;
        }
        // an unreadable _metadata throws: then nothing is known to be unreferenced
        Set<String> refs = new HashSet<>();
        try {
            CheckpointReferences.of(CheckpointMetadataReader.load(checkpointDir, classLoader)).files()
                    .forEach(f -> refs.add(PathKey.of(f.path())));
        } catch (FileNotFoundException subsumedMeanwhile) {
            return null;
        }
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
