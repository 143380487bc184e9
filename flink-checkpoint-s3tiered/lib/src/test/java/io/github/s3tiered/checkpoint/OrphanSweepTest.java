package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Set;

/**
 * When the orphan removal may delete what, on a job directory of the local file system whose
 * modification times the test sets (S3's clock in production): which checkpoints were pending
 * when which was finalized, which were subsumed.
 */
class OrphanSweepTest {

    @TempDir
    java.nio.file.Path root;

    private java.nio.file.Path job;
    private final PendingCheckpoints pending = new PendingCheckpoints(true);
    private OrphanSweep sweep;
    /** The test's clock, in whole seconds well in the past: each event a step (beyond the clock margin) later. */
    private long second = System.currentTimeMillis() / 1000 - 100_000;
    /** The default of s3tiered.verification.orphan-clock-margin. */
    private static final long MARGIN = VerificationOptions.ORPHAN_CLOCK_MARGIN.defaultValue().toSeconds();
    private static final long STEP = MARGIN + 1;

    @BeforeEach
    void jobDirectory() throws Exception {
        job = Files.createDirectories(root.resolve("job"));
        Files.createDirectories(job.resolve("shared"));
        sweep = new OrphanSweep(flinkPath(job), getClass().getClassLoader(), pending, 0, MARGIN);
    }

    /** A handle type this version cannot map to files, as a later Flink's may be. */
    private static final class HandleOfALaterFlink implements org.apache.flink.runtime.state.StreamStateHandle {
        @Override
        public org.apache.flink.core.fs.FSDataInputStream openInputStream() {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.util.Optional<byte[]> asBytesIfInMemory() {
            return java.util.Optional.empty();
        }

        @Override
        public org.apache.flink.runtime.state.PhysicalStateHandleID getStreamStateHandleID() {
            return new org.apache.flink.runtime.state.PhysicalStateHandleID("later");
        }

        @Override
        public void discardState() {}

        @Override
        public long getStateSize() {
            return 3;
        }
    }

    @Test
    void aHandleWhoseFilesThisVersionCannotTellRemovesNothing() throws Exception {
        OperatorState op = OperatorStates.create("count", "count", new OperatorID(), 1, 128);
        op.putState(0, OperatorSubtaskState.builder()
                .setManagedKeyedState(new KeyGroupsStateHandle(new KeyGroupRangeOffsets(KeyGroupRange.of(0, 0)),
                        new HandleOfALaterFlink()))
                .build());
        CheckpointMetadata metadata = new CheckpointMetadata(5, List.of(op), List.of());

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> OrphanSweep.referencedFiles(metadata,
                        flinkPath(job.resolve("chk-5/_metadata"))))
                .isInstanceOf(java.io.IOException.class).hasMessageContaining("HandleOfALaterFlink")
                .hasMessageContaining("chk-5/_metadata");
    }

    @Test
    void checkpointsWithoutAPauseBetweenThemDoNotKeepTheRemovalOff() throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("lost"); // a TaskManager died uploading it for checkpoint 2
        upload("b");
        finalize(2);
        pending.started(3); // at once: the interval passed while 2 ran
        upload("c"); // 3's first file, while the sweep after 2 has not run yet
        subsume(1);
        sweep.afterCompleted(2, refs("a", "b"));

        assertThat(shared()).containsExactlyInAnyOrder("a", "b", "c");
        assertThat(sweep.removed()[0]).isEqualTo(1);
    }

    @Test
    void filesOfACheckpointRunningWhenTheRetainedOnesWereFinalizedStayUntilItEnds() throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        pending.started(3); // concurrent checkpoints
        upload("lost");
        upload("of-3"); // written for 3 before 2 was finalized: older than 2's _metadata
        finalize(2);
        subsume(1);
        sweep.afterCompleted(2, refs("a"));
        assertThat(shared()).as("3 may still refer to what it wrote before 2 completed")
                .containsExactlyInAnyOrder("a", "lost", "of-3");

        pending.ended(3); // declined: its files are orphans now
        pending.started(4);
        upload("of-4");
        complete(4, "a", "of-4");
        assertThat(shared()).containsExactlyInAnyOrder("a", "of-4");
    }

    @Test
    void aCheckpointWhoseEndIsNeverReportedKeepsItsFilesForever() throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2); // never finalized nor disposed
        upload("of-2");
        for (long id = 3; id <= 5; id++) {
            pending.started(id);
            complete(id, "a");
            subsume(id - 1 == 2 ? 1 : id - 1);
        }
        assertThat(shared()).containsExactlyInAnyOrder("a", "of-2");
    }

    @Test
    void nothingGoesBeforeACheckpointCompletedHereIsSubsumed() throws Exception {
        // a checkpoint retained from before this JobManager started, which the listing may not show
        upload("of-earlier");
        pending.started(7);
        upload("a");
        complete(7, "a");
        pending.started(8);
        complete(8, "a");
        assertThat(shared()).contains("of-earlier");

        subsume(7);
        pending.started(9);
        complete(9, "a");
        assertThat(shared()).containsExactlyInAnyOrder("a");
    }

    @Test
    void aFinalizedCheckpointTheVerifierSkippedAndTheListingLeftOutIsReadFromItsMetadata() throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("of-2");
        // the verifier went on to 3 at once (no afterCompleted(2)), and chk-2 is left out of the
        // listing (as some S3-compatible stores do while objects are written): here a directory
        // the listing does not take for a checkpoint's
        writeMetadata("unlisted-chk-2", 2, "of-2");
        pending.finalized(2, flinkPath(job.resolve("unlisted-chk-2")));
        pending.started(3);
        upload("lost");
        finalize(3);
        subsume(1);
        sweep.afterCompleted(3, refs("a"));

        assertThat(shared()).containsExactlyInAnyOrder("a", "of-2");
    }

    @Test
    void uploadsAheadOfCheckpointsOfEitherNamingStayForTheGraceTheOthersDoNot() throws Exception {
        // a TaskManager may still hand an upload ahead to a checkpoint for its reuse window
        sweep = new OrphanSweep(flinkPath(job), getClass().getClassLoader(), pending, 4 * STEP * 1000, MARGIN);
        String unique = "a".repeat(64) + "-0123456789abcdef.sst";
        String asIn020 = "b".repeat(64) + ".sst";
        pending.started(1);
        upload("a");
        complete(1, "a");
        upload(unique);
        upload(asIn020);
        upload("lost");
        pending.started(2);
        complete(2, "a");
        subsume(1);
        pending.started(3);
        complete(3, "a");
        assertThat(shared()).containsExactlyInAnyOrder("a", unique, asIn020);

        for (long id = 4; id <= 8; id++) {
            pending.started(id);
            complete(id, "a");
            subsume(id - 2);
        }
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void uploadsAheadThatVersion020MadeUnderTheEntropyMarkerGoOnceNoRetainedCheckpointReferencesThem() throws Exception {
        // 0.2.0 kept the marker in the key of its uploads ahead; Flink's _metadata is in the job directory without it
        sweep = new OrphanSweep(flinkPath(job), flinkPath(root.resolve("_entropy_").resolve("job")),
                getClass().getClassLoader(), pending, 0, MARGIN);
        String kept = LEGACY + "a".repeat(64) + ".sst";
        String unreferenced = LEGACY + "b".repeat(64) + ".sst";
        upload(kept);
        upload(unreferenced);
        upload(LEGACY + "not-an-upload-ahead");
        pending.started(1);
        upload("a");
        complete(1, "a", kept); // a checkpoint of 0.2.0, retained
        pending.started(2);
        complete(2, "a", kept);
        subsume(1);
        pending.started(3);
        complete(3, "a", kept);
        assertThat(legacyShared()).containsExactlyInAnyOrder(kept, LEGACY + "not-an-upload-ahead");

        pending.started(4);
        complete(4, "a");
        subsume(2);
        subsume(3);
        pending.started(5);
        complete(5, "a");
        assertThat(legacyShared()).containsExactly(LEGACY + "not-an-upload-ahead");
        assertThat(shared()).containsExactly("a");

        pending.started(6);
        complete(6, "a"); // its listing finds none left: the directory is not listed again
        upload(LEGACY + "c".repeat(64) + ".sst");
        subsume(4);
        pending.started(7);
        complete(7, "a");
        assertThat(legacyShared()).hasSize(2);
    }

    @Test
    void aFileTheCheckpointsNameThroughAnotherSchemeOrAuthorityIsReferenced() throws Exception {
        // a job that moved from s3:// to s3tiered:// (same bucket and prefix) names the files it
        // still reuses through the old scheme; here file://localhost/... for what is listed as file:/...
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        writeMetadataNaming(2, new Path("file://localhost" + job.resolve("shared/a").toAbsolutePath()));
        pending.finalized(2, flinkPath(job.resolve("chk-2")));
        sweep.afterCompleted(2, null);
        subsume(1);
        pending.started(3);
        writeMetadataNaming(3, new Path("file://localhost" + job.resolve("shared/a").toAbsolutePath()));
        pending.finalized(3, flinkPath(job.resolve("chk-3")));
        sweep.afterCompleted(3, null);

        assertThat(shared()).containsExactly("a");
    }

    @Test
    void aNewerCheckpointDiscardedWhileAnOlderIsRetainedIsNoSignOfSubsumption() throws Exception {
        // after a failover: earlier checkpoints retained that this JobManager never saw; 8 is
        // finalized, then discarded by Flink (its HA store entry failed), while 7 is retained
        upload("of-earlier");
        pending.started(7);
        upload("a");
        complete(7, "a");
        pending.started(8);
        finalize(8, "a");
        subsume(8);
        pending.started(9);
        complete(9, "a");

        assertThat(shared()).contains("of-earlier");
        // the control: once 7, completed here, is subsumed, the file goes (it was 7's retention that kept it)
        subsume(7);
        pending.started(10);
        complete(10, "a");
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void theFirstCheckpointAfterARestoreDiscardedBeforeAnyPassSawItIsNoSignOfSubsumption() throws Exception {
        // restored from a checkpoint this JobManager never saw (retained, perhaps left out of a
        // listing); 7 is finalized, then discarded by Flink (its HA store entry failed)
        upload("of-earlier");
        pending.started(7);
        upload("a");
        finalize(7, "a");
        subsume(7);
        pending.started(8);
        complete(8, "a");
        pending.started(9);
        complete(9, "a");

        assertThat(shared()).contains("of-earlier");
        // the control: once 8, completed here, is subsumed, the file goes
        subsume(8);
        pending.started(10);
        complete(10, "a");
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void aCheckpointNewerThanAnyStartedHereEndsThePass() throws Exception {
        // another coordinator writes this directory (Flink's adaptive scheduler makes one per restart)
        upload("of-the-other");
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        complete(2, "a");
        subsume(1);
        writeMetadata(5, "of-the-other"); // the other's: it references a file of its own
        Files.delete(job.resolve("chk-5/_metadata")); // ...which a listing of chk-5 alone would not show
        java.nio.file.Path exclusive = job.resolve("chk-5/exclusive"); // written now, by the other coordinator
        Files.write(exclusive, new byte[] {1});
        Files.setLastModifiedTime(exclusive, FileTime.fromMillis((second += STEP) * 1000));
        pending.started(3);
        complete(3, "a");

        assertThat(shared()).contains("of-the-other");
        // the control: without the other coordinator's checkpoint, the next pass removes the file
        deleteRecursively(job.resolve("chk-5"));
        pending.started(4);
        complete(4, "a");
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void aCheckpointBelowAnyStartedHereWrittenSinceEndsThePass() throws Exception {
        // a run of the same job id, restored from an older savepoint, counts its ids from there and
        // runs beside this one: its checkpoint in progress has a file in shared/ and no _metadata yet
        upload("of-the-other");
        checkpoints10And11The10Subsumed();
        java.nio.file.Path exclusive = job.resolve("chk-3/exclusive"); // written now, by the other run
        Files.createDirectories(exclusive.getParent());
        Files.write(exclusive, new byte[] {1});
        Files.setLastModifiedTime(exclusive, FileTime.fromMillis((second += STEP) * 1000));
        pending.started(12);
        complete(12, "a");

        assertThat(shared()).contains("of-the-other");
        // the control: without the other run's checkpoint in progress, the next pass removes the file
        deleteRecursively(job.resolve("chk-3"));
        pending.started(13);
        complete(13, "a");
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void filesOfAnotherRunsCheckpointWithNothingInItsDirectoryYetStayForACheckpointTimeout() throws Exception {
        long timeout = 600;
        sweep = new OrphanSweep(flinkPath(job), null, getClass().getClassLoader(), pending, 0, MARGIN, 0,
                System::nanoTime, timeout);
        checkpoints10And11The10Subsumed();
        // a run beside this one (same job id): its checkpoint in progress keeps its small state for its
        // _metadata, so on S3 nothing is under its chk-N, which no listing can show, while its file is here
        upload("of-the-other");
        pending.started(12);
        complete(12, "a");
        assertThat(shared()).contains("of-the-other");

        // a checkpoint timeout later no checkpoint that may name it can be running any more
        second += timeout;
        pending.started(13);
        complete(13, "a");
        assertThat(shared()).containsExactly("a");
    }

    @Test
    void aCompletedCheckpointBelowAnyStartedHereWrittenSinceEndsThePass() throws Exception {
        // the same run beside this one: between its checkpoints, the next one's files are in shared/
        // while its chk-N holds nothing yet (small state goes into _metadata), and the one it
        // completed last names other files
        upload("of-the-other-next");
        checkpoints10And11The10Subsumed();
        writeMetadata(3, "of-the-other"); // completed now, by the other run
        pending.started(12);
        complete(12, "a");

        assertThat(shared()).contains("of-the-other-next");
        // the control: without the other run's checkpoint, the next pass removes the file
        deleteRecursively(job.resolve("chk-3"));
        pending.started(13);
        complete(13, "a");
        assertThat(shared()).doesNotContain("of-the-other-next");
    }

    @Test
    void aCheckpointLeftByAnEarlierRunUnderTheSameJobIdDoesNotKeepTheRemovalOff() throws Exception {
        // a fixed job id (application mode with HA), started afresh: the counter is below an earlier
        // run's retained chk-500, whose references are kept like any other listed checkpoint's
        upload("of-500");
        writeMetadata(500, "of-500");
        java.nio.file.Path leftover = job.resolve("chk-500/exclusive");
        Files.write(leftover, new byte[] {1});
        Files.setLastModifiedTime(leftover, FileTime.fromMillis((second += STEP) * 1000));
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("lost");
        complete(2, "a");
        subsume(1);
        pending.started(3);
        complete(3, "a");

        assertThat(shared()).containsExactlyInAnyOrder("a", "of-500");
    }

    @Test
    void filesOfAnEarlierRunThatAnotherJobClaimedStayWhenTheJobIdRunsAgain() throws Exception {
        // job X's retained checkpoint was restored in CLAIM mode by job Y (another directory), which
        // subsumed it: nothing under X's directory names the files Y's checkpoints still use
        upload("claimed-by-another-job");
        upload("left-by-the-earlier-run");
        // X's job id runs again (application mode with HA), afresh: its run starts now
        sweep.runStartedAt((second += STEP + 1) * 1000);
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("lost-by-this-run");
        complete(2, "a");
        subsume(1);
        pending.started(3);
        complete(3, "a");

        // this run's own leak goes; what an earlier run wrote stays for the inspector's orphans
        assertThat(shared()).containsExactlyInAnyOrder("a", "claimed-by-another-job", "left-by-the-earlier-run");
    }

    @Test
    void aRestoreAnEarlierCoordinatorOfThisProcessRecordedKeepsItsReferencesButNotTheAgeFloorOff() throws Exception {
        // the record may be an earlier submission's of the job id in this session cluster, not this run's
        upload("left-by-the-earlier-run");
        sweep.runStartedAt((second += STEP + 1) * 1000);
        upload("of-100");
        writeMetadata("unlisted-chk-100", 100, "of-100");
        sweep.restoredFrom(flinkPath(job.resolve("unlisted-chk-100")), flinkPath(job.resolve("unlisted-chk-100/_metadata")));
        checkpointsAfterTheRestore();

        assertThat(shared()).containsExactlyInAnyOrder("a", "of-100", "left-by-the-earlier-run");
    }

    @Test
    void anEarlierRunsNewestFilesStayThoughWithinTheMinimumAgeBeforeThisRunStarted() throws Exception {
        // the claiming job took the earlier run's last checkpoint a minute before the job id ran again
        sweep = new OrphanSweep(flinkPath(job), null, getClass().getClassLoader(), pending, 0, MARGIN, 0, System::nanoTime,
                600);
        upload("claimed-just-before");
        sweep.runStartedAt((second += STEP + 1) * 1000);
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("lost-by-this-run");
        complete(2, "a");
        subsume(1);
        second += 700; // the minimum age passes
        pending.started(3);
        complete(3, "a");

        assertThat(shared()).containsExactlyInAnyOrder("a", "claimed-just-before");
    }

    /**
     * The job id runs again from its own chk-11, after another job claimed the earlier run's chk-12
     * (CLAIM mode) and subsumed it: the files chk-12 added are named by nothing in this directory,
     * but the other job's checkpoints use them. They stay, as every object of an earlier run does;
     * the inspector's orphans, which reads the directories beside this one, finds the leaks.
     */
    @Test
    void filesAnotherJobClaimedStayWhenTheJobIdResumesItsOwnOlderCheckpoint() throws Exception {
        upload("in-10-11-12");
        writeMetadata(10, "in-10-11-12");
        upload("in-11-12");
        writeMetadata(11, "in-10-11-12", "in-11-12");
        upload("only-in-12");
        writeMetadata(12, "in-10-11-12", "in-11-12", "only-in-12");
        subsume(12);
        sweep.runStartedAt((second += STEP + 1) * 1000);
        sweep.restoredFrom(flinkPath(job.resolve("chk-11")));
        checkpointsAfterTheRestore();

        assertThat(shared()).contains("only-in-12", "in-10-11-12", "in-11-12").doesNotContain("lost");
    }

    @Test
    void removalsThatFailEndThePassInsteadOfFailingForEachObject() throws Exception {
        // a role without s3:DeleteObject: three attempts and one WARN a pass, not one per orphan at every pass
        java.util.concurrent.atomic.AtomicInteger deletes = new java.util.concurrent.atomic.AtomicInteger();
        denyDeletes(deletes, f -> true);
        orphansAfterThreeCheckpoints(5);

        assertThat(deletes.get()).isEqualTo(3);
        assertThat(shared()).hasSize(6);
    }

    @Test
    void anObjectThatCannotBeRemovedDoesNotKeepTheOthers() throws Exception {
        // an object-lock hold on one object
        java.util.concurrent.atomic.AtomicInteger deletes = new java.util.concurrent.atomic.AtomicInteger();
        denyDeletes(deletes, f -> f.getName().equals("lost-0"));
        orphansAfterThreeCheckpoints(5);

        assertThat(shared()).containsExactlyInAnyOrder("a", "lost-0");
    }

    /** The job directory under the scheme {@code denied}, whose deletes of the paths {@code denied} names fail. */
    private void denyDeletes(java.util.concurrent.atomic.AtomicInteger deletes, java.util.function.Predicate<Path> denied) {
        S3TieredSchemeForTests.serve("denied", new org.apache.flink.core.fs.local.LocalFileSystem() {
            @Override
            public boolean delete(Path f, boolean recursive) throws java.io.IOException {
                deletes.incrementAndGet();
                if (!denied.test(f)) {
                    return super.delete(f, recursive);
                }
                throw new java.io.IOException("DeleteObject of " + f + " failed: 403 AccessDenied");
            }

            @Override
            public java.net.URI getUri() {
                return java.net.URI.create("denied:///");
            }
        });
        sweep = new OrphanSweep(new Path("denied://" + job.toAbsolutePath()), getClass().getClassLoader(), pending, 0,
                MARGIN);
    }

    /** Checkpoints 1 to 3 referencing "a", 1 subsumed, {@code lost} orphans lost-N uploaded during 2. */
    private void orphansAfterThreeCheckpoints(int lost) throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        for (int i = 0; i < lost; i++) {
            upload("lost-" + i);
        }
        complete(2, "a");
        subsume(1);
        pending.started(3);
        complete(3, "a");
    }

    @Test
    void theCheckpointRestoredFromIsReadInEveryPassNotLeftToTheListing() throws Exception {
        // restored without claim from this job directory's own chk-100 (a job id used again): Flink never
        // subsumes it, so it stays retained beside the newer ones; here a listing leaves it out
        upload("of-100");
        writeMetadata("unlisted-chk-100", 100, "of-100");
        sweep.restoredFrom(flinkPath(job.resolve("unlisted-chk-100")));
        checkpointsAfterTheRestore();
        assertThat(shared()).containsExactlyInAnyOrder("a", "of-100");

        // deleted by hand (or claimed and subsumed): it keeps nothing any more
        Files.delete(job.resolve("unlisted-chk-100/_metadata"));
        pending.started(104);
        complete(104, "a");
        assertThat(shared()).containsExactlyInAnyOrder("a");
    }

    @Test
    void theCheckpointRestoredFromThroughAMetadataFileNamedOtherwiseKeepsItsFiles() throws Exception {
        // a restore path may name the metadata file, called otherwise than _metadata: Flink reads it as
        // chk-100's, and the removal must not take chk-100 for one without metadata and its files for orphans
        upload("of-100");
        writeMetadata(100, "of-100");
        java.nio.file.Path named = job.resolve("chk-100/metadata-kept");
        Files.move(job.resolve("chk-100/_metadata"), named);
        sweep.restoredFrom(flinkPath(job.resolve("chk-100")), flinkPath(named));
        checkpointsAfterTheRestore();

        assertThat(shared()).containsExactlyInAnyOrder("a", "of-100");
    }

    @Test
    void aFileStampedWithinTheClockMarginOfTheReferenceCheckpointStays() throws Exception {
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        finalize(2, "a");
        // stamped by another node's clock, a second before 2's _metadata, for checkpoint 3 started after it
        java.nio.file.Path skewed = job.resolve("shared/of-3");
        Files.write(skewed, new byte[] {1});
        Files.setLastModifiedTime(skewed, FileTime.fromMillis((second - 1) * 1000));
        pending.started(3);
        subsume(1);
        sweep.afterCompleted(2, refs("a"));

        assertThat(shared()).contains("of-3");
    }

    @Test
    void theDirectoriesAreListedAtMostOncePerListingIntervalAndWhatWaitsGoesAtTheNextListing() throws Exception {
        long[] nanos = {0};
        sweep = new OrphanSweep(flinkPath(job), null, getClass().getClassLoader(), pending, 0, MARGIN, MARGIN,
                () -> nanos[0], 0);
        pending.started(1);
        upload("a");
        complete(1, "a");
        pending.started(2);
        upload("lost-2");
        finalize(2, "a");
        subsume(1);
        sweep.afterCompleted(2, refs("a")); // lists: the first listing
        assertThat(sweep.removed()[0]).isEqualTo(1);

        pending.started(3);
        upload("lost-3");
        finalize(3, "a");
        subsume(2);
        nanos[0] += java.util.concurrent.TimeUnit.SECONDS.toNanos(MARGIN) - 1;
        sweep.afterCompleted(3, refs("a"));
        assertThat(shared()).as("within the interval of the last listing").contains("lost-3");

        pending.started(4);
        finalize(4, "a");
        subsume(3);
        nanos[0] += 1;
        sweep.afterCompleted(4, refs("a"));
        assertThat(shared()).containsExactly("a");
        assertThat(sweep.removed()[0]).isEqualTo(2);
    }

    // ---------------------------------------------------------------- helpers

    /** A name in the job's {@code shared/} under the literal entropy marker, where 0.2.0 put its uploads ahead. */
    private static final String LEGACY = "legacy:";

    private java.nio.file.Path sharedFile(String name) throws Exception {
        return name.startsWith(LEGACY)
                ? Files.createDirectories(root.resolve("_entropy_").resolve("job").resolve("shared"))
                        .resolve(name.substring(LEGACY.length()))
                : job.resolve("shared").resolve(name);
    }

    private List<String> legacyShared() throws Exception {
        try (var files = Files.list(root.resolve("_entropy_").resolve("job").resolve("shared"))) {
            return files.map(f -> LEGACY + f.getFileName()).toList();
        }
    }

    private void upload(String name) throws Exception {
        java.nio.file.Path f = sharedFile(name);
        Files.write(f, new byte[] {1, 2, 3});
        Files.setLastModifiedTime(f, FileTime.fromMillis((second += STEP) * 1000));
    }

    /** Writes chk-N/_metadata (referencing {@code sharedFiles}) and tells the sweep, as the verifier does. */
    private void finalize(long id, String... sharedFiles) throws Exception {
        writeMetadata(id, sharedFiles);
        pending.finalized(id, flinkPath(job.resolve("chk-" + id)));
    }

    private void complete(long id, String... sharedFiles) throws Exception {
        finalize(id, sharedFiles);
        sweep.afterCompleted(id, refs(sharedFiles));
    }

    private void writeMetadata(long id, String... sharedFiles) throws Exception {
        writeMetadata("chk-" + id, id, sharedFiles);
    }

    private void writeMetadata(String dirName, long id, String... sharedFiles) throws Exception {
        Path[] files = new Path[sharedFiles.length];
        for (int i = 0; i < sharedFiles.length; i++) {
            files[i] = flinkPath(sharedFile(sharedFiles[i]));
        }
        writeMetadataNaming(dirName, id, files);
    }

    /** chk-{id}/_metadata naming {@code files} as given (3 bytes each). */
    private void writeMetadataNaming(long id, Path... files) throws Exception {
        writeMetadataNaming("chk-" + id, id, files);
    }

    private void writeMetadataNaming(String dirName, long id, Path... files) throws Exception {
        java.nio.file.Path dir = Files.createDirectories(job.resolve(dirName));
        OperatorState op = OperatorStates.create("count", "count", new OperatorID(), Math.max(1, files.length), 128);
        for (int i = 0; i < files.length; i++) {
            Path file = files[i];
            op.putState(i, OperatorSubtaskState.builder()
                    .setManagedKeyedState(new KeyGroupsStateHandle(new KeyGroupRangeOffsets(KeyGroupRange.of(i, i)),
                            new FileStateHandle(file, 3)))
                    .build());
        }
        java.nio.file.Path metadata = dir.resolve("_metadata");
        try (OutputStream out = Files.newOutputStream(metadata)) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
        Files.setLastModifiedTime(metadata, FileTime.fromMillis((second += STEP) * 1000));
    }

    /** Checkpoints 10 and 11 of this coordinator, both referencing "a"; 10 subsumed, so the removal runs. */
    private void checkpoints10And11The10Subsumed() throws Exception {
        pending.started(10);
        upload("a");
        complete(10, "a");
        pending.started(11);
        complete(11, "a");
        subsume(10);
    }

    /** Three checkpoints of the restored job, the first subsumed: its orphan "lost" is removed by then. */
    private void checkpointsAfterTheRestore() throws Exception {
        pending.started(101);
        upload("a");
        complete(101, "a");
        pending.started(102);
        upload("lost");
        complete(102, "a");
        subsume(101);
        pending.started(103);
        complete(103, "a");
    }

    /** As Flink names a local directory: file:/..., no trailing slash. */
    private static Path flinkPath(java.nio.file.Path p) {
        return new Path("file:" + p.toAbsolutePath());
    }

    private void subsume(long id) throws Exception {
        Files.deleteIfExists(job.resolve("chk-" + id).resolve("_metadata"));
        Files.deleteIfExists(job.resolve("chk-" + id));
    }

    private Set<String> refs(String... sharedFiles) throws Exception {
        Set<String> refs = new java.util.HashSet<>();
        for (String n : sharedFiles) {
            refs.add(PathKey.of(flinkPath(sharedFile(n))));
        }
        return refs;
    }

    private List<String> shared() throws Exception {
        try (var files = Files.list(job.resolve("shared"))) {
            return files.map(f -> f.getFileName().toString()).toList();
        }
    }

    private static void deleteRecursively(java.nio.file.Path dir) throws java.io.IOException {
        try (java.util.stream.Stream<java.nio.file.Path> all = Files.walk(dir)) {
            for (java.nio.file.Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
