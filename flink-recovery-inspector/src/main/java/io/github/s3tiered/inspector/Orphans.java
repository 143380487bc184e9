package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.List;

/**
 * The result of an orphan search in one job directory.
 *
 * @param jobDirectory the directory searched
 * @param orphans unreferenced files and stray checkpoint directories older than the minimum age
 * @param retainedCheckpoints checkpoints and savepoints whose references were honoured
 * @param unreadableMetadata checkpoints whose {@code _metadata} cannot be read: their references are
 *     unknown, so nothing is deleted while there is any
 * @param referencedFiles distinct files the retained checkpoints reference
 * @param tooYoung unreferenced entries left alone because they are younger than the minimum age (or,
 *     for uploads ahead of checkpoints, than the job's pre-upload grace; or, in {@code taskowned/}
 *     of a job with changelog state, not older than every subtask's last materialization, as a
 *     materialization in progress writes files there that no checkpoint names yet)
 * @param preUploadGraceMillis how long unreferenced uploads ahead of checkpoints ({@code
 *     shared/<sha256>-<id>.sst}) are kept, as the job's storage recorded it or the options gave it; such
 *     a file is an orphan only when older than both this and the minimum age. -1 when neither gave
 *     one (no record, or one that cannot be read): all of them are kept
 * @param preUploadsKept how many of {@code tooYoung} are such files
 * @param deleted what was deleted (empty unless deletion was asked for and allowed)
 * @param deletionRefused why deletion was refused, or null; also set (with no orphans reported, even
 *     when deletion was not asked for) when the storage's listings proved incomplete: a retained
 *     checkpoint a listing left out would make the files only it references look unreferenced
 * @param requests file-system calls made
 */
public record Orphans(
        Path jobDirectory,
        List<OrphanFile> orphans,
        List<Path> retainedCheckpoints,
        List<Problem> unreadableMetadata,
        int referencedFiles,
        int tooYoung,
        long preUploadGraceMillis,
        int preUploadsKept,
        List<Path> deleted,
        String deletionRefused,
        RequestCount requests) {

    public Orphans {
        orphans = List.copyOf(orphans);
        retainedCheckpoints = List.copyOf(retainedCheckpoints);
        unreadableMetadata = List.copyOf(unreadableMetadata);
        deleted = List.copyOf(deleted);
    }

    public long orphanBytes() {
        return orphans.stream().mapToLong(OrphanFile::bytes).sum();
    }
}
