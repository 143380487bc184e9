package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.bridge.BridgeContract;

import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * The JobManager's writing of a checkpoint's {@code _metadata} on s3tiered, with verification off:
 * no {@code exists()} first, and the check that no file is there made by one HEAD when the
 * checkpoint starts ({@link MetadataPrecheck}). The {@code s3tiered} scheme is served here by the
 * local file system with its calls recorded (its paths are local paths), registered as a plugin
 * would be, answering the bridge's HEAD as the plugin does.
 */
class MetadataWritingLocationTest {

    @TempDir
    java.nio.file.Path root;

    /** The recording local file system, with the plugin's bridge HEAD: found, NOT_FOUND, or failed. */
    static final class BridgedFileSystem extends MetadataFileOutputStreamTest.RecordingFileSystem
            implements BiFunction<String, Map<String, Object>, Map<String, Object>> {
        volatile boolean failHead;
        /** When set, a HEAD answers only once it is counted down. */
        volatile CountDownLatch headMayAnswer;
        /** When set, a delete proceeds only once it is counted down. */
        volatile CountDownLatch deleteMayProceed;
        final List<String> deletingThreads = Collections.synchronizedList(new java.util.ArrayList<>());
        volatile boolean failDelete;
        /** When set, writing the pre-upload grace record fails (a throttling or refusing S3). */
        volatile boolean failGraceRecord;
        /** When set, writing the pre-upload grace record begins only once it is counted down. */
        volatile CountDownLatch graceRecordMayBegin;
        /**
         * When set, a {@code _metadata} is not found by a status call, as on S3, where the plugin's
         * stream stages it and puts it at close (this local stand-in writes it as it goes).
         */
        volatile boolean metadataOnlyOnceClosed;

        private final ThreadLocal<Boolean> listing = ThreadLocal.withInitial(() -> false);

        @Override
        public org.apache.flink.core.fs.FileStatus getFileStatus(Path f) throws IOException {
            if (metadataOnlyOnceClosed && !listing.get() && f.getName().equals("_metadata")) {
                throw new java.io.FileNotFoundException("No such file: " + f);
            }
            return super.getFileStatus(f);
        }

        @Override
        public org.apache.flink.core.fs.FileStatus[] listStatus(Path f) throws IOException {
            listing.set(true); // the local file system's listing asks each entry's status
            try {
                org.apache.flink.core.fs.FileStatus[] all = super.listStatus(f);
                return !metadataOnlyOnceClosed || all == null ? all : java.util.Arrays.stream(all)
                        .filter(s -> !s.getPath().getName().equals("_metadata")).toArray(org.apache.flink.core.fs.FileStatus[]::new);
            } finally {
                listing.set(false);
            }
        }

        @Override
        public org.apache.flink.core.fs.FSDataOutputStream create(Path filePath, WriteMode overwrite) throws IOException {
            CountDownLatch mayBegin = graceRecordMayBegin;
            if (mayBegin != null && filePath.getName().equals(PreUploadGraceFile.NAME)) {
                try {
                    mayBegin.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted");
                }
            }
            if (failGraceRecord && filePath.getName().equals(PreUploadGraceFile.NAME)) {
                record("create " + filePath.getName() + " " + overwrite + " failed");
                throw new IOException("PutObject of " + filePath + " failed: HTTP 503 SlowDown");
            }
            return super.create(filePath, overwrite);
        }

        @Override
        public boolean delete(Path f, boolean recursive) throws IOException {
            deletingThreads.add(Thread.currentThread().getName());
            if (failDelete) {
                throw new IOException("DeleteObjects of " + f + " failed: HTTP 500");
            }
            CountDownLatch latch = deleteMayProceed;
            try {
                if (latch != null && !latch.await(10, TimeUnit.SECONDS)) {
                    throw new IOException("the delete was never let proceed");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            return super.delete(f, recursive);
        }

        @Override
        public URI getUri() {
            return URI.create("s3tiered://bucket/");
        }

        @Override
        public Map<String, Object> apply(String operation, Map<String, Object> args) {
            assertThat(operation).isEqualTo(BridgeContract.RECORDED_CHECKSUM);
            Path path = new Path((String) args.get(BridgeContract.PATH));
            record("head " + path.getName());
            try {
                CountDownLatch latch = headMayAnswer;
                if (latch != null && !latch.await(10, TimeUnit.SECONDS)) {
                    throw new AssertionError("the HEAD was never let answer");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Map<String, Object> answer = new HashMap<>();
            if (failHead) {
                answer.put(BridgeContract.ERROR, BridgeContract.ErrorCode.UNREADABLE.name());
                answer.put(BridgeContract.ERROR_MESSAGE, "HEAD of " + path + " failed: 503 SlowDown");
            } else if (!pathToFile(path).exists()) {
                answer.put(BridgeContract.ERROR, BridgeContract.ErrorCode.NOT_FOUND.name());
                answer.put(BridgeContract.ERROR_MESSAGE, "No such file: " + path);
            } else {
                answer.put(BridgeContract.STALE_COPY_DROPPED, false);
            }
            return answer;
        }
    }

    private final BridgedFileSystem fs = new BridgedFileSystem();
    private final JobID job = new JobID();
    private Path checkpoints;

    @BeforeEach
    void serveTheS3TieredSchemeLocally() {
        checkpoints = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/checkpoints");
        S3TieredSchemeForTests.serve(fs);
    }

    @AfterEach
    void restoreTheFileSystems() {
        S3TieredSchemeForTests.reset();
    }

    private FsCheckpointStorageAccess flinks() throws IOException {
        return new FsCheckpointStorageAccess(checkpoints, null, true, job, 1024, 4096);
    }

    /**
     * The storage with verification off (pre-upload on, its window 10 min), started as the
     * checkpoint coordinator starts it: its grace record for the inspector written.
     */
    private TieredCheckpointStorageAccess storage() throws Exception {
        TieredCheckpointStorageAccess storage = unstartedStorage();
        storage.initializeBaseLocationsForCheckpoint();
        assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).as("the grace record written").isTrue();
        fs.calls.clear();
        return storage;
    }

    private TieredCheckpointStorageAccess unstartedStorage() throws IOException {
        return new TieredCheckpointStorageAccess(flinks(), new RecoveryGuard(false, false, false, getClass().getClassLoader()),
                null, new Path(checkpoints, job.toString()), new TieredCheckpointStorageAccess.StreamSettings(1024, 4096,
                        new io.github.s3tiered.preupload.PreUploadSettings(true, 600_000, 1, 1, 1024, 600_000)));
    }

    private java.nio.file.Path localGraceRecord() {
        return root.resolve("checkpoints/" + job + "/" + PreUploadGraceFile.NAME);
    }

    /**
     * A record an earlier run under the same job id left (a shorter grace) stays in place while this
     * run's cannot be written, and the inspector's {@code orphans --delete} would go by it: so no
     * checkpoint reuses an upload made ahead of it until this run's record is durable. The record
     * is written again with each checkpoint while it fails, and the window is sent once it is in.
     */
    @Test
    void reuseIsHeldBackUntilThisRunsGraceRecordIsDurable() throws Exception {
        Files.createDirectories(localGraceRecord().getParent());
        Files.writeString(localGraceRecord(), "{\"schemaVersion\": 1, \"enabled\": true, \"reuseWindowMillis\": 60000,"
                + " \"orphanSearchGraceMillis\": 1000, \"checkpointTimeoutMillis\": 1000}");
        fs.failGraceRecord = true;
        TieredCheckpointStorageAccess storage = unstartedStorage();
        storage.initializeBaseLocationsForCheckpoint();
        assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).isTrue();

        CheckpointStorageLocation first = storage.initializeLocationForCheckpoint(7);
        assertThat(LocationReferences.decode(first.getLocationReference()).reuseWindowMillis())
                .as("held back: the earlier run's record is still there").isEqualTo(LocationReferences.REUSE_HELD);
        assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(fs.calls.stream().filter(c -> c.startsWith("create " + PreUploadGraceFile.NAME)))
                .as("written when the coordinator started, and again with the checkpoint")
                .containsExactly("create " + PreUploadGraceFile.NAME + " OVERWRITE failed",
                        "create " + PreUploadGraceFile.NAME + " OVERWRITE failed");
        assertThat(Files.readString(localGraceRecord())).contains("\"orphanSearchGraceMillis\": 1000");

        fs.failGraceRecord = false; // S3 answers again
        storage.initializeLocationForCheckpoint(8); // writes it again
        assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(Files.readString(localGraceRecord())).contains("\"reuseWindowMillis\": 600000")
                .contains("\"orphanSearchGraceMillis\": 1800000");
        fs.calls.clear();
        CheckpointStorageLocation later = storage.initializeLocationForCheckpoint(9);
        assertThat(LocationReferences.decode(later.getLocationReference()).reuseWindowMillis()).isEqualTo(600_000);
        assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(fs.calls).as("not written again once durable").noneMatch(c -> c.contains(PreUploadGraceFile.NAME));
    }

    @Test
    void aGraceRecordWriteThatDoesNotEndIsWarnedAboutOnceAndReuseStaysHeldBack() throws Exception {
        CountDownLatch s3Answers = new CountDownLatch(1);
        fs.graceRecordMayBegin = s3Answers; // a write with no request timeout under the storage
        try {
            TieredCheckpointStorageAccess storage = unstartedStorage();
            List<Long> sent = new java.util.ArrayList<>();
            List<String> early = io.github.s3tiered.testing.CapturedLogs.during(TieredCheckpointStorageAccess.class, () -> {
                storage.initializeBaseLocationsForCheckpoint();
                sent.add(LocationReferences.decode(storage.initializeLocationForCheckpoint(6).getLocationReference())
                        .reuseWindowMillis());
            });
            assertThat(early).as("within a minute of its start").isEmpty();

            storage.slowGraceRecordWriteNanos = -1; // as if a minute had passed
            List<String> logs = io.github.s3tiered.testing.CapturedLogs.during(TieredCheckpointStorageAccess.class, () -> {
                for (long id = 7; id <= 9; id++) {
                    sent.add(LocationReferences.decode(storage.initializeLocationForCheckpoint(id).getLocationReference())
                            .reuseWindowMillis());
                }
            });
            assertThat(sent).hasSize(4).containsOnly(LocationReferences.REUSE_HELD);
            assertThat(logs).as("once for the write, not with each checkpoint").singleElement().asString()
                    .startsWith("WARN Writing " + new Path(checkpoints, job + "/" + PreUploadGraceFile.NAME) + " has not ended in")
                    .contains("no checkpoint reuses");

            s3Answers.countDown();
            assertThat(PreUploadGraceFile.awaitIdle(Duration.ofSeconds(10))).isTrue();
            assertThat(LocationReferences.decode(storage.initializeLocationForCheckpoint(10).getLocationReference())
                    .reuseWindowMillis()).isEqualTo(600_000);
        } finally {
            s3Answers.countDown();
        }
    }

    /** The storage with verification on. */
    private TieredCheckpointStorageAccess verifyingStorage() throws IOException {
        return new TieredCheckpointStorageAccess(flinks(), new RecoveryGuard(false, false, false, getClass().getClassLoader()),
                new TieredCheckpointStorageAccess.VerificationSettings(1, false, 0, 0, getClass().getClassLoader()),
                new Path(checkpoints, job.toString()), new TieredCheckpointStorageAccess.StreamSettings(1024, 4096,
                        new io.github.s3tiered.preupload.PreUploadSettings(false, 1, 1, 1, 1024, 600_000)));
    }

    @Test
    void theCoordinatorOfARestartKeepsTheCheckpointAnEarlierOneRestoredFromForItsOrphanRemoval() throws Exception {
        // restored without claim from this job directory's own chk-100 (a job id used again): the
        // adaptive scheduler's restart makes a new coordinator and storage access, which resolves
        // nothing (Flink restores from its checkpoint store), while chk-100 stays retained
        java.nio.file.Path chk100 = Files.createDirectories(root.resolve("checkpoints/" + job + "/chk-100"));
        Files.write(chk100.resolve("_metadata"), new byte[] {1, 2, 3});
        TieredCheckpointStorageAccess first = orphanRemovingStorage();
        first.resolveCheckpoint(new Path(checkpoints, job + "/chk-100").toString());
        assertThat(first.orphanRemovalRestoredFrom()).isNotNull();

        TieredCheckpointStorageAccess afterRestart = orphanRemovingStorage();

        assertThat(afterRestart.orphanRemovalRestoredFrom()).isNotNull();
        assertThat(afterRestart.orphanRemovalRestoredFrom().toString()).endsWith(job + "/chk-100");
        TieredCheckpointStorageAccess ofAnotherJob = new TieredCheckpointStorageAccess(flinks(),
                new RecoveryGuard(false, false, false, getClass().getClassLoader()),
                new TieredCheckpointStorageAccess.VerificationSettings(1, true, 0, 0, getClass().getClassLoader()),
                new Path(checkpoints, new JobID().toString()), new TieredCheckpointStorageAccess.StreamSettings(1024,
                        4096, new io.github.s3tiered.preupload.PreUploadSettings(false, 1, 1, 1, 1024, 600_000)));
        assertThat(ofAnotherJob.orphanRemovalRestoredFrom()).isNull();
    }

    /** The storage with verification and the orphan removal on. */
    private TieredCheckpointStorageAccess orphanRemovingStorage() throws IOException {
        return new TieredCheckpointStorageAccess(flinks(), new RecoveryGuard(false, false, false, getClass().getClassLoader()),
                new TieredCheckpointStorageAccess.VerificationSettings(1, true, 0, 0, getClass().getClassLoader()),
                new Path(checkpoints, job.toString()), new TieredCheckpointStorageAccess.StreamSettings(1024, 4096,
                        new io.github.s3tiered.preupload.PreUploadSettings(false, 1, 1, 1, 1024, 600_000)));
    }

    private java.nio.file.Path localMetadata(long checkpointId) {
        return root.resolve("checkpoints/" + job + "/chk-" + checkpointId + "/_metadata");
    }

    @Test
    void theMetadataIsWrittenWithoutExistsAndWithoutAHeadOfItsOwnAfterTheCheckAtTheStart() throws Exception {
        FsCheckpointStorageAccess flinks = flinks();
        CheckpointStorageLocation location = storage().initializeLocationForCheckpoint(7);
        // the creation waits for the HEAD sent when the checkpoint started: the order is fixed
        CompletedCheckpointStorageLocation done = finalize(location, new byte[] {1, 2, 3});

        assertThat(fs.calls).containsExactly("head _metadata", "create _metadata OVERWRITE");
        assertThat(Files.readAllBytes(localMetadata(7))).containsExactly(1, 2, 3);
        assertThat(done.getExternalPointer()).isEqualTo(new Path(checkpoints, job + "/chk-7").toString());
        // Flink's reference, with the JobManager's reuse window for the tasks
        LocationReferences.Decoded sent = LocationReferences.decode(location.getLocationReference());
        assertThat(sent.original()).isEqualTo(flinks.initializeLocationForCheckpoint(8).getLocationReference());
        assertThat(sent.reuseWindowMillis()).isEqualTo(600_000);
        assertThat(sent.status()).isNull();

        // Flink's own location on the same file system asks first: the recording can tell
        CheckpointStorageLocation flinksLocation = flinks.initializeLocationForCheckpoint(9);
        fs.calls.clear();
        finalize(flinksLocation, new byte[] {4});
        assertThat(fs.calls).startsWith("exists _metadata");
    }

    @Test
    void withVerificationOnTheMetadataIsWrittenTheSameWay() throws Exception {
        TieredCheckpointStorageAccess verifying = new TieredCheckpointStorageAccess(flinks(),
                new RecoveryGuard(false, false, false, getClass().getClassLoader()),
                new TieredCheckpointStorageAccess.VerificationSettings(1, false, 0, 0, getClass().getClassLoader()),
                new Path(checkpoints, job.toString()), new TieredCheckpointStorageAccess.StreamSettings(1024, 4096,
                        new io.github.s3tiered.preupload.PreUploadSettings(false, 1, 1, 1, 1024, 600_000)));
        CheckpointStorageLocation location = verifying.initializeLocationForCheckpoint(7);
        finalize(location, new byte[] {1, 2, 3});
        // the verifier then reads and writes files of its own in the background: only _metadata counts here
        List<String> metadataCalls;
        synchronized (fs.calls) {
            metadataCalls = fs.calls.stream().filter(c -> c.contains(" _metadata")).toList();
        }
        assertThat(metadataCalls)
                .startsWith("head _metadata", "create _metadata OVERWRITE");
        assertThat(Files.readAllBytes(localMetadata(7))).containsExactly(1, 2, 3);
        // before the next test serves the scheme with another file system
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).as("the verifier ended").isTrue();
    }

    @Test
    void aCheckpointFlinkAbortedBeforeAttachingItsLocationEndsOnceTheLocationIsGarbage() throws Exception {
        // Flink attaches the location to its pending checkpoint only if that was not aborted
        // meanwhile (a failover right after the trigger), and then neither finalizes nor disposes of it
        TieredCheckpointStorageAccess storage = verifyingStorage();
        storage.initializeLocationForCheckpoint(21); // dropped: aborted before it was attached
        CheckpointStorageLocation attached = storage.initializeLocationForCheckpoint(22);
        assertThat(storage.pendingCheckpoints().isPending(21)).isTrue();

        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (storage.pendingCheckpoints().isPending(21) && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertThat(storage.pendingCheckpoints().isPending(21)).as("it can never complete: the orphan removal stops waiting")
                .isFalse();
        assertThat(storage.pendingCheckpoints().isPending(22)).as("a location Flink holds may still complete").isTrue();
        java.lang.ref.Reference.reachabilityFence(attached);
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
    }

    @Test
    void aFailedCheckpointsDirectoryIsDeletedWithoutHoldingTheCaller() throws Exception {
        // Flink calls disposeOnFailure on the JobManager's main thread at every failover with a
        // checkpoint in progress: the delete on S3, and its retries, must not hold that thread
        for (boolean verifying : new boolean[] {false, true}) {
            long id = verifying ? 12 : 11;
            CheckpointStorageLocation location = verifying ? verifyingStorage().initializeLocationForCheckpoint(id)
                    : storage().initializeLocationForCheckpoint(id);
            assertDisposedWithoutHoldingTheCaller(location, localMetadata(id).getParent());
        }
    }

    /** Its directory is deleted on another thread, and the caller returns while that delete waits. */
    private void assertDisposedWithoutHoldingTheCaller(CheckpointStorageLocation location, java.nio.file.Path dir)
            throws Exception {
        Files.writeString(dir.resolve("a-task-state"), "written before the failure");
        CountDownLatch deleteMayProceed = new CountDownLatch(1);
        fs.deleteMayProceed = deleteMayProceed;
        fs.deletingThreads.clear();

        location.disposeOnFailure(); // returns while the delete waits

        assertThat(Files.exists(dir)).as("not deleted yet").isTrue();
        deleteMayProceed.countDown();
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(Files.exists(dir)).as("the directory " + dir).isFalse();
        assertThat(fs.deletingThreads).isNotEmpty()
                .allSatisfy(t -> assertThat(t).isNotEqualTo(Thread.currentThread().getName()));
        fs.deleteMayProceed = null;
    }

    @Test
    void aFailedSavepointsDirectoryIsDeletedWithoutHoldingTheCallerAndItsMetadataWrittenAsFlinkDoes() throws Exception {
        String target = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/savepoints").toString();
        CheckpointStorageLocation location = storage().initializeLocationForSavepoint(14, target);
        java.nio.file.Path dir;
        try (java.util.stream.Stream<java.nio.file.Path> made = Files.list(root.resolve("savepoints"))) {
            dir = made.findFirst().orElseThrow(); // Flink's savepoint-<job>-<random>
        }
        assertDisposedWithoutHoldingTheCaller(location, dir);

        // a savepoint that completes writes its _metadata through Flink's own stream, which asks first
        CheckpointStorageLocation completing = storage().initializeLocationForSavepoint(15, target);
        fs.calls.clear();
        finalize(completing, new byte[] {5});
        assertThat(fs.calls).startsWith("exists _metadata");
    }

    @Test
    void aFailedDeleteOfAFailedCheckpointsDirectoryIsLoggedNotThrown() throws Exception {
        CheckpointStorageLocation location = storage().initializeLocationForCheckpoint(13);
        fs.failDelete = true;
        location.disposeOnFailure();
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(fs.deletingThreads).hasSize(1);
        assertThat(Files.exists(localMetadata(13).getParent())).as("left, for the inspector's orphans").isTrue();
    }

    @Test
    void aFileThereWhenTheCheckpointStartedFailsTheCreationAndTheDisposalDeletesNothing() throws Exception {
        // an earlier run under this job id retained chk-7 (its counter began again below it): Flink
        // disposes of the failed checkpoint by deleting its directory, which is that run's checkpoint
        Files.createDirectories(localMetadata(7).getParent());
        Files.writeString(localMetadata(7), "an earlier run's");
        Files.writeString(localMetadata(7).resolveSibling("its-state"), "an earlier run's");
        CheckpointStorageLocation location = storage().initializeLocationForCheckpoint(7);

        assertThatThrownBy(location::createMetadataOutputStream).isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(new Path(checkpoints, job + "/chk-7/_metadata").toString())
                .hasMessageContaining("NO_OVERWRITE");
        assertThat(fs.calls).containsExactly("head _metadata");
        location.disposeOnFailure();
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(Files.readString(localMetadata(7))).isEqualTo("an earlier run's");
        assertThat(localMetadata(7).resolveSibling("its-state")).exists();

        // the same with verification on, and with the file found by the creation's own check
        fs.failHead = true; // no answer at the start
        Files.createDirectories(localMetadata(8).getParent());
        Files.writeString(localMetadata(8), "an earlier run's");
        CheckpointStorageLocation verifying = verifyingStorage().initializeLocationForCheckpoint(8);
        assertThatThrownBy(verifying::createMetadataOutputStream).isInstanceOf(FileAlreadyExistsException.class);
        verifying.disposeOnFailure();
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(Files.readString(localMetadata(8))).isEqualTo("an earlier run's");

        // a checkpoint that failed for another reason is deleted as before
        fs.failHead = false;
        CheckpointStorageLocation failed = storage().initializeLocationForCheckpoint(9);
        Files.createDirectories(localMetadata(9).getParent());
        Files.writeString(localMetadata(9).resolveSibling("a-task-state"), "written before the failure");
        failed.disposeOnFailure();
        assertThat(CheckpointBackgroundWork.awaitIdle(Duration.ofSeconds(10))).isTrue();
        assertThat(localMetadata(9).getParent()).doesNotExist();
    }

    @Test
    void whenTheCheckAtTheStartFailedTheCreationChecksAsBefore() throws Exception {
        fs.failHead = true;
        CheckpointStorageLocation location = storage().initializeLocationForCheckpoint(7);
        finalize(location, new byte[] {5});
        assertThat(fs.calls).containsExactly("head _metadata", "create _metadata NO_OVERWRITE");
        assertThat(Files.readAllBytes(localMetadata(7))).containsExactly(5);
    }

    @Test
    void anAnswerNotInWithinTheWaitIsNoAnswerAndAFailedOneIsNoneEither() throws Exception {
        fs.headMayAnswer = new CountDownLatch(1);
        MetadataPrecheck check = MetadataPrecheck.startFor(flinks().initializeLocationForCheckpoint(3),
                r -> new Thread(r, "precheck").start());
        assertThat(check).isNotNull();
        assertThat(check.answer(Duration.ofMillis(100))).isNull();
        fs.headMayAnswer.countDown();
        assertThat(check.answer(Duration.ofSeconds(10))).isFalse();

        Files.createDirectories(localMetadata(4).getParent());
        Files.writeString(localMetadata(4), "x");
        fs.headMayAnswer = null;
        assertThat(MetadataPrecheck.startFor(flinks().initializeLocationForCheckpoint(4), Runnable::run)
                .answer(Duration.ZERO)).isTrue();

        fs.failHead = true;
        assertThat(MetadataPrecheck.startFor(flinks().initializeLocationForCheckpoint(5), Runnable::run)
                .answer(Duration.ofSeconds(1))).isNull();
    }

    @Test
    void noCheckWhereItDoesNotApply() throws Exception {
        Path local = new Path(root.toUri().toString() + "local");
        CheckpointStorageLocation onFile = new FsCheckpointStorageAccess(local, null, true, job, 1024, 4096)
                .initializeLocationForCheckpoint(1);
        assertThat(MetadataPrecheck.startFor(onFile, Runnable::run)).isNull();
        assertThat(fs.calls).isEmpty();
    }

    /**
     * Flink's changelog writer does not report a failed upload of a file of changes (its stream's
     * close deletes the path and returns, and the handle goes to the JobManager): a checkpoint
     * naming such a file is not completed; once the file is there, the checkpoint completes.
     */
    @Test
    void aCheckpointNamingAChangelogFileThatIsNotThereIsNotCompleted() throws Exception {
        Path changes = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/changes");
        Files.createDirectories(root.resolve("changes"));
        Files.write(root.resolve("changes/uploaded"), new byte[100]);
        Path uploaded = new Path(changes, "uploaded");
        Path lost = new Path(changes, "lost"); // its upload failed; Flink deleted the path and went on
        TieredCheckpointStorageAccess storage = checkingChangelogFiles();

        CheckpointStorageLocation seven = storage.initializeLocationForCheckpoint(7);
        assertThatThrownBy(() -> finalize(seven, changelogMetadata(7, uploaded, lost)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Checkpoint 7 names the changelog file " + lost)
                .hasMessageContaining("does not exist");
        // its _metadata stream is discarded as after any failed finalization (abandoned on the plugin;
        // this local stand-in cannot abandon a file it wrote as it went: MetadataFileOutputStreamTest)

        Files.write(root.resolve("changes/lost"), new byte[50]);
        CheckpointStorageLocation eight = storage.initializeLocationForCheckpoint(8);
        assertThat(finalize(eight, changelogMetadata(8, uploaded, lost)).getExternalPointer()).contains("chk-8");
        assertThat(root.resolve("checkpoints/" + job + "/chk-8/_metadata")).exists();
    }

    /**
     * With a relative handle in the metadata (an operator state above the inline threshold, in the
     * checkpoint's own directory), Flink's reader looks the checkpoint up, whose {@code _metadata}
     * is not written yet: the check still reads the metadata and still fails the checkpoint.
     */
    @Test
    void aChangelogFileThatIsNotThereFailsACheckpointWithRelativeHandlesToo() throws Exception {
        Path changes = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/changes");
        Files.createDirectories(root.resolve("changes"));
        Path lost = new Path(changes, "lost");
        TieredCheckpointStorageAccess storage = checkingChangelogFiles();

        fs.metadataOnlyOnceClosed = true;
        CheckpointStorageLocation nine = storage.initializeLocationForCheckpoint(9);
        java.nio.file.Path chk9 = Files.createDirectories(root.resolve("checkpoints/" + job + "/chk-9"));
        Files.write(chk9.resolve("operator-state"), new byte[30_000]);
        byte[] metadata = withRelativeOperatorState(changelogMetadata(9, lost),
                new Path("s3tiered://bucket" + chk9.toAbsolutePath() + "/operator-state"));
        assertThatThrownBy(() -> finalize(nine, metadata))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Checkpoint 9 names the changelog file " + lost);
    }

    /** {@code metadata} with one more operator whose state is a file of the checkpoint's directory, named relative to it. */
    private static byte[] withRelativeOperatorState(byte[] metadata, Path file) throws IOException {
        org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata m = org.apache.flink.runtime.checkpoint.Checkpoints
                .loadCheckpointMetadata(new java.io.DataInputStream(new java.io.ByteArrayInputStream(metadata)),
                        MetadataWritingLocationTest.class.getClassLoader(), "unused: no relative handle yet");
        org.apache.flink.runtime.checkpoint.OperatorState source = io.github.s3tiered.inspector.metadata.OperatorStates.create(
                "source", "source", new org.apache.flink.runtime.jobgraph.OperatorID(), 1, 128);
        source.putState(0, org.apache.flink.runtime.checkpoint.OperatorSubtaskState.builder()
                .setManagedOperatorState(new org.apache.flink.runtime.state.OperatorStreamStateHandle(Map.of(),
                        new org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle(file, file.getName(), 30_000)))
                .build());
        List<org.apache.flink.runtime.checkpoint.OperatorState> ops = new java.util.ArrayList<>(m.getOperatorStates());
        ops.add(source);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        org.apache.flink.runtime.checkpoint.Checkpoints.storeCheckpointMetadata(
                new org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata(m.getCheckpointId(), ops, List.of()),
                new java.io.DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    /** The storage, verification off, with the check of the changelog's files; its base locations initialized. */
    private TieredCheckpointStorageAccess checkingChangelogFiles() throws IOException {
        TieredCheckpointStorageAccess storage = new TieredCheckpointStorageAccess(flinks(),
                new RecoveryGuard(false, false, false, getClass().getClassLoader()), null, new Path(checkpoints, job.toString()),
                new TieredCheckpointStorageAccess.StreamSettings(1024, 4096,
                        new io.github.s3tiered.preupload.PreUploadSettings(true, 600_000, 1, 1, 1024, 600_000),
                        new ChangelogFilesCheck(getClass().getClassLoader())));
        storage.initializeBaseLocationsForCheckpoint();
        return storage;
    }

    private static byte[] changelogMetadata(long id, Path... files) throws IOException {
        List<org.apache.flink.api.java.tuple.Tuple2<org.apache.flink.runtime.state.StreamStateHandle, Long>> parts =
                new java.util.ArrayList<>();
        for (Path f : files) {
            parts.add(org.apache.flink.api.java.tuple.Tuple2.of(
                    new org.apache.flink.runtime.state.filesystem.FileStateHandle(f, 50), 1L));
        }
        org.apache.flink.runtime.state.KeyGroupRange all = org.apache.flink.runtime.state.KeyGroupRange.of(0, 127);
        var changes = new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(parts, all, 100, 100,
                "filesystem");
        var handle = new org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl(
                List.of(), List.of(changes), all, id, 0, 100);
        org.apache.flink.runtime.checkpoint.OperatorState op = io.github.s3tiered.inspector.metadata.OperatorStates.create(
                "count", "count", new org.apache.flink.runtime.jobgraph.OperatorID(), 1, 128);
        op.putState(0, org.apache.flink.runtime.checkpoint.OperatorSubtaskState.builder().setManagedKeyedState(handle).build());
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        org.apache.flink.runtime.checkpoint.Checkpoints.storeCheckpointMetadata(
                new org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata(id, List.of(op), List.of()),
                new java.io.DataOutputStream(bytes));
        return bytes.toByteArray();
    }

    private static CompletedCheckpointStorageLocation finalize(CheckpointStorageLocation location, byte[] bytes)
            throws IOException {
        try (CheckpointMetadataOutputStream out = location.createMetadataOutputStream()) {
            out.write(bytes);
            return out.closeAndFinalizeCheckpoint();
        }
    }
}
