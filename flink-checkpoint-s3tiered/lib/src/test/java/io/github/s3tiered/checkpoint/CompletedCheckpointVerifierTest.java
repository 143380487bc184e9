package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The JobManager's verification of a completed checkpoint (on the local file system: the verifier
 * asks any Flink file system for sizes and listings): a file that is gone while the checkpoint's
 * {@code _metadata} is there is reported as lost; files gone together with the {@code _metadata}
 * (Flink deletes a subsumed checkpoint's {@code _metadata} first) are not.
 */
class CompletedCheckpointVerifierTest {

    @TempDir
    java.nio.file.Path root;

    /** A checkpoint of one operator whose state is one file of 64 bytes in the checkpoint's directory. */
    private byte[] checkpoint(long id, java.nio.file.Path stateFile) throws Exception {
        OperatorState state = new OperatorState("op", "op-uid", new OperatorID(1, 2), 1, 128);
        state.putState(0, OperatorSubtaskState.builder()
                .setManagedOperatorState(new OperatorStreamStateHandle(Map.of(),
                        new FileStateHandle(new Path(stateFile.toUri()), 64)))
                .build());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(state), List.of()), bytes);
        return bytes.toByteArray();
    }

    private java.nio.file.Path checkpointDir(long id) throws Exception {
        return Files.createDirectories(root.resolve("job/chk-" + id));
    }

    private String status() throws Exception {
        java.nio.file.Path file = root.resolve("job/s3tiered-verification.json");
        return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    }

    private void verify(CompletedCheckpointVerifier verifier, long id, byte[] metadata, java.nio.file.Path dir) throws Exception {
        verifier.completed(id, metadata, new Path(dir.toUri()));
        assertThat(CompletedCheckpointVerifier.awaitAllIdle(Duration.ofSeconds(30))).isTrue();
    }

    @Test
    void aFileGoneWhileTheMetadataIsThereIsReportedAndFilesGoneWithTheMetadataAreNot() throws Exception {
        CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                getClass().getClassLoader(), null);

        // 1: complete
        java.nio.file.Path dir1 = checkpointDir(1);
        java.nio.file.Path file1 = Files.write(dir1.resolve("state-1"), new byte[64]);
        byte[] metadata1 = checkpoint(1, file1);
        Files.write(dir1.resolve("_metadata"), metadata1);
        verify(verifier, 1, metadata1, dir1);
        assertThat(status()).contains("\"newestVerifiedCheckpoint\": 1").doesNotContain("state-1");

        // 2: subsumed and deleted while it was verified (its _metadata and its file gone): not a loss
        java.nio.file.Path dir2 = checkpointDir(2);
        byte[] metadata2 = checkpoint(2, dir2.resolve("state-2"));
        verify(verifier, 2, metadata2, dir2);
        assertThat(status()).doesNotContain("state-2").doesNotContain("lastFailure\": {");

        // 3: its file lost while the checkpoint is there: reported, naming the file
        java.nio.file.Path dir3 = checkpointDir(3);
        byte[] metadata3 = checkpoint(3, dir3.resolve("state-3"));
        Files.write(dir3.resolve("_metadata"), metadata3);
        verify(verifier, 3, metadata3, dir3);
        assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 3").contains("state-3");
    }

    /** Checkpoint {@code id} of one 64-byte file in its own directory, its _metadata written; the file only if {@code withFile}. */
    private byte[] writtenCheckpoint(long id, boolean withFile) throws Exception {
        java.nio.file.Path dir = checkpointDir(id);
        java.nio.file.Path file = dir.resolve("state-" + id);
        if (withFile) {
            Files.write(file, new byte[64]);
        }
        byte[] metadata = checkpoint(id, file);
        Files.write(dir.resolve("_metadata"), metadata);
        return metadata;
    }

    /** Checkpoint 3 verified while 4 is queued: 3's own file is lost, and 4 does not reference it. */
    private CompletedCheckpointVerifier verifierOf3WithItsFileLostAnd4Queued() throws Exception {
        CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                getClass().getClassLoader(), null);
        byte[] metadata3 = writtenCheckpoint(3, false);
        byte[] metadata4 = writtenCheckpoint(4, true);
        verifier.verifyWhileNewerQueued(3, metadata3, new Path(checkpointDir(3).toUri()), 4, metadata4,
                new Path(checkpointDir(4).toUri()));
        return verifier;
    }

    @Test
    void aFileGoneThatTheNewerCheckpointDoesNotReferenceIsReportedOnceTheCheckpointIsStillThereAnIntervalLater()
            throws Exception {
        // execution.checkpointing.num-retained above 1: checkpoint 3 stays retained when 4 completes,
        // and its own file is lost; 4, queued while 3 is verified, does not reference it
        CompletedCheckpointVerifier verifier = verifierOf3WithItsFileLostAnd4Queued();
        assertThat(verifier.status().newestVerified()).as("not entirely in S3").isLessThan(3);
        verify(verifier, 4, Files.readAllBytes(checkpointDir(4).resolve("_metadata")), checkpointDir(4)); // too soon to judge 3
        assertThat(status()).contains("\"newestVerifiedCheckpoint\": 4").doesNotContain("state-3");

        verify(verifier, 5, writtenCheckpoint(5, true), checkpointDir(5)); // an interval later, 3 is still there

        assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 3").contains("state-3")
                .contains("\"newestVerifiedCheckpoint\": 5");
    }

    @Test
    void aFileGoneThatTheNewerCheckpointDoesNotReferenceIsNotReportedOnceTheCheckpointIsGoneAnIntervalLater()
            throws Exception {
        // num-retained 1: Flink's shared-state registry deletes 3's files as 4 completes, and 3's
        // _metadata a moment later
        CompletedCheckpointVerifier verifier = verifierOf3WithItsFileLostAnd4Queued();
        Files.delete(checkpointDir(3).resolve("_metadata"));
        verify(verifier, 4, Files.readAllBytes(checkpointDir(4).resolve("_metadata")), checkpointDir(4));
        verify(verifier, 5, writtenCheckpoint(5, true), checkpointDir(5));

        assertThat(status()).contains("\"newestVerifiedCheckpoint\": 5").doesNotContain("state-3")
                .doesNotContain("lastFailure\": {");
    }

    /** A local file system whose status calls of {@code _metadata} fail while {@link #failing} (S3 throttling them). */
    static final class UnansweredMetadataStatus extends org.apache.flink.core.fs.local.LocalFileSystem {
        volatile boolean failing;

        @Override
        public org.apache.flink.core.fs.FileStatus getFileStatus(Path f) throws java.io.IOException {
            if (failing && f.getName().equals("_metadata")) {
                throw new java.io.IOException("HeadObject of " + f + " failed: HTTP 503 SlowDown after 21 attempts");
            }
            return super.getFileStatus(f);
        }
    }

    @Test
    void aCheckpointIsNotReportedLostWhileS3DoesNotSayWhetherItsMetadataIsStillThere() throws Exception {
        UnansweredMetadataStatus s3 = new UnansweredMetadataStatus();
        S3TieredSchemeForTests.serve("throttled", s3);
        try {
            CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                    getClass().getClassLoader(), null);
            byte[] metadata3 = writtenCheckpoint(3, false); // its file gone, which 4 does not reference
            byte[] metadata4 = writtenCheckpoint(4, true);
            verifier.verifyWhileNewerQueued(3, metadata3, new Path("throttled://" + checkpointDir(3).toAbsolutePath()), 4,
                    metadata4, new Path(checkpointDir(4).toUri()));
            s3.failing = true; // the HEAD that judges 3 gets no answer
            verify(verifier, 4, metadata4, checkpointDir(4));
            verify(verifier, 5, writtenCheckpoint(5, true), checkpointDir(5));
            assertThat(status()).as("no answer is no verdict").doesNotContain("lastFailure\": {")
                    .contains("\"newestVerifiedCheckpoint\": 5");
            assertThat(verifier.status().failedCheckpoints()).isZero();

            s3.failing = false; // S3 answers at the next verification: 3 is still there, retained, and broken
            verify(verifier, 6, writtenCheckpoint(6, true), checkpointDir(6));
            assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 3").contains("state-3");
        } finally {
            S3TieredSchemeForTests.reset();
        }
    }

    /** A local file system whose listing of a directory waits for that directory's gate, while one is set (a slow S3). */
    static final class GatedListings extends org.apache.flink.core.fs.local.LocalFileSystem {
        final Map<String, java.util.concurrent.CountDownLatch> gates = new java.util.concurrent.ConcurrentHashMap<>();
        /** The directories whose listing began. */
        final java.util.concurrent.BlockingQueue<String> listing = new java.util.concurrent.LinkedBlockingQueue<>();

        @Override
        public org.apache.flink.core.fs.FileStatus[] listStatus(Path f) throws java.io.IOException {
            listing.add(f.getName());
            java.util.concurrent.CountDownLatch gate = gates.get(f.getName());
            if (gate != null) {
                try {
                    gate.await(60, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return super.listStatus(f);
        }
    }

    /** Checkpoint {@code id} of job directory {@code job} under {@code scheme}: one 64-byte file in its directory. */
    private byte[] checkpointOf(String scheme, String job, long id) throws Exception {
        java.nio.file.Path dir = Files.createDirectories(root.resolve(job + "/chk-" + id));
        java.nio.file.Path file = Files.write(dir.resolve("state-" + id), new byte[64]);
        OperatorState state = new OperatorState("op", "op-uid", new OperatorID(1, 2), 1, 128);
        state.putState(0, OperatorSubtaskState.builder()
                .setManagedOperatorState(new OperatorStreamStateHandle(Map.of(),
                        new FileStateHandle(new Path(scheme + "://" + file.toAbsolutePath()), 64)))
                .build());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(state), List.of()), bytes);
        Files.write(dir.resolve("_metadata"), bytes.toByteArray());
        return bytes.toByteArray();
    }

    @Test
    void aJobWhoseVerificationsOutlastItsIntervalDoesNotKeepTheOtherJobsUnverified() throws Exception {
        GatedListings slowS3 = new GatedListings();
        S3TieredSchemeForTests.serve("slow", slowS3);
        java.util.concurrent.CountDownLatch first = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch second = new java.util.concurrent.CountDownLatch(1);
        slowS3.gates.put("chk-1", first);
        slowS3.gates.put("chk-2", second);
        try {
            CompletedCheckpointVerifier slowJob = new CompletedCheckpointVerifier(
                    new Path("slow://" + root.resolve("slow-job").toAbsolutePath()), 1, getClass().getClassLoader(), null);
            CompletedCheckpointVerifier otherJob = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                    getClass().getClassLoader(), null);
            slowJob.completed(1, checkpointOf("slow", "slow-job", 1),
                    new Path("slow://" + root.resolve("slow-job/chk-1").toAbsolutePath()));
            assertThat(slowS3.listing.poll(30, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo("chk-1");
            // while its checkpoint 1 is verified, its checkpoint 2 completes, and then the other job's 1
            slowJob.completed(2, checkpointOf("slow", "slow-job", 2),
                    new Path("slow://" + root.resolve("slow-job/chk-2").toAbsolutePath()));
            otherJob.completed(1, checkpointOf("file", "job", 1), new Path(root.resolve("job/chk-1").toUri()));
            first.countDown(); // the slow job's 1 ends; its 2 takes long

            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!status().contains("\"newestVerifiedCheckpoint\": 1") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(status()).as("the other job, verified while the slow one's next verification runs")
                    .contains("\"newestVerifiedCheckpoint\": 1");
        } finally {
            second.countDown();
            assertThat(CompletedCheckpointVerifier.awaitAllIdle(Duration.ofSeconds(30))).isTrue();
            S3TieredSchemeForTests.reset();
        }
    }

    @Test
    void retainedCheckpointsLosingFilesOneAfterTheOtherAreEachReported() throws Exception {
        // 3 loses its file (4 queued), then 4 loses its own (5 queued): each is judged a
        // verification after the one that followed it, and neither judgement replaces the other
        CompletedCheckpointVerifier verifier = verifierOf3WithItsFileLostAnd4Queued();
        Files.delete(checkpointDir(4).resolve("state-4"));
        verifier.verifyWhileNewerQueued(4, Files.readAllBytes(checkpointDir(4).resolve("_metadata")),
                new Path(checkpointDir(4).toUri()), 5, writtenCheckpoint(5, true), new Path(checkpointDir(5).toUri()));
        assertThat(status()).doesNotContain("lastFailure\": {");

        verify(verifier, 5, Files.readAllBytes(checkpointDir(5).resolve("_metadata")), checkpointDir(5));
        assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 3").contains("state-3");

        verify(verifier, 6, writtenCheckpoint(6, true), checkpointDir(6));
        assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 4").contains("state-4")
                .contains("\"newestVerifiedCheckpoint\": 6");
        assertThat(verifier.status().failedCheckpoints()).isEqualTo(2);
    }

    /**
     * The changelog backend's files of changes, whose recorded size counts the bytes after a
     * one-byte compression flag before compression: an uncompressed file holding other than one
     * byte more is reported (its flag read), a compressed one of any size is not (the inspector's
     * validation decompresses it), nor a whole uncompressed one.
     */
    @Test
    void changelogFilesAreHeldToTheirRecordedSizeByTheirFlag() throws Exception {
        CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                getClass().getClassLoader(), null);
        java.nio.file.Path dstl = Files.createDirectories(root.resolve("job/dstl"));
        java.nio.file.Path whole = Files.write(dstl.resolve("whole"), flagged(0, 41)); // 40 bytes recorded
        java.nio.file.Path compressed = Files.write(dstl.resolve("compressed"), flagged(1, 12)); // 40 recorded
        java.nio.file.Path cut = Files.write(dstl.resolve("cut"), flagged(0, 40)); // 40 recorded, a byte short

        java.nio.file.Path dir1 = checkpointDir(1);
        byte[] metadata1 = changelogCheckpoint(1, whole, compressed);
        Files.write(dir1.resolve("_metadata"), metadata1);
        verify(verifier, 1, metadata1, dir1);
        assertThat(status()).contains("\"newestVerifiedCheckpoint\": 1").doesNotContain("lastFailure\": {");

        java.nio.file.Path dir2 = checkpointDir(2);
        byte[] metadata2 = changelogCheckpoint(2, whole, cut);
        Files.write(dir2.resolve("_metadata"), metadata2);
        verify(verifier, 2, metadata2, dir2);
        assertThat(status()).contains("\"lastFailure\": {\"checkpointId\": 2").contains("cut")
                .doesNotContain("whole");
    }

    private static byte[] flagged(int flag, int length) {
        byte[] bytes = new byte[length];
        bytes[0] = (byte) flag;
        return bytes;
    }

    /** A checkpoint of one operator whose keyed state is two changelog files, 40 bytes recorded each. */
    private static byte[] changelogCheckpoint(long id, java.nio.file.Path first, java.nio.file.Path second) throws Exception {
        org.apache.flink.runtime.state.KeyGroupRange all = org.apache.flink.runtime.state.KeyGroupRange.of(0, 127);
        org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl changes =
                new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(List.of(
                        org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(new Path(first.toUri()), 40), 0L),
                        org.apache.flink.api.java.tuple.Tuple2.of(new FileStateHandle(new Path(second.toUri()), 40), 0L)),
                        all, 80, 80, "filesystem");
        OperatorState state = new OperatorState("op", "op-uid", new OperatorID(1, 2), 1, 128);
        state.putState(0, OperatorSubtaskState.builder()
                .setManagedKeyedState(new org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle
                        .ChangelogStateBackendHandleImpl(List.of(), List.of(changes), all, id, 0, 80))
                .build());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(state), List.of()), bytes);
        return bytes.toByteArray();
    }

    /**
     * Listings that fail at every checkpoint (a role that may not list a prefix): two WARNs, then
     * one ERROR saying checkpoints are not being verified, then nothing above DEBUG until a listing
     * succeeds, after which a failure is told again.
     */
    @Test
    void listingsFailingAtEveryCheckpointAreToldOnceAsAnErrorInsteadOfAWarnEach() throws Exception {
        CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                getClass().getClassLoader(), null);
        // a file system Flink cannot find fails the listing as a denied one does
        List<String> logs = io.github.s3tiered.testing.CapturedLogs.during(CompletedCheckpointVerifier.class, () -> {
            for (long id = 1; id <= 6; id++) {
                java.nio.file.Path dir = checkpointDir(id);
                byte[] metadata = checkpointOfFileAt(id, new Path("nosuchscheme://bucket/job/chk-" + id + "/state"));
                Files.write(dir.resolve("_metadata"), metadata);
                verify(verifier, id, metadata, dir);
            }
        });
        assertThat(logs).filteredOn(l -> l.startsWith("WARN")).hasSize(2)
                .allMatch(l -> l.contains("listing nosuchscheme://bucket/job/chk-"));
        assertThat(logs).filteredOn(l -> l.startsWith("ERROR")).singleElement().asString()
                .contains("are not being verified", "3 checkpoints in a row", "s3:ListBucket");

        logs = io.github.s3tiered.testing.CapturedLogs.during(CompletedCheckpointVerifier.class, () -> {
            verify(verifier, 7, writtenCheckpoint(7, true), checkpointDir(7));
            java.nio.file.Path dir = checkpointDir(8);
            byte[] metadata = checkpointOfFileAt(8, new Path("nosuchscheme://bucket/job/chk-8/state"));
            Files.write(dir.resolve("_metadata"), metadata);
            verify(verifier, 8, metadata, dir);
        });
        assertThat(logs).as("a listing succeeded in between").filteredOn(l -> l.startsWith("WARN")).hasSize(1);
    }

    /** As above, where one directory lists and another does not (a role that may list some prefixes only). */
    @Test
    void listingsOfOneDirectoryFailingAtEveryCheckpointAreToldOnceThoughOthersList() throws Exception {
        CompletedCheckpointVerifier verifier = new CompletedCheckpointVerifier(new Path(root.resolve("job").toUri()), 1,
                getClass().getClassLoader(), null);
        List<String> logs = io.github.s3tiered.testing.CapturedLogs.during(CompletedCheckpointVerifier.class, () -> {
            for (long id = 1; id <= 5; id++) {
                java.nio.file.Path dir = checkpointDir(id);
                java.nio.file.Path listed = Files.write(dir.resolve("state"), new byte[64]);
                byte[] metadata = checkpointOfFileAt(id, new Path(listed.toUri()),
                        new Path("nosuchscheme://bucket/job/chk-" + id + "/state"));
                Files.write(dir.resolve("_metadata"), metadata);
                verify(verifier, id, metadata, dir);
            }
        });
        assertThat(logs).filteredOn(l -> l.startsWith("WARN")).hasSize(2);
        assertThat(logs).filteredOn(l -> l.startsWith("ERROR")).hasSize(1);
    }

    /** A checkpoint of one operator whose subtasks' state is one file of 64 bytes each, at {@code files}. */
    private static byte[] checkpointOfFileAt(long id, Path... files) throws Exception {
        OperatorState state = new OperatorState("op", "op-uid", new OperatorID(1, 2), files.length, 128);
        for (int i = 0; i < files.length; i++) {
            state.putState(i, OperatorSubtaskState.builder()
                    .setManagedOperatorState(new OperatorStreamStateHandle(Map.of(), new FileStateHandle(files[i], 64)))
                    .build());
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(state), List.of()), bytes);
        return bytes.toByteArray();
    }
}
