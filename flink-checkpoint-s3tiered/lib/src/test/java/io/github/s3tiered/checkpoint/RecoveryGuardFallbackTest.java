package io.github.s3tiered.checkpoint;

import io.github.s3tiered.inspector.metadata.OperatorIds;
import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The guard's choice when the named checkpoint is broken: with the fallback on, the newest
 * restorable checkpoint older than the one named, never a newer one (an operator naming chk-3 of a
 * job with chk-4 may be rolling back from what chk-4 holds); without it, a refusal naming the file.
 */
class RecoveryGuardFallbackTest {

    @TempDir
    java.nio.file.Path base;

    private java.nio.file.Path job;
    private final OperatorID operator = OperatorIds.fromUid("count");

    @BeforeEach
    void setUp() throws Exception {
        job = Files.createDirectories(base.resolve("0123456789abcdef0123456789abcdef"));
        for (long id = 1; id <= 4; id++) {
            writeCheckpoint(id);
        }
        Files.delete(job.resolve("shared/state-3")); // chk-3 is broken; chk-4, newer, is restorable
    }

    @Test
    void aBrokenNamedCheckpointFallsBackToAnOlderOneNeverToANewer() throws Exception {
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        String resolved = guard.resolve(pointer(job.resolve("chk-3")));

        assertThat(new Path(resolved).getName()).isEqualTo("chk-2");
    }

    @Test
    void theFallbackFromTheOldestCheckpointFindsNothingAndRefuses() throws Exception {
        Files.delete(job.resolve("shared/state-1"));
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        assertThatThrownBy(() -> guard.resolve(pointer(job.resolve("chk-1"))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Refusing to resume")
                .hasMessageContaining("found nothing restorable");
    }

    @Test
    void withoutTheFallbackABrokenNamedCheckpointIsRefusedNamingItsFile() {
        RecoveryGuard guard = new RecoveryGuard(true, false, false, null);

        assertThatThrownBy(() -> guard.resolve(pointer(job.resolve("chk-3"))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Refusing to resume")
                .hasMessageContaining("state-3")
                .hasMessageContaining(RecoveryGuardOptions.FALLBACK.key());
    }

    @Test
    void aMetadataFileNamedOtherwiseIsTheCheckpointAsFlinkReadsIt() throws Exception {
        // Flink restores from any file the restore path names, as the metadata of the checkpoint in
        // its directory: the guard must not refuse what Flink would resume
        Files.move(job.resolve("chk-4/_metadata"), job.resolve("chk-4/metadata-kept"));
        RecoveryGuard guard = new RecoveryGuard(true, false, false, null);

        String named = pointer(job.resolve("chk-4/metadata-kept"));
        assertThat(guard.resolve(named)).isEqualTo(named);
    }

    @Test
    void aBrokenMetadataFileNamedOtherwiseFallsBackBelowItsCheckpoint() throws Exception {
        Files.move(job.resolve("chk-3/_metadata"), job.resolve("chk-3/metadata-kept"));
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        String resolved = guard.resolve(pointer(job.resolve("chk-3/metadata-kept")));

        assertThat(new Path(resolved).getName()).isEqualTo("chk-2"); // not chk-4, above the one named
    }

    @Test
    void aDataFileNamedAsTheMetadataIsRefusedWithoutFallingBackToTheNewest() {
        // any file is read as metadata when named so; one in shared/ is no checkpoint, and the newest
        // checkpoint of the job holding it is not what the operator named
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        assertThatThrownBy(() -> guard.resolve(pointer(job.resolve("shared/state-2"))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Refusing to resume")
                .hasMessageContaining("No fallback")
                .hasMessageContaining("shared/state-2");
    }

    @Test
    void aSavepointWhoseMetadataCannotBeReadIsNotFallenBackFromToTheCheckpointsBesideIt() throws Exception {
        // flink savepoint <job> <the job's checkpoint directory>: the savepoint lies beside chk-1..4,
        // and a rollback to it must not resume chk-4, which may hold what the rollback was to undo
        java.nio.file.Path savepoint = Files.createDirectories(job.resolve("savepoint-0a1b2c-0123456789ab"));
        Files.write(savepoint.resolve("some-state"), new byte[3]);
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        assertThatThrownBy(() -> guard.resolve(pointer(savepoint))).isInstanceOf(IOException.class)
                .hasMessageContaining("Refusing to resume").hasMessageContaining("No fallback")
                .hasMessageContaining("savepoint-0a1b2c-0123456789ab");

        Files.write(savepoint.resolve("_metadata"), "not a checkpoint".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThatThrownBy(() -> guard.resolve(pointer(savepoint))).isInstanceOf(IOException.class)
                .hasMessageContaining("No fallback").hasMessageContaining("id of");
    }

    @Test
    void aBrokenSavepointFallsBackOnlyToTheCheckpointsOfItsOwnJob() throws Exception {
        // this job's (its id begins 012345, as its directory's name): below its id, among the chk-N beside it
        writeCheckpoint("savepoint-012345-0a1b2c3d4e5f", 5);
        Files.delete(job.resolve("shared/state-5"));
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);
        assertThat(new Path(guard.resolve(pointer(job.resolve("savepoint-012345-0a1b2c3d4e5f")))).getName())
                .isEqualTo("chk-4");

        // another job's, copied into this job's directory: the chk-N beside it count from another counter
        writeCheckpoint("savepoint-abcdef-0a1b2c3d4e5f", 5);
        Files.delete(job.resolve("shared/state-5"));
        assertThatThrownBy(() -> guard.resolve(pointer(job.resolve("savepoint-abcdef-0a1b2c3d4e5f"))))
                .isInstanceOf(IOException.class).hasMessageContaining("No fallback")
                .hasMessageContaining("a job whose id begins abcdef");
    }

    @Test
    void aNamedCheckpointWithNothingStoredUnderItIsNotFallenBackFromWhateverItsId() throws Exception {
        // on an object store a chk-N that never was (a mistyped id, or one subsumed long ago) lists
        // as empty; below the newest, falling back would resume whatever checkpoint lies below the typo
        writeCheckpoint(20); // chk-13 was never written; 20 is the newest
        ObjectStoreListings fs = new ObjectStoreListings();
        S3TieredSchemeForTests.serve("objs", fs);
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        assertThatThrownBy(() -> guard.resolve("objs://bucket" + job.resolve("chk-13").toAbsolutePath()))
                .isInstanceOf(IOException.class).hasMessageContaining("No fallback")
                .hasMessageContaining("nothing is stored under").hasMessageNotContaining("above every checkpoint");

        // a chk-N that lost its _metadata but holds other objects is one, and is fallen back from
        java.nio.file.Path lost = job.resolve("chk-3");
        Files.delete(lost.resolve("_metadata"));
        Files.write(lost.resolve("private-state"), new byte[3]);
        assertThat(new Path(guard.resolve("objs://bucket" + lost.toAbsolutePath())).getName()).isEqualTo("chk-2");
    }

    /** Local files under {@code objs://}, whose listing of a directory that does not exist is empty, as S3's is. */
    private static final class ObjectStoreListings extends LocalFileSystem {
        @Override
        public FileStatus[] listStatus(Path f) throws IOException {
            if (!exists(f)) {
                return new FileStatus[0];
            }
            FileStatus[] local = super.listStatus(f);
            FileStatus[] listed = new FileStatus[local.length];
            for (int i = 0; i < local.length; i++) {
                listed[i] = new Listed(local[i], new Path("objs://bucket" + local[i].getPath().toUri().getPath()));
            }
            return listed;
        }

        /** A listing entry named as this file system names its paths. */
        private record Listed(FileStatus local, Path path) implements FileStatus {
            public long getLen() {
                return local.getLen();
            }

            public long getBlockSize() {
                return local.getBlockSize();
            }

            public short getReplication() {
                return local.getReplication();
            }

            public long getModificationTime() {
                return local.getModificationTime();
            }

            public long getAccessTime() {
                return local.getAccessTime();
            }

            public boolean isDir() {
                return local.isDir();
            }

            public Path getPath() {
                return path;
            }
        }

        @Override
        public URI getUri() {
            return URI.create("objs://bucket/");
        }
    }

    @Test
    void inFlightDataARestoreDiscardsDoesNotMakeTheCheckpointRefused() throws Exception {
        // chk-5, unaligned: its in-flight data file is lost. Flink's remedy is to restore it with
        // execution.state-recovery.without-channel-state.checkpoint-id: 5, which never reads that file
        java.nio.file.Path dir = Files.createDirectories(job.resolve("chk-5"));
        java.nio.file.Path state = Files.write(job.resolve("shared/state-5"), new byte[3]);
        OperatorState op = OperatorStates.create("count", "count", operator, 1, 128);
        op.putState(0, OperatorSubtaskState.builder()
                .setManagedKeyedState(new KeyGroupsStateHandle(new KeyGroupRangeOffsets(KeyGroupRange.of(0, 127)),
                        new FileStateHandle(new Path(pointer(state)), 3)))
                .setInputChannelState(new org.apache.flink.runtime.checkpoint.StateObjectCollection<>(List.of(
                        new org.apache.flink.runtime.state.InputChannelStateHandle(0,
                                new org.apache.flink.runtime.checkpoint.channel.InputChannelInfo(0, 0),
                                new FileStateHandle(new Path(pointer(dir.resolve("in-flight"))), 10), List.of(0L), 10))))
                .build());
        try (OutputStream out = Files.newOutputStream(dir.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(5, List.of(op), List.of()), new DataOutputStream(out));
        }

        assertThatThrownBy(() -> new RecoveryGuard(true, false, false, null).resolve(pointer(dir)))
                .hasMessageContaining("Refusing to resume").hasMessageContaining("in-flight");
        assertThat(new RecoveryGuard(true, false, false, null, 5).resolve(pointer(dir))).isEqualTo(pointer(dir));
        // the option names another checkpoint: this one's in-flight data is restored, and must be there
        assertThatThrownBy(() -> new RecoveryGuard(true, false, false, null, 4).resolve(pointer(dir)))
                .hasMessageContaining("Refusing to resume");
    }

    @Test
    void aJobDirectoryResolvesToItsNewestRestorableCheckpoint() throws Exception {
        RecoveryGuard guard = new RecoveryGuard(true, false, false, null);

        assertThat(new Path(guard.resolve(pointer(job))).getName()).isEqualTo("chk-4");
    }

    @Test
    void aFallbackWhoseListingFailsSaysNothingWasResumedNamingTheKeyAndTheDirectory() {
        ListingFailingFileSystem fs = serveFailingListings(0);
        RecoveryGuard guard = new RecoveryGuard(true, false, true, null);

        assertThatThrownBy(() -> guard.resolve(flakyPointer(job.resolve("chk-3"))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("Refusing to resume") // why it fell back
                .hasMessageContaining("state-3")
                .hasMessageContaining("execution.state-recovery.path = " + flakyPointer(job.resolve("chk-3")))
                .hasMessageContaining(job.getFileName().toString())
                .hasMessageContaining("503 SlowDown")
                .hasMessageContaining("Nothing was resumed");
        assertThat(fs.failedListings.get()).isPositive();
    }

    @Test
    void aJobDirectoryWhoseSearchFailsAfterItWasRecognisedSaysNothingWasResumed() {
        // the first listing recognises the job directory; the search's own listing fails
        ListingFailingFileSystem fs = serveFailingListings(1);
        RecoveryGuard guard = new RecoveryGuard(true, false, false, null);

        assertThatThrownBy(() -> guard.resolve(flakyPointer(job)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("execution.state-recovery.path = " + flakyPointer(job))
                .hasMessageContaining("503 SlowDown")
                .hasMessageContaining("Nothing was resumed");
        assertThat(fs.failedListings.get()).isPositive();
    }

    @AfterEach
    void restoreTheFileSystems() {
        S3TieredSchemeForTests.reset();
    }

    private ListingFailingFileSystem serveFailingListings(int listingsBeforeFailing) {
        ListingFailingFileSystem fs = new ListingFailingFileSystem(new Path(job.toAbsolutePath().toUri()), listingsBeforeFailing);
        S3TieredSchemeForTests.serve("flaky", fs);
        return fs;
    }

    /** Local files under a scheme of the test's, whose listings of the job directory start failing. */
    private static final class ListingFailingFileSystem extends LocalFileSystem {
        private final String jobDir;
        private final AtomicInteger listingsLeft;
        final AtomicInteger failedListings = new AtomicInteger();

        ListingFailingFileSystem(Path jobDir, int listingsBeforeFailing) {
            this.jobDir = jobDir.toUri().getPath();
            this.listingsLeft = new AtomicInteger(listingsBeforeFailing);
        }

        @Override
        public FileStatus[] listStatus(Path f) throws IOException {
            if (trimmed(f.toUri().getPath()).equals(trimmed(jobDir)) && listingsLeft.getAndDecrement() <= 0) {
                failedListings.incrementAndGet();
                throw new IOException("LIST of " + f + " failed: 503 SlowDown (retries exhausted)");
            }
            return super.listStatus(f);
        }

        @Override
        public URI getUri() {
            return URI.create("flaky://bucket/");
        }

        private static String trimmed(String p) {
            return p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
        }
    }

    private static String flakyPointer(java.nio.file.Path p) {
        return "flaky://bucket" + p.toAbsolutePath();
    }

    private static String pointer(java.nio.file.Path p) {
        return "file:" + p.toAbsolutePath();
    }

    /** chk-{id} whose one keyed state file is shared/state-{id} (3 bytes). */
    private void writeCheckpoint(long id) throws Exception {
        writeCheckpoint("chk-" + id, id);
    }

    /** As {@link #writeCheckpoint(long)}, in the directory {@code dirName} of the job directory. */
    private void writeCheckpoint(String dirName, long id) throws Exception {
        java.nio.file.Path dir = Files.createDirectories(job.resolve(dirName));
        java.nio.file.Path file = Files.createDirectories(job.resolve("shared")).resolve("state-" + id);
        Files.write(file, new byte[3]);
        OperatorState op = OperatorStates.create("count", "count", operator, 1, 128);
        op.putState(0, OperatorSubtaskState.builder()
                .setManagedKeyedState(new KeyGroupsStateHandle(new KeyGroupRangeOffsets(KeyGroupRange.of(0, 127)),
                        new FileStateHandle(new Path(pointer(file)), 3)))
                .build());
        try (OutputStream out = Files.newOutputStream(dir.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
    }
}
