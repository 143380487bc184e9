package io.github.s3tiered.inspector;

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

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

import static io.github.s3tiered.inspector.ListingGapsFileSystem.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Listings that leave out objects that exist (as S3Proxy's filesystem backend does while other
 * objects of the prefix are written or deleted, even reporting a whole prefix empty) must not make
 * the inspector report a present file missing, nor a referenced file an orphan. A direct status
 * call (one HEAD on S3) decides, and only for what the listing does not prove.
 */
class ListingGapsTest {

    private static final long HOUR = 3_600_000L;

    @TempDir
    java.nio.file.Path base;

    java.nio.file.Path jobDir;

    private final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    @BeforeEach
    void setUp() throws Exception {
        jobDir = Files.createDirectories(base.resolve("0123456789abcdef0123456789abcdef"));
        ListingGapsFileSystem.reset();
    }

    @AfterEach
    void tearDown() {
        ListingGapsFileSystem.reset();
    }

    // ------------------------------------------------------------------ validation

    @Test
    void aFileTheListingLeavesOutIsConfirmedByOneHeadAndTheCheckpointIsRestorable() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1", "sst-2", "sst-3");
        ListingGapsFileSystem.hide(jobDir.resolve("shared/sst-2"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.problems()).isEmpty();
        // two listings (chk-1, shared/), one read of _metadata, and one HEAD for the file the listing lacked
        assertThat(v.requests()).isEqualTo(new RequestCount(2, 1, 1, 0, 0));
    }

    @Test
    void aFileThatIsReallyMissingIsStillMissing() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1", "sst-2", "sst-3");
        ListingGapsFileSystem.hide(jobDir.resolve("shared/sst-2"));
        Files.delete(jobDir.resolve("shared/sst-3"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).isEqualTo(Verdict.MISSING_FILES);
        assertThat(v.outcome()).isEqualTo(Outcome.NOT_RESTORABLE);
        assertThat(v.filesConcerned()).extracting(f -> new Path(f).getName()).containsExactly("sst-3");
        assertThat(v.requests().getFileStatus()).isEqualTo(2);
    }

    @Test
    void listingsThatShowNothingAreNoProofOfAnything() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1", "sst-2");
        ListingGapsFileSystem.listEmpty(jobDir.resolve("chk-1"));
        ListingGapsFileSystem.listEmpty(jobDir.resolve("shared"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        // _metadata, three shared files, MANIFEST, CURRENT and the meta file: each confirmed by a HEAD
        assertThat(v.requests().getFileStatus()).isEqualTo(7);
        assertThat(v.metadataBytes()).isEqualTo(Files.size(jobDir.resolve("chk-1/_metadata")));
    }

    @Test
    void aSizeOnlyTheListingGetsWrongIsCheckedByAHeadAndARealOneStaysAMismatch() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1", "sst-2");
        ListingGapsFileSystem.listWithSize(jobDir.resolve("shared/sst-1"), 999);
        Files.write(jobDir.resolve("shared/sst-2"), new byte[3]);

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).isEqualTo(Verdict.SIZE_MISMATCH);
        assertThat(v.filesConcerned()).extracting(f -> new Path(f).getName()).containsExactly("sst-2");
        assertThat(v.requests().getFileStatus()).isEqualTo(2);
    }

    @Test
    void aHeadTheStorageDoesNotAnswerIsUnknownNotMissing() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1");
        ListingGapsFileSystem.hide(jobDir.resolve("shared/sst-1"));
        ListingGapsFileSystem.failStatus(jobDir.resolve("shared/sst-1"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.outcome()).isEqualTo(Outcome.UNKNOWN);
        assertThat(v.reason()).contains("503 Slow Down");
    }

    @Test
    void theRestorePointIsNotSkippedForFilesItsListingLeftOut() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1");
        writeCheckpoint(2, "sst-0", "sst-1", "sst-2");
        ListingGapsFileSystem.hide(jobDir.resolve("shared/sst-2"));
        ListingGapsFileSystem.hide(jobDir.resolve("chk-2/_metadata"));

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);

        assertThat(rp.path()).map(Path::getName).contains("chk-2");
        assertThat(rp.skipped()).isEmpty();
    }

    // ------------------------------------------------------------------ relative handles resolved by Flink's reader

    /**
     * Flink's reader resolves relative state handles (every exclusive file without entropy, every
     * savepoint's file) by looking the checkpoint up again on the storage. A lookup that S3 does not
     * answer (403 where GetObject is granted only on object patterns, throttling, a timeout) is no
     * damage of the metadata: UNKNOWN, and the restore point is not moved to an older checkpoint.
     */
    @Test
    void aLookupOfRelativeHandlesThatTheStorageDoesNotAnswerIsUnknownNotCorruptMetadata() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1");
        writeCheckpointWithRelativeFiles(2, "sst-0", "sst-1");
        assertThat(inspector.validate(path(jobDir.resolve("chk-2")), false).verdict()).isEqualTo(Verdict.RESTORABLE);
        ListingGapsFileSystem.failStatus(jobDir.resolve("chk-2/_metadata"));
        ListingGapsFileSystem.failStatus(jobDir.resolve("chk-2"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-2")), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.reason()).contains("503 Slow Down").contains("chk-2");

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);
        assertThat(rp.path()).as(rp.explanation()).isEmpty();
        assertThat(rp.outcome()).isEqualTo(Outcome.UNKNOWN);
        assertThat(rp.explanation()).contains("chk-2");
    }

    /** chk-{id} as {@link #writeCheckpoint}, its private files and meta file referenced relative to it, as Flink writes them. */
    private void writeCheckpointWithRelativeFiles(long id, String... sharedFiles) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-" + id));
        java.nio.file.Path shared = Files.createDirectories(jobDir.resolve("shared"));
        List<HandleAndLocalPath> sharedState = new ArrayList<>();
        for (String name : sharedFiles) {
            sharedState.add(HandleAndLocalPath.of(file(shared.resolve(name), 10 + name.length()), name + ".sst"));
        }
        List<HandleAndLocalPath> privateState = List.of(
                HandleAndLocalPath.of(relative(chk, "manifest", 33), "MANIFEST-000004"),
                HandleAndLocalPath.of(relative(chk, "current", 16), "CURRENT"));
        IncrementalRemoteKeyedStateHandle keyed = new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(),
                KeyGroupRange.of(0, 127), id, sharedState, privateState, relative(chk, "meta", 21));
        OperatorState op = new OperatorState("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setManagedKeyedState(keyed).build());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
    }

    private static org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle relative(java.nio.file.Path dir,
            String name, int size) throws Exception {
        Files.write(dir.resolve(name), new byte[size]);
        return new org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle(path(dir.resolve(name)), name, size);
    }

    // ------------------------------------------------------------------ shared/ listed while _metadata is read

    @Test
    void sharedIsListedWhileTheMetadataIsReadAndOnlyOnce() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1", "sst-2");
        // a _metadata read waits up to 10 s for the listing of shared/ to start: a validator that
        // lists shared/ only after parsing the metadata leaves it waiting, and is caught here
        ListingGapsFileSystem.expectListingBeforeMetadataRead(jobDir.resolve("shared"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(ListingGapsFileSystem.metadataReadBeforeListing()).isFalse();
        assertThat(v.requests()).isEqualTo(new RequestCount(2, 0, 1, 0, 0));
    }

    @Test
    void aSharedListingThatFailsAheadIsNotSentTwiceAndItsFilesAreUnknown() throws Exception {
        writeCheckpoint(1, "sst-0", "sst-1");
        ListingGapsFileSystem.failListing(jobDir.resolve("shared"));

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.reason()).contains("503 Slow Down");
        assertThat(v.filesConcerned()).extracting(f -> new Path(f).getName()).containsExactlyInAnyOrder("sst-0", "sst-1");
        assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("shared"))).isEqualTo(1);
        assertThat(v.requests().listStatus()).isEqualTo(2);
    }

    @Test
    void aCheckpointWithoutSharedFilesPaysOneListingOfShared() throws Exception {
        writeCheckpoint(1); // private files only, as a full snapshot's
        Files.write(jobDir.resolve("shared/of-another-checkpoint"), new byte[5]);

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.requests()).isEqualTo(new RequestCount(2, 0, 1, 0, 0));
    }

    @Test
    void aCheckpointWithoutMetadataDoesNotListShared() throws Exception {
        writeCheckpoint(1, "sst-0");
        Files.delete(jobDir.resolve("chk-1/_metadata")); // in progress or aborted
        ListingGapsFileSystem.failListing(jobDir.resolve("shared")); // a listing of shared/ would show as an attempt

        Validation v = inspector.validate(path(jobDir.resolve("chk-1")), false);

        assertThat(v.verdict()).isEqualTo(Verdict.NO_METADATA);
        assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("shared"))).isZero();
        assertThat(v.requests().listStatus()).isEqualTo(1);
    }

    @Test
    void aSavepointDoesNotListShared() throws Exception {
        writeCheckpoint(1); // self-contained, as a savepoint is: nothing of it in shared/
        Files.move(jobDir.resolve("chk-1"), jobDir.resolve("savepoint-0a1b2c-0123456789ab"));
        ListingGapsFileSystem.failListing(jobDir.resolve("shared")); // a listing of shared/ would show as an attempt

        inspector.validate(path(jobDir.resolve("savepoint-0a1b2c-0123456789ab")), false);

        assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("shared"))).isZero();
    }

    // ------------------------------------------------------------------ orphans

    @Test
    void aDeleteTheStorageRefusesStopsTheDeletionAndReportsWhatWasDeletedBefore() throws Exception {
        writeCheckpoints();
        Files.write(jobDir.resolve("shared/leaked-too"), new byte[100]);
        Files.setLastModifiedTime(jobDir.resolve("shared/leaked-too"), FileTime.fromMillis(System.currentTimeMillis() - 2 * HOUR));
        Orphans listed = inspector.orphans(path(jobDir), OrphanOptions.reportOnly());
        assertThat(listed.orphans()).hasSize(2);
        ListingGapsFileSystem.failDelete(jobDir.resolve("shared/" + listed.orphans().get(1).path().getName()));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deleted()).extracting(Path::getName).containsExactly(listed.orphans().get(0).path().getName());
        assertThat(o.deletionRefused()).contains("deleted 1 of 2 orphans").contains("403 AccessDenied");
    }

    @Test
    void withCompleteListingsOrphansAreFoundWithoutAnyHead() throws Exception {
        writeCheckpoints();
        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));
        assertThat(o.deletionRefused()).isNull();
        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(o.deleted()).hasSize(1);
        assertThat(o.retainedCheckpoints()).hasSize(3);
        assertThat(o.requests().getFileStatus()).as("no HEAD of a file; one of each of chk-4 to chk-6").isEqualTo(3);
    }

    @Test
    void listExitsTwoWhenACheckpointCouldNotBeJudged() throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.failListing(jobDir.resolve("shared"));
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();

        int exit = io.github.s3tiered.inspector.cli.RecoveryInspector.run(new java.io.PrintWriter(out, true),
                new java.io.PrintWriter(err, true), "list", path(jobDir).toString());

        assertThat(exit).as(out + "\n" + err).isEqualTo(2);
        assertThat(out.toString()).contains("chk-3").contains("UNKNOWN").contains("503 Slow Down");
    }

    @Test
    void aPreUploadRecordThatCannotBeReadStopsTheSearch() throws Exception {
        // the record holds the job's checkpoint timeout (3 h here): a checkpoint in progress for 2 h
        // has written files its _metadata does not name yet, older than the minimum age
        writeCheckpoints();
        java.nio.file.Path record = Files.writeString(jobDir.resolve("s3tiered-preupload.json"),
                "{\"schemaVersion\": 1, \"orphanSearchGraceMillis\": 7200000, \"checkpointTimeoutMillis\": 10800000}");
        ListingGapsFileSystem.failReads(record);

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).contains("s3tiered-preupload.json", "503 Slow Down");
        assertThat(o.orphans()).isEmpty();
        assertThat(jobDir.resolve("shared/leaked")).exists();

        // read, it keeps the 2 h old file for the 3 h timeout; with a timeout below its age, it goes
        ListingGapsFileSystem.reset();
        assertThat(inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true)).orphans()).isEmpty();
        Files.writeString(record, "{\"schemaVersion\": 1, \"orphanSearchGraceMillis\": 7200000, \"checkpointTimeoutMillis\": 600000}");
        assertThat(inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true)).deleted())
                .extracting(Path::getName).containsExactly("leaked");
    }

    @Test
    void aMetadataTheListingLeavesOutStopsTheSearch() throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.hide(jobDir.resolve("chk-3/_metadata"));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        // chk-3 is neither a stray directory nor without references, and the listing is proven incomplete
        assertThat(o.retainedCheckpoints()).extracting(Path::getName).contains("chk-3");
        assertThat(o.deletionRefused()).contains("chk-3", "_metadata");
        assertThat(o.orphans()).isEmpty();
        assertThat(o.deleted()).isEmpty();
        assertThat(jobDir.resolve("shared/only-3")).exists();
        assertThat(jobDir.resolve("chk-3/_metadata")).exists();
        assertThat(o.requests().getFileStatus()).as("chk-3's _metadata, then chk-4 to chk-6").isEqualTo(4);
    }

    @Test
    void aCheckpointCompletedDuringTheSearchKeepsItsFiles() throws Exception {
        writeCheckpoints();
        // its _metadata is younger than the search: not a proof of a bad listing, but its references count
        Files.setLastModifiedTime(jobDir.resolve("chk-3/_metadata"), FileTime.fromMillis(System.currentTimeMillis() + HOUR));
        ListingGapsFileSystem.hide(jobDir.resolve("chk-3/_metadata"));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).isNull();
        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(o.retainedCheckpoints()).extracting(Path::getName).contains("chk-3");
        assertThat(jobDir.resolve("shared/only-3")).exists();
        assertThat(jobDir.resolve("chk-3")).exists();
    }

    @Test
    void aCheckpointOnlyASecondListingShowsKeepsItsFiles() throws Exception {
        writeCheckpoints();
        Files.setLastModifiedTime(jobDir.resolve("chk-3/_metadata"), FileTime.fromMillis(System.currentTimeMillis() + HOUR));
        ListingGapsFileSystem.hideOnce(jobDir.resolve("chk-3"));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).isNull();
        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(jobDir.resolve("shared/only-3")).exists();
    }

    @Test
    void aCheckpointNoListingShowsBetweenRetainedOnesStopsTheSearch() throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.hide(jobDir.resolve("chk-2"));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).contains("chk-2");
        assertThat(o.orphans()).isEmpty();
        assertThat(o.deleted()).isEmpty();
        assertThat(jobDir.resolve("shared/only-2")).exists();
        // the one id between chk-1 and chk-3, and three beyond chk-3
        assertThat(o.requests().getFileStatus()).isEqualTo(4);
    }

    @Test
    void aCheckpointOnlyTheFirstListingLeftOutStopsTheSearch() throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.hideOnce(jobDir.resolve("chk-3")); // the newest: no gap between retained ones shows it

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).contains("chk-3");
        assertThat(o.orphans()).isEmpty();
        assertThat(o.deleted()).isEmpty();
        assertThat(jobDir.resolve("shared/only-3")).exists();
    }

    @Test
    void anOrphanIsOlderThanTheMinimumAgeByAMinuteForAClockAheadOfS3s() throws Exception {
        writeCheckpoints();
        java.nio.file.Path edge = jobDir.resolve("shared/at-the-edge");
        Files.write(edge, new byte[10]);
        Files.setLastModifiedTime(edge, FileTime.fromMillis(System.currentTimeMillis() - HOUR - 30_000));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(edge).exists();
    }

    @Test
    void theNewestOrOldestCheckpointNoListingShowsStopsTheSearch() throws Exception {
        for (String hidden : List.of("chk-3", "chk-1")) {
            ListingGapsFileSystem.reset();
            writeCheckpoints();
            ListingGapsFileSystem.hide(jobDir.resolve(hidden)); // neither listing shows it, none between others

            Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

            assertThat(o.deletionRefused()).as(hidden).contains(hidden);
            assertThat(o.deleted()).isEmpty();
            assertThat(jobDir.resolve("shared/only-" + hidden.substring(4))).exists();
        }
    }

    @Test
    void aCheckpointCompletingDuringTheSearchBeyondTheNewestKeepsItsFilesWithoutARefusal() throws Exception {
        writeCheckpoints();
        writeCheckpoint(4, "sst-0", "only-4"); // a live job's next checkpoint, completed while the search runs
        Files.setLastModifiedTime(jobDir.resolve("shared/only-4"), FileTime.fromMillis(System.currentTimeMillis() - 2 * HOUR));
        Files.setLastModifiedTime(jobDir.resolve("chk-4/_metadata"), FileTime.fromMillis(System.currentTimeMillis() + 60_000));
        ListingGapsFileSystem.hide(jobDir.resolve("chk-4")); // too late for the listings

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).as("no listing proven incomplete").isNull();
        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(jobDir.resolve("shared/only-4")).exists();
    }

    @Test
    void aJobDirectoryListedAsEmptyStopsTheSearch() throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.listEmpty(jobDir);

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).contains("shared/");
        assertThat(o.orphans()).isEmpty();
        assertThat(o.deleted()).isEmpty();
        try (Stream<java.nio.file.Path> files = Files.list(jobDir.resolve("shared"))) {
            assertThat(files.count()).isEqualTo(6);
        }
    }

    @Test
    void aCheckpointThatCompletesWhileTheOneBeforeIsReadKeepsTheFilesItReuses() throws Exception {
        writeCheckpoints();
        Files.createDirectories(jobDir.resolve("chk-4")); // in progress when the search starts
        // the search reads the newest first: chk-4 has no _metadata yet; then, before chk-3 is read,
        // chk-4 completes (reusing only-3) and Flink subsumes chk-3
        ListingGapsFileSystem.onListing(jobDir.resolve("chk-3"), () -> {
            try {
                writeCheckpoint(4, "sst-0", "sst-1", "only-3");
                // younger than the search's start, whatever the file system's time granularity
                Files.setLastModifiedTime(jobDir.resolve("chk-4/_metadata"),
                        FileTime.fromMillis(System.currentTimeMillis() + HOUR));
                Files.delete(jobDir.resolve("chk-3/_metadata"));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.deletionRefused()).isNull();
        assertThat(jobDir.resolve("shared/only-3")).as("chk-4 references it").exists();
        assertThat(o.orphans()).extracting(f -> f.path().getName()).contains("leaked").doesNotContain("only-3");
        assertThat(o.retainedCheckpoints()).extracting(Path::getName).contains("chk-4");
    }

    @Test
    void aSiblingsCheckpointSubsumedWhileItIsReadStillKeepsTheFilesItsSuccessorReuses() throws Exception {
        // this job stopped; a sibling job restored from it in CLAIM mode reuses its shared files and
        // has subsumed its checkpoints
        writeCheckpoints();
        java.nio.file.Path sibling = Files.createDirectories(base.resolve("fedcba9876543210fedcba9876543210"));
        writeCheckpoint(sibling, 5, false, "sst-0", "only-3");
        for (int id = 1; id <= 3; id++) {
            deleteTree(jobDir.resolve("chk-" + id));
        }
        long old = System.currentTimeMillis() - 2 * HOUR;
        try (Stream<java.nio.file.Path> all = Files.walk(base)) {
            for (java.nio.file.Path p : all.toList()) {
                Files.setLastModifiedTime(p, FileTime.fromMillis(old));
            }
        }
        // as the search reads the sibling's chk-5, the sibling completes chk-6 (reusing the same
        // files) and Flink subsumes chk-5: the sibling's listing never showed chk-6
        ListingGapsFileSystem.onListing(sibling.resolve("chk-5"), () -> {
            try {
                writeCheckpoint(sibling, 6, false, "sst-0", "only-3");
                Files.delete(sibling.resolve("chk-5/_metadata"));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(jobDir.resolve("shared/sst-0")).as("the sibling's chk-6 references it").exists();
        assertThat(jobDir.resolve("shared/only-3")).as("the sibling's chk-6 references it").exists();
        assertThat(o.retainedCheckpoints()).extracting(Path::getName).contains("chk-6");
        assertThat(o.orphans()).extracting(f -> f.path().getName()).contains("leaked", "only-1").doesNotContain("sst-0", "only-3");
    }

    @Test
    void aStrayCheckpointDirectoryLosesOnlyWhatTheSearchSawInIt() throws Exception {
        writeCheckpoints();
        java.nio.file.Path stray = Files.createDirectories(jobDir.resolve("chk-7"));
        Files.write(stray.resolve("aborted"), new byte[10]);
        long old = System.currentTimeMillis() - 2 * HOUR;
        Files.setLastModifiedTime(stray.resolve("aborted"), FileTime.fromMillis(old));
        Files.setLastModifiedTime(stray, FileTime.fromMillis(old));
        // after chk-7 was listed, a run of the same job id restored from an older checkpoint (its
        // ids count on from there) writes chk-7 anew
        ListingGapsFileSystem.onListing(jobDir.resolve("shared"), () -> {
            try {
                Files.write(stray.resolve("written-anew"), new byte[10]);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).contains("chk-7");
        assertThat(stray.resolve("aborted")).doesNotExist();
        assertThat(stray.resolve("written-anew")).exists();
        assertThat(o.deleted()).extracting(Path::getName).contains("leaked").doesNotContain("chk-7");
    }

    @Test
    void aFileTheMetadataNamesThroughAnotherSchemeIsStillReferenced() throws Exception {
        // _metadata names files as Flink was given them (hdfs:///x, s3a://b/x); the listing, and
        // the operator, may name the same files otherwise (hdfs://ns1/x, s3://b/x)
        writeCheckpoints();
        writeCheckpoint(3, true, "sst-0", "sst-1", "only-3");
        long old = System.currentTimeMillis() - 2 * HOUR;
        Files.setLastModifiedTime(jobDir.resolve("chk-3/_metadata"), FileTime.fromMillis(old));

        Orphans o = inspector.orphans(path(jobDir), new OrphanOptions(Duration.ofHours(1), true, true));

        assertThat(o.orphans()).extracting(f -> f.path().getName()).containsExactly("leaked");
        assertThat(jobDir.resolve("shared/only-3")).exists();
    }

    @Test
    void aSavepointThatCannotBeReadStopsTheChoiceOfAnOlderCheckpoint() throws Exception {
        writeCheckpoints();
        // a savepoint (its id, unknown until its _metadata is read, may be the newest)
        java.nio.file.Path savepoint = Files.createDirectories(jobDir.resolve("savepoint-0123ab-456789abcdef"));
        Files.copy(jobDir.resolve("chk-3/_metadata"), savepoint.resolve("_metadata"));
        ListingGapsFileSystem.failListing(savepoint);

        RestorePoint rp = inspector.restorePoint(path(jobDir), new RestorePointOptions(true, false, null));

        assertThat(rp.path()).as(rp.explanation()).isEmpty();
        assertThat(rp.outcome()).isEqualTo(Outcome.UNKNOWN);
        assertThat(rp.undecided()).isPresent();
    }

    @Test
    void aFallbackFromANamedCheckpointGoesBackNeverForward() throws Exception {
        writeCheckpoints();

        RestorePoint rp = inspector.restorePoint(path(jobDir), new RestorePointOptions(false, false, null).below(3));

        assertThat(rp.path()).hasValueSatisfying(p -> assertThat(p.getName()).isEqualTo("chk-2"));
    }

    @Test
    void aCheckpointSubsumedDuringTheSearchSendsItToTheNewerOneNotAnOlder() throws Exception {
        writeCheckpoints();
        // the listing showed chk-1..3; before chk-3 is read the running job completes chk-4 and
        // subsumes the others (retaining one)
        ListingGapsFileSystem.onListing(jobDir.resolve("chk-3"), () -> {
            try {
                writeCheckpoint(4, "sst-0", "sst-1", "only-4");
                for (int id = 1; id <= 3; id++) {
                    deleteTree(jobDir.resolve("chk-" + id));
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);

        assertThat(rp.path()).as(rp.explanation()).map(Path::getName).contains("chk-4");
        assertThat(rp.skipped()).isEmpty();
    }

    /**
     * A running job removes a subsumed checkpoint: Flink's cleaner (parallel by default) deletes its
     * {@code _metadata} and its files at once (without the parallel mode, the {@code _metadata}
     * first). chk-3 is listed, then read without its {@code _metadata} or without a private file,
     * while chk-4 has completed. The search starts over and finds chk-4; it never falls back past it
     * to chk-2.
     */
    @ParameterizedTest
    @ValueSource(strings = {"_metadata", "manifest"})
    void aCheckpointARunningJobIsRemovingSendsTheSearchToTheNewerOne(String removedFirst) throws Exception {
        writeCheckpoints();
        ListingGapsFileSystem.onListing(jobDir.resolve("chk-3"), () -> {
            try {
                writeCheckpoint(4, "sst-0", "sst-1", "only-4");
                Files.delete(jobDir.resolve("chk-3").resolve(removedFirst));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);

        assertThat(rp.path()).as(rp.explanation()).map(Path::getName).contains("chk-4");
    }

    @Test
    void aBrokenCheckpointOfAStoppedJobIsSkippedAfterOneMoreListing() throws Exception {
        writeCheckpoints();
        Files.delete(jobDir.resolve("chk-3/manifest")); // lost; nothing newer appears

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);

        assertThat(rp.path()).map(Path::getName).contains("chk-2");
        assertThat(rp.skipped()).extracting(v -> v.path().getName()).containsExactly("chk-3");
    }

    @Test
    void aCheckpointInProgressAtTheTopIsSkippedWithoutAnotherStart() throws Exception {
        writeCheckpoints();
        Files.createDirectories(jobDir.resolve("chk-4")); // no _metadata yet, nothing newer appears

        RestorePoint rp = inspector.restorePoint(path(jobDir), false);

        assertThat(rp.path()).map(Path::getName).contains("chk-3");
        assertThat(rp.skipped()).extracting(v -> v.path().getName()).containsExactly("chk-4");
    }

    @Test
    void checkpointsThatKeepDisappearingFailTheSearchNamingTheJobDirectory() throws Exception {
        writeCheckpoints();
        subsumeWhenListed(3);

        assertThatThrownBy(() -> inspector.restorePoint(path(jobDir), false))
                .isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("kept disappearing")
                .hasMessageContaining(jobDir.getFileName().toString());
    }

    @Test
    void validatingAJobDirectoryReportsACheckpointRemovedMeanwhileAsGone() throws Exception {
        writeCheckpoints();
        JobDirectory job = inspector.discover(path(jobDir)).get(0);
        ListingGapsFileSystem.onListing(jobDir.resolve("chk-3"), () -> {
            try {
                deleteTree(jobDir.resolve("chk-2"));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        List<Validation> all = inspector.validateAll(job, false);

        assertThat(all).extracting(v -> v.path().getName()).containsExactly("chk-3", "chk-2", "chk-1");
        assertThat(all.get(0).restorable()).isTrue();
        assertThat(all.get(1).outcome()).isEqualTo(Outcome.NOT_RESTORABLE);
        assertThat(all.get(1).verdict()).isEqualTo(Verdict.NO_METADATA);
        assertThat(all.get(1).reason()).contains("no longer exists");
        assertThat(all.get(2).restorable()).isTrue();
    }

    @Test
    void validatingAJobDirectoryStopsAskingAStorageThatStoppedAnsweringAfterTwoCheckpoints() throws Exception {
        for (int id = 1; id <= 5; id++) {
            writeCheckpoint(id, "sst-0", "only-" + id);
        }
        JobDirectory job = inspector.discover(path(jobDir)).get(0);
        for (int id = 1; id <= 5; id++) {
            ListingGapsFileSystem.failListing(jobDir.resolve("chk-" + id)); // S3 stalls after the job directory's listing
        }

        List<Validation> all = inspector.validateAll(job, false);

        assertThat(all).extracting(v -> v.path().getName()).containsExactly("chk-5", "chk-4", "chk-3", "chk-2", "chk-1");
        assertThat(all).extracting(Validation::verdict).containsOnly(Verdict.UNKNOWN);
        assertThat(all.subList(2, 5)).allSatisfy(v -> assertThat(v.reason())
                .contains("not validated: the storage could not be read for the 2 checkpoints before it"));
        assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("chk-5"))).isPositive();
        assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("chk-4"))).isPositive();
        for (int id = 1; id <= 3; id++) {
            assertThat(ListingGapsFileSystem.listingAttempts(jobDir.resolve("chk-" + id))).as("chk-" + id).isZero();
        }
    }

    @Test
    void aCheckpointTheStorageAnsweredForCountsTheUnansweredOnesAgainFromZero() throws Exception {
        for (int id = 1; id <= 4; id++) {
            writeCheckpoint(id, "sst-0", "only-" + id);
        }
        JobDirectory job = inspector.discover(path(jobDir)).get(0);
        ListingGapsFileSystem.failListing(jobDir.resolve("chk-4"));
        ListingGapsFileSystem.failListing(jobDir.resolve("chk-2"));
        ListingGapsFileSystem.failListing(jobDir.resolve("chk-1"));

        List<Validation> all = inspector.validateAll(job, false);

        assertThat(all).extracting(Validation::verdict)
                .containsExactly(Verdict.UNKNOWN, Verdict.RESTORABLE, Verdict.UNKNOWN, Verdict.UNKNOWN);
        assertThat(all).noneSatisfy(v -> assertThat(v.reason()).contains("not validated"));
    }

    /** When chk-{id} is listed, the job completes the next one and removes every older one. */
    private void subsumeWhenListed(int id) {
        ListingGapsFileSystem.onListing(jobDir.resolve("chk-" + id), () -> {
            try {
                writeCheckpoint(id + 1, "sst-0", "sst-1");
                for (int older = 1; older <= id; older++) {
                    deleteTree(jobDir.resolve("chk-" + older));
                }
                subsumeWhenListed(id + 1);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private static void deleteTree(java.nio.file.Path dir) throws Exception {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<java.nio.file.Path> all = Files.walk(dir)) {
            for (java.nio.file.Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /**
     * A whole uncompressed changelog file, listed with another size: its flag says uncompressed,
     * and a status call (one HEAD) gives its real size before it is called a mismatch. A status
     * call that fails proves nothing.
     */
    @Test
    void aChangelogFileListedWithAnotherSizeIsConfirmedByAStatusCall() throws Exception {
        java.nio.file.Path chk = Files.createDirectories(jobDir.resolve("chk-1"));
        java.nio.file.Path file = Files.createDirectories(base.resolve("changelog")).resolve("changes");
        Files.write(file, new byte[21]); // the flag (0: uncompressed), then the 20 bytes recorded
        ChangelogCheckpoints.write(chk, List.of(
                org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(path(file), 20), 0L)));
        ListingGapsFileSystem.listWithSize(file, 7);

        Validation v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(v.requests().getFileStatus()).as(v.requests().toString()).isEqualTo(1);

        ListingGapsFileSystem.failStatus(file);
        v = inspector.validate(path(chk), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.filesConcerned()).containsExactly(path(file).toString());
    }

    // ------------------------------------------------------------------ checkpoints

    /**
     * chk-1, chk-2, chk-3 sharing sst-0 and sst-1, each with a shared file only it references
     * (only-N), and shared/leaked that none references; everything two hours old.
     */
    private void writeCheckpoints() throws Exception {
        for (int id = 1; id <= 3; id++) {
            writeCheckpoint(id, "sst-0", "sst-1", "only-" + id);
        }
        Files.write(jobDir.resolve("shared/leaked"), new byte[100]);
        long old = System.currentTimeMillis() - 2 * HOUR;
        try (Stream<java.nio.file.Path> all = Files.walk(jobDir)) {
            for (java.nio.file.Path p : all.toList()) {
                Files.setLastModifiedTime(p, FileTime.fromMillis(old));
            }
        }
    }

    /** chk-{id} with private files (MANIFEST, CURRENT), a meta file and the named shared files. */
    private void writeCheckpoint(long id, String... sharedFiles) throws Exception {
        writeCheckpoint(id, false, sharedFiles);
    }

    /** With {@code fileScheme}, the shared files are named {@code file:/...} instead of the listing's scheme. */
    private void writeCheckpoint(long id, boolean fileScheme, String... sharedFiles) throws Exception {
        writeCheckpoint(jobDir, id, fileScheme, sharedFiles);
    }

    /** In {@code dir}, referring to shared files of this test's job directory ({@link #jobDir}). */
    private void writeCheckpoint(java.nio.file.Path dir, long id, boolean fileScheme, String... sharedFiles) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("chk-" + id));
        java.nio.file.Path shared = Files.createDirectories(jobDir.resolve("shared"));
        List<HandleAndLocalPath> sharedState = new ArrayList<>();
        for (String name : sharedFiles) {
            FileStateHandle f = file(shared.resolve(name), 10 + name.length());
            if (fileScheme) {
                f = new FileStateHandle(new Path("file:" + shared.resolve(name).toAbsolutePath()), f.getStateSize());
            }
            sharedState.add(HandleAndLocalPath.of(f, name + ".sst"));
        }
        List<HandleAndLocalPath> privateState = List.of(
                HandleAndLocalPath.of(file(chk.resolve("manifest"), 33), "MANIFEST-000004"),
                HandleAndLocalPath.of(file(chk.resolve("current"), 16), "CURRENT"));
        IncrementalRemoteKeyedStateHandle keyed = new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(),
                KeyGroupRange.of(0, 127), id, sharedState, privateState, file(chk.resolve("meta"), 21));
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
}
