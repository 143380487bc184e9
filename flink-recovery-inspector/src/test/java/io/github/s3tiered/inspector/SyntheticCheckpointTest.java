package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.metadata.OperatorIds;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A checkpoint written with Flink's own metadata serializer, referencing thousands of files: the
 * cost of validation is one listing per directory, not one request per file.
 */
class SyntheticCheckpointTest {

    private static final int SHARED_FILES = 2000;

    @TempDir
    java.nio.file.Path jobDir;

    private final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    @Test
    void thousandsOfFilesCostOneListingPerDirectory() throws Exception {
        writeCheckpoint(1, 0, SHARED_FILES);
        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.files()).hasSize(SHARED_FILES + 3);
        // the checkpoint's own directory (private + meta files) and shared/: two listings and _metadata
        assertThat(v.requests()).isEqualTo(new RequestCount(2, 0, 1, 0, 0));
    }

    @Test
    void aMetadataFileNamedOtherwiseIsReadAsItsDirectorysCheckpoint() throws Exception {
        // Flink restores from any file a restore path names ("load the checkpoint directly from the
        // metadata file"), its directory being the checkpoint's
        writeCheckpoint(1, 0, 10);
        Files.move(jobDir.resolve("chk-1/_metadata"), jobDir.resolve("chk-1/metadata-kept"));
        Path named = path(jobDir.resolve("chk-1/metadata-kept"));

        assertThat(inspector.classify(named)).isEqualTo(PathRole.CHECKPOINT);
        Validation v = inspector.validate(named, false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.path()).isEqualTo(path(jobDir.resolve("chk-1")));
        assertThat(v.checkpointId()).isEqualTo(1);

        // 'list' and 'validate' of it: its job directory, and the file as the checkpoint read
        JobDirectory job = inspector.discover(named).get(0);
        assertThat(job.path()).isEqualTo(path(jobDir));
        assertThat(job.checkpoints()).extracting(CheckpointLocation::path).containsExactly(named);
        assertThat(inspector.checkpointDirectoryOf(named)).isEqualTo(path(jobDir.resolve("chk-1")));
        assertThat(inspector.validateAll(job, false)).extracting(Validation::verdict).containsExactly(Verdict.RESTORABLE);

        Files.delete(jobDir.resolve("shared/sst-3"));
        assertThat(inspector.validate(named, false).verdict()).isEqualTo(Verdict.MISSING_FILES);
    }

    @Test
    void theOrphanSearchKeepsACheckpointWhoseMetadataIsNamedOtherwise() throws Exception {
        // chk-2's metadata kept by hand under another name: Flink restores from it when a restore path
        // names it, so neither chk-2 nor the files only it references are orphans; chk-3 is an aborted one
        writeCheckpoint(1, 0, 10);
        writeCheckpoint(2, 5, 10);
        Files.move(jobDir.resolve("chk-2/_metadata"), jobDir.resolve("chk-2/metadata-kept"));
        Files.createDirectories(jobDir.resolve("chk-3"));
        Files.write(jobDir.resolve("chk-3/exclusive-state"), new byte[] {1, 2, 3, 4, 5});
        // a _metadata whose write broke off (Flink's recoverable writer on a local disk): not a copy kept
        Files.write(jobDir.resolve("chk-3/._metadata.inprogress." + UUID.randomUUID()),
                Arrays.copyOf(Files.readAllBytes(jobDir.resolve("chk-2/metadata-kept")), 20));
        Files.write(jobDir.resolve("shared/leaked"), new byte[5]);
        makeEverythingOld();
        // the copy kept is young, the files it references old (a copy, or a rename on S3, takes a new time)
        Files.setLastModifiedTime(jobDir.resolve("chk-2/metadata-kept"), java.nio.file.attribute.FileTime.from(
                java.time.Instant.now()));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, false));

        assertThat(o.deletionRefused()).as("%s", o.unreadableMetadata()).isNull();
        assertThat(o.retainedCheckpoints()).extracting(Path::getName).containsExactlyInAnyOrder("chk-1", "chk-2");
        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactlyInAnyOrder("leaked", "chk-3");
        assertThat(jobDir.resolve("chk-2/metadata-kept")).exists();
        assertThat(jobDir.resolve("shared/sst-14")).exists();
        assertThat(jobDir.resolve("chk-3")).doesNotExist();
    }

    /**
     * A job resumed from this job's checkpoint in CLAIM mode, writing its checkpoints under another
     * checkpoint directory: only its checkpoints name the files of this job's shared/ it still
     * uses. Without --also-read they are orphans (the search cannot know that directory); with
     * it, named as a job directory or as the checkpoint directory of several jobs, they stay.
     */
    @Test
    void filesAJobUnderAnotherCheckpointDirectoryUsesStayWhenItIsAlsoRead() throws Exception {
        java.nio.file.Path root = jobDir;
        jobDir = Files.createDirectories(root.resolve("old-cp/0123456789abcdef0123456789abcdef"));
        java.nio.file.Path otherBase = root.resolve("new-cp");
        java.nio.file.Path claimer = otherBase.resolve("fedcba9876543210fedcba9876543210");
        writeCheckpoint(1, 0, 10);
        writeCheckpoint(claimer.resolve("chk-7"), jobDir.resolve("shared"), 7, 20, 3); // sst-20..22 in this job's shared/
        makeEverythingOld();

        Orphans report = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), false, true));
        assertThat(report.orphans()).extracting(f -> f.path().getName()).containsExactlyInAnyOrder("sst-20", "sst-21", "sst-22");

        for (java.nio.file.Path also : List.of(claimer, otherBase)) {
            Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, true, null,
                    List.of(path(also))));
            assertThat(o.orphans()).as("also reading %s", also).isEmpty();
            assertThat(o.retainedCheckpoints()).extracting(Path::getName).contains("chk-7");
        }
        assertThat(jobDir.resolve("shared/sst-21")).exists();
        assertThatThrownBy(() -> inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, true,
                null, List.of(path(root.resolve("mistyped")))))).isInstanceOf(java.io.FileNotFoundException.class)
                .hasMessageContaining("mistyped");
        // a checkpoint of the claimer (its older retained ones would go unread), or a directory of no job
        for (java.nio.file.Path wrongKind : List.of(claimer.resolve("chk-7"), Files.createDirectories(root.resolve("empty")))) {
            assertThatThrownBy(() -> inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true,
                    true, null, List.of(path(wrongKind))))).isInstanceOf(java.io.IOException.class)
                    .hasMessageContaining("neither a job directory nor a checkpoint directory of jobs");
        }
        assertThat(jobDir.resolve("shared/sst-21")).exists();
    }

    /**
     * File merging across checkpoint boundaries: a TaskManager's directory holds physical file A,
     * whose segment the retained chk-7 references, and B, which only a subsumed checkpoint used and
     * which the TaskManager keeps open in its pool for the next checkpoints' segments. Both are old
     * (an open file keeps its creation time on HDFS, its last write's elsewhere): B stays while a
     * retained checkpoint uses its directory; a file directly in taskowned/ is still an orphan.
     */
    @Test
    void unreferencedFilesInAFileMergingDirectoryInUseStay() throws Exception {
        java.nio.file.Path tm = Files.createDirectories(jobDir.resolve("taskowned/job_0000000000000000000000000000000a_tm_tm-1"));
        java.nio.file.Path a = Files.write(tm.resolve(UUID.randomUUID().toString()), new byte[29]);
        java.nio.file.Path b = Files.write(tm.resolve(UUID.randomUUID().toString()), new byte[64]);
        java.nio.file.Path leaked = Files.write(Files.createDirectories(jobDir.resolve("taskowned")).resolve("leaked"),
                new byte[5]);
        org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle segment =
                new org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle(path(a), 0, 29,
                        org.apache.flink.runtime.state.CheckpointedStateScope.EXCLUSIVE,
                        new org.apache.flink.runtime.checkpoint.filemerging.LogicalFile.LogicalFileId(UUID.randomUUID().toString()));
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setInputChannelState(
                new org.apache.flink.runtime.checkpoint.StateObjectCollection<>(List.of(
                        new org.apache.flink.runtime.state.InputChannelStateHandle(0,
                                new org.apache.flink.runtime.checkpoint.channel.InputChannelInfo(0, 0), segment,
                                List.of(4L), 25)))).build());
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-7"));
        makeEverythingOld();
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(7, List.of(op), List.of()), new DataOutputStream(out));
        }

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, false));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(b).exists();
        assertThat(a).exists();
        assertThat(leaked).doesNotExist();
    }

    /** A lost file of in-flight data only: the reason names Flink's option that resumes the checkpoint without it. */
    @Test
    void aMissingFileOfInFlightDataOnlyNamesTheOptionToResumeWithoutIt() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-3"));
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setInputChannelState(
                new org.apache.flink.runtime.checkpoint.StateObjectCollection<>(List.of(
                        new org.apache.flink.runtime.state.InputChannelStateHandle(0,
                                new org.apache.flink.runtime.checkpoint.channel.InputChannelInfo(0, 0),
                                new FileStateHandle(path(chk.resolve("in-flight")), 29), List.of(4L), 25)))).build());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(3, List.of(op), List.of()), new DataOutputStream(out));
        }

        Validation v = inspector.validate(path(chk), false);

        assertThat(v.verdict()).isEqualTo(Verdict.MISSING_FILES);
        assertThat(v.reason()).contains("in-flight data only", "execution.state-recovery.without-channel-state.checkpoint-id");
    }

    @Test
    void aFileThatBeginsAsMetadataButCannotBeReadStopsTheOrphanSearch() throws Exception {
        writeCheckpoint(1, 0, 10);
        writeCheckpoint(2, 5, 10);
        Files.write(jobDir.resolve("chk-2/metadata-kept"),
                Arrays.copyOf(Files.readAllBytes(jobDir.resolve("chk-2/_metadata")), 20));
        Files.delete(jobDir.resolve("chk-2/_metadata"));
        Files.write(jobDir.resolve("shared/leaked"), new byte[5]);
        makeEverythingOld();

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, false));

        assertThat(o.deletionRefused()).contains("metadata-kept");
        assertThat(o.unreadableMetadata()).extracting(Problem::reason).singleElement(org.assertj.core.api.InstanceOfAssertFactories.STRING)
                .contains("chk-2/metadata-kept (20 bytes)").doesNotContain("chk-2/_metadata");
        assertThat(o.deleted()).isEmpty();
        assertThat(jobDir.resolve("shared/leaked")).exists();
        assertThat(jobDir.resolve("shared/sst-14")).exists();
    }

    @Test
    void savepointsBesideJobDirectoriesMakeNoJobDirectoryOfTheirParent() throws Exception {
        // the savepoint directory set to the checkpoint directory: savepoint-* beside the job directories
        java.nio.file.Path base = jobDir;
        jobDir = Files.createDirectories(base.resolve("0123456789abcdef0123456789abcdef"));
        writeCheckpoint(1, 0, 3);
        java.nio.file.Path savepoint = Files.createDirectories(base.resolve("savepoint-012345-0a1b2c3d4e5f"));
        Files.copy(jobDir.resolve("chk-1/_metadata"), savepoint.resolve("_metadata"));

        assertThat(inspector.classify(path(base))).isEqualTo(PathRole.BASE_DIRECTORY);
        assertThat(inspector.discover(path(base))).extracting(j -> j.path().getName())
                .containsExactly(jobDir.getFileName().toString(), base.getFileName().toString());
        assertThat(inspector.discover(path(base)).get(1).checkpoints()).extracting(c -> c.path().getName())
                .containsExactly(savepoint.getFileName().toString());
        // a directory of savepoints alone is still read as one job's
        java.nio.file.Path savepoints = Files.createDirectories(base.resolve("savepoints"));
        Files.move(savepoint, savepoints.resolve(savepoint.getFileName()));
        assertThat(inspector.classify(path(savepoints))).isEqualTo(PathRole.JOB_DIRECTORY);
    }

    @Test
    void aSavepointWithoutMetadataIsNoOrphan() throws Exception {
        // a native savepoint resumed in CLAIM mode loses its _metadata when subsumed, while the claiming
        // job's checkpoints, perhaps under another directory, still use its files
        writeCheckpoint(1, 0, 3);
        java.nio.file.Path savepoint = Files.createDirectories(jobDir.resolve("savepoint-012345-0a1b2c3d4e5f"));
        Files.write(savepoint.resolve(UUID.randomUUID().toString()), new byte[100]);
        Files.createDirectories(jobDir.resolve("chk-2"));
        Files.write(jobDir.resolve("chk-2/aborted-state"), new byte[5]);
        makeEverythingOld();

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, false));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("chk-2");
        assertThat(savepoint).isDirectoryContaining(f -> true);
    }

    @Test
    void aSavepointOfAnEarlierRunWithAHigherIdIsNotTheRestorePoint() throws Exception {
        // a run under the same job id restored from an older state: its checkpoints have lower ids than
        // the savepoint the earlier run took, and were written after it
        writeCheckpoint("savepoint-012345-0a1b2c3d4e5f", 7, 0, 3);
        Files.setLastModifiedTime(jobDir.resolve("savepoint-012345-0a1b2c3d4e5f/_metadata"),
                java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofHours(7))));
        writeCheckpoint(2, 0, 3);
        writeCheckpoint(3, 0, 3);

        RestorePoint rp = inspector.restorePoint(path(jobDir), true);

        assertThat(rp.path()).as(rp.explanation()).isEmpty();
        assertThat(rp.outcome()).isEqualTo(Outcome.UNKNOWN);
        assertThat(rp.writtenLater()).extracting(w -> w.path().getName()).containsExactlyInAnyOrder("chk-2", "chk-3");
        // without the savepoints, the checkpoints alone agree
        assertThat(inspector.restorePoint(path(jobDir), false).path()).map(Path::getName).contains("chk-3");
    }

    @Test
    void aSavepointWithALowerIdWrittenLaterMakesTheIdsAndTimesDisagree() throws Exception {
        // a savepoint directory of two jobs (or of one application whose job id changed): the
        // highest id is not the newest state
        writeCheckpoint("savepoint-012345-0a1b2c3d4e5f", 7, 0, 3);
        Files.setLastModifiedTime(jobDir.resolve("savepoint-012345-0a1b2c3d4e5f/_metadata"),
                java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofHours(7))));
        writeCheckpoint("savepoint-abcdef-0a1b2c3d4e5f", 4, 0, 3);

        RestorePoint rp = inspector.restorePoint(path(jobDir), true);

        assertThat(rp.outcome()).as(rp.explanation()).isEqualTo(Outcome.UNKNOWN);
        assertThat(rp.writtenLater()).extracting(w -> w.path().getName()).containsExactly("savepoint-abcdef-0a1b2c3d4e5f");

        // one lineage across job ids (an upgrade per deployment): ids and times agree, the newest is named
        Files.setLastModifiedTime(jobDir.resolve("savepoint-abcdef-0a1b2c3d4e5f/_metadata"),
                java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofHours(8))));
        assertThat(inspector.restorePoint(path(jobDir), true).path()).map(Path::getName)
                .contains("savepoint-012345-0a1b2c3d4e5f");
    }

    /**
     * A savepoint with a lower id whose _metadata was damaged after the higher one was written: its
     * time is the damage's and its id, read from a _metadata that contradicts itself, is not to be
     * trusted, so the ids and times do not disagree; the higher one is named.
     */
    @Test
    void aDamagedSavepointWrittenLaterDoesNotMakeTheIdsAndTimesDisagree() throws Exception {
        writeCheckpoint("savepoint-012345-0a1b2c3d4e5f", 7, 0, 3);
        Files.setLastModifiedTime(jobDir.resolve("savepoint-012345-0a1b2c3d4e5f/_metadata"),
                java.nio.file.attribute.FileTime.from(java.time.Instant.now().minus(java.time.Duration.ofHours(7))));
        java.nio.file.Path damaged = Files.createDirectories(jobDir.resolve("savepoint-012345-abcdef012345"));
        // the uid does not give the operator's id: read by Flink's reader, contradicted by the checks
        OperatorState op = new OperatorState("count", "another-uid", OperatorIds.fromUid("count"), 1, 128);
        try (OutputStream out = Files.newOutputStream(damaged.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(4, List.of(op), List.of()), new DataOutputStream(out));
        }
        assertThat(inspector.validate(path(damaged), false).verdict()).isEqualTo(Verdict.CORRUPT_METADATA);

        RestorePoint rp = inspector.restorePoint(path(jobDir), true);

        assertThat(rp.writtenLater()).as(rp.explanation()).isEmpty();
        assertThat(rp.path()).map(Path::getName).contains("savepoint-012345-0a1b2c3d4e5f");
    }

    @Test
    void aDirectoryWithoutAnyRetainedCheckpointHasNoOrphansToDelete() throws Exception {
        // under entropy injection: a resolved entropy prefix holds the job's files and chk-N, while the
        // _metadata naming them lies under the path without the marker
        writeCheckpoint(1, 0, 3);
        Files.delete(jobDir.resolve("chk-1/_metadata"));
        makeEverythingOld();

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(java.time.Duration.ofHours(1), true, false));

        assertThat(o.deletionRefused()).contains("no retained checkpoint was found").contains("entropy");
        assertThat(o.orphans()).isEmpty();
        assertThat(o.deleted()).isEmpty();
        assertThat(jobDir.resolve("shared/sst-0")).exists();
        assertThat(jobDir.resolve("chk-1/manifest")).exists();
    }

    private void makeEverythingOld() throws Exception {
        java.nio.file.attribute.FileTime old = java.nio.file.attribute.FileTime.from(
                java.time.Instant.now().minus(java.time.Duration.ofHours(2)));
        try (var all = Files.walk(jobDir)) {
            for (java.nio.file.Path p : all.toList()) {
                Files.setLastModifiedTime(p, old);
            }
        }
    }

    @Test
    void aMissingFileAndADirectoryWithoutMetadataAreStillToldApart() throws Exception {
        writeCheckpoint(1, 0, 10);
        Files.delete(jobDir.resolve("chk-1/_metadata"));

        assertThat(inspector.validate(path(jobDir.resolve("chk-1")), false).verdict()).isEqualTo(Verdict.NO_METADATA);
        org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> inspector.validate(path(jobDir.resolve("chk-1/metadata-kept")), false))
                .isInstanceOf(java.io.FileNotFoundException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> inspector.classify(path(jobDir.resolve("chk-1/metadata-kept"))))
                .isInstanceOf(java.io.FileNotFoundException.class);
    }

    @Test
    void checkpointsOfOneJobShareTheListingOfShared() throws Exception {
        writeCheckpoint(1, 0, 10);
        writeCheckpoint(2, 5, 10);
        JobDirectory job = inspector.discover(path(jobDir)).get(0);
        assertThat(job.checkpoints()).extracting(c -> c.path().getName()).containsExactly("chk-2", "chk-1");
        List<Validation> all = inspector.validateAll(job, false);
        assertThat(all).extracting(Validation::verdict).containsOnly(Verdict.RESTORABLE);
        long listings = all.stream().mapToLong(v -> v.requests().listStatus()).sum();
        assertThat(listings).isEqualTo(3); // chk-2, shared/, chk-1
    }

    @Test
    void missingAndResizedFilesAreEachReported() throws Exception {
        writeCheckpoint(1, 0, 20);
        Files.delete(jobDir.resolve("shared/sst-3"));
        Files.write(jobDir.resolve("shared/sst-4"), new byte[7]);
        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);
        assertThat(v.verdict()).isEqualTo(Verdict.MISSING_FILES);
        assertThat(v.problems()).extracting(Problem::verdict).containsExactly(Verdict.MISSING_FILES, Verdict.SIZE_MISMATCH);
        assertThat(v.filesConcerned()).extracting(f -> new Path(f).getName()).containsExactly("sst-3", "sst-4");
        assertThat(v.reason()).contains("sst-3", "1 other problems");
    }

    @Test
    void aDanglingLinkInSharedIsOneMissingFileNotAMissingDirectory() throws Exception {
        // Flink's local file system fails a whole listing on one dangling symbolic link
        writeCheckpoint(1, 0, 20);
        Files.createSymbolicLink(jobDir.resolve("shared/left-over-link"), jobDir.resolve("gone"));
        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);

        Files.delete(jobDir.resolve("shared/sst-3"));
        Files.createSymbolicLink(jobDir.resolve("shared/sst-3"), jobDir.resolve("gone"));
        v = inspector.validate(path(jobDir.resolve("chk-1")), false);
        assertThat(v.verdict()).isEqualTo(Verdict.MISSING_FILES);
        assertThat(v.filesConcerned()).extracting(f -> new Path(f).getName()).containsExactly("sst-3");
        assertThat(v.reason()).doesNotContain("directory");
    }

    @Test
    void aCheckpointDirectoryNamedForAnotherIdIsReportedHoweverItsPathIsSpelled() throws Exception {
        writeCheckpoint(3, 0, 5);
        Files.move(jobDir.resolve("chk-3"), jobDir.resolve("chk-99"));
        // as typed, and as a URI of a directory gives it: with a trailing slash
        for (Path p : List.of(path(jobDir.resolve("chk-99")), new Path(jobDir.resolve("chk-99").toUri()))) {
            Validation v = inspector.validate(p, false);
            assertThat(v.problems()).as(p + ": " + v.reason()).anySatisfy(problem -> {
                assertThat(problem.verdict()).isEqualTo(Verdict.CORRUPT_METADATA);
                assertThat(problem.reason()).contains("chk-99 holds checkpoint id 3");
            });
        }
    }

    @Test
    void namesAloneTellACheckpointFromAJobDirectory() {
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path("s3tiered://b/cp/abc/chk-12"))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path("s3tiered://b/cp/abc/chk-12/_metadata"))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path("s3://b/sp/savepoint-0a1b2c-5d6e7f"))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path("s3://b/cp/0123456789abcdef0123456789abcdef"))).isFalse();
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path("file:/cp/chk-x"))).isFalse();
        assertThat(PathKey.of(new Path("file:/a/b/"))).isEqualTo(PathKey.of(new Path("file:///a/b")))
                .isEqualTo(PathKey.of(new Path("/a/b")));
        assertThat(CheckpointNames.looksLikeJobId("0123456789abcdef0123456789abcdef")).isTrue();
        assertThat(CheckpointNames.looksLikeJobId("shared")).isFalse();
    }

    @Test
    void uploadsAheadOfCheckpointsAreKnownByTheirNamesOfBothVersions() {
        String sha = "0123456789abcdef".repeat(4);
        assertThat(CheckpointNames.isPreUploadedName(sha + "-89abcdef01234567.sst")).as("unique to its upload").isTrue();
        assertThat(CheckpointNames.isPreUploadedName(sha + ".sst")).as("as 0.2.0 named them").isTrue();
        assertThat(CheckpointNames.isPreUploadedName(java.util.UUID.randomUUID().toString())).as("Flink's").isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha + "_89abcdef01234567.sst")).isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha + "-89abcdef0123456g.sst")).isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha + "-89abcdef012345678.sst")).isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha.toUpperCase() + ".sst")).isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha + "-89abcdef01234567.sss")).isFalse();
        assertThat(CheckpointNames.isPreUploadedName(sha.substring(1) + "-89abcdef01234567.sst")).isFalse();
    }

    /**
     * Flink's changelog storage records a file's size after its compression flag and before
     * compression. An uncompressed file whole holds one byte more, and passes on its listed size
     * alone; a compressed one is read (one open) and must decompress, its chunks intact, to the
     * recorded size; an uncompressed one cut short, a compressed one cut short or resized, and one
     * whose first byte is no flag, are each refused by name, without deep validation.
     */
    @Test
    void changelogFilesAreHeldToTheirSizeCompressedOrNot() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-1"));
        java.nio.file.Path changes = Files.createDirectories(jobDir.resolve("changelog"));
        java.nio.file.Path plain = changes.resolve("plain");
        java.nio.file.Path compressed = changes.resolve("compressed");
        Files.write(plain, changelogFile(0, 21)); // the flag, then the 20 bytes recorded
        byte[] whole = compressedChangelogFile(500);
        assertThat(whole.length).as("compressed far below the 500 bytes recorded").isLessThan(100);
        Files.write(compressed, whole);
        ChangelogCheckpoints.write(chk, List.of(
                org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(path(plain), 20), 0L),
                org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(path(plain), 20), 12L),
                org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(path(compressed), 500), 0L)));

        Validation v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        // listings of chk-1, shared/ (started before _metadata is read) and changelog/; opens of
        // _metadata and of the compressed file, read whole
        assertThat(v.requests()).isEqualTo(new RequestCount(3, 0, 2, 0, 0));

        for (int cut : new int[] {1, 5, whole.length - 11}) {
            Files.write(compressed, Arrays.copyOf(whole, whole.length - cut));
            v = inspector.validate(path(chk), false);
            assertThat(v.verdict()).as("cut by %d bytes: %s", cut, v.reason()).isEqualTo(Verdict.SIZE_MISMATCH);
            assertThat(v.filesConcerned()).containsExactly(path(compressed).toString());
            assertThat(v.reason()).contains("compressed changelog file");
        }
        Files.write(compressed, Arrays.copyOf(whole, whole.length - 1));
        assertThat(inspector.validate(path(chk), false).reason()).contains("cut off at the file's end", "cut short");
        Files.write(compressed, compressedChangelogFile(499));
        v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.SIZE_MISMATCH);
        assertThat(v.reason()).contains("decompress to 499 bytes", "records 500 bytes");
        byte[] changed = whole.clone();
        changed[16] ^= 0x10; // in the first data chunk's CRC32C (after the flag, the identifier and the chunk's header)
        Files.write(compressed, changed);
        v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(v.filesConcerned()).containsExactly(path(compressed).toString());
        Files.write(compressed, whole);

        Files.write(plain, changelogFile(0, 20));
        v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.SIZE_MISMATCH);
        assertThat(v.filesConcerned()).containsExactly(path(plain).toString());
        assertThat(v.reason()).contains("uncompressed changelog file", "20 bytes", "found 20");

        Files.write(plain, changelogFile(7, 25));
        v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
        assertThat(v.filesConcerned()).containsExactly(path(plain).toString());
        assertThat(v.reason()).contains("starts with byte 7");
    }

    private static byte[] changelogFile(int flag, int length) {
        byte[] bytes = new byte[length];
        bytes[0] = (byte) flag;
        return bytes;
    }

    /** A compressed changelog file as Flink's uploader writes one: flag 1, then {@code length} bytes in Snappy frames. */
    private static byte[] compressedChangelogFile(int length) throws java.io.IOException {
        java.io.ByteArrayOutputStream file = new java.io.ByteArrayOutputStream();
        file.write(1);
        try (OutputStream out = org.apache.flink.runtime.state.SnappyStreamCompressionDecorator.INSTANCE
                .decorateWithCompression(file)) {
            out.write(new byte[length]);
        }
        return file.toByteArray();
    }

    /** chk-{id} with private files (MANIFEST, CURRENT), a meta file and shared files sst-{first}..sst-{first+count-1}. */
    private void writeCheckpoint(long id, int first, int count) throws Exception {
        writeCheckpoint("chk-" + id, id, first, count);
    }

    /** As {@link #writeCheckpoint(long, int, int)}, in the directory {@code dirName} (a savepoint's, say). */
    private void writeCheckpoint(String dirName, long id, int first, int count) throws Exception {
        writeCheckpoint(jobDir.resolve(dirName), jobDir.resolve("shared"), id, first, count);
    }

    /** As {@link #writeCheckpoint(String, long, int, int)}, at {@code checkpointDir}, its shared files in {@code sharedDir}. */
    private static void writeCheckpoint(java.nio.file.Path checkpointDir, java.nio.file.Path sharedDir, long id, int first,
            int count) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(checkpointDir);
        java.nio.file.Path shared = Files.createDirectories(sharedDir);
        List<HandleAndLocalPath> sharedState = new ArrayList<>();
        for (int i = first; i < first + count; i++) {
            sharedState.add(HandleAndLocalPath.of(file(shared.resolve("sst-" + i), 10 + i % 50), i + ".sst"));
        }
        List<HandleAndLocalPath> privateState = List.of(
                HandleAndLocalPath.of(file(chk.resolve("manifest"), 33), "MANIFEST-000004"),
                HandleAndLocalPath.of(file(chk.resolve("current"), 16), "CURRENT"));
        IncrementalRemoteKeyedStateHandle keyed = new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(),
                KeyGroupRange.of(0, 127), id, sharedState, privateState, file(chk.resolve("meta"), 21));
        // as Flink writes it: the operator's id is derived from its uid
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedKeyedState(keyed).build());
        CheckpointMetadata metadata = new CheckpointMetadata(id, List.of(op), List.of());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(metadata, new DataOutputStream(out));
        }
    }

    private static FileStateHandle file(java.nio.file.Path p, int size) throws Exception {
        if (!Files.exists(p)) {
            Files.write(p, new byte[size]);
        }
        return new FileStateHandle(path(p), size);
    }

    private static Path path(java.nio.file.Path p) {
        return new Path(p.toUri().toString());
    }
}
