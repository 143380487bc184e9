package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.bridge.BridgeContract;

import org.apache.flink.api.common.JobID;
import org.apache.flink.core.fs.EntropyInjectingFileSystem;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStateOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.stream.Stream;

/**
 * The storage's checkpoint streams ({@link TieredStreamFactory}, {@link TieredStateOutputStream})
 * against Flink's own: the same files and handles, but a stream Flink discards is abandoned through
 * the bridge instead of being closed (for the file system: uploaded) and deleted. The {@code
 * s3tiered} scheme is served by the local file system with its calls recorded, answering the
 * bridge's {@link BridgeContract#ABANDON_STREAM} as the plugin does for an open stream.
 */
class TieredStateOutputStreamTest {

    private static final int THRESHOLD = 1024;

    @TempDir
    java.nio.file.Path root;

    /** The recording local file system, whose streams can be abandoned through the bridge. */
    static final class AbandoningFileSystem extends MetadataFileOutputStreamTest.RecordingFileSystem
            implements BiFunction<String, Map<String, Object>, Map<String, Object>>, EntropyInjectingFileSystem {
        /** False: answers as a plugin jar older than the operation. */
        volatile boolean knowsAbandon = true;
        /** When set, a write of a stream waits for it (after counting down {@link #writing}). */
        volatile CountDownLatch writeMayProceed;
        final CountDownLatch writing = new CountDownLatch(1);
        /** When set, a close returns only once it is counted down, after the file is complete (as an upload S3 finished). */
        volatile CountDownLatch closeMayReturn;
        final CountDownLatch closed = new CountDownLatch(1);
        final Map<Object, Path> streams = Collections.synchronizedMap(new HashMap<>());
        /** When set, a deduplicated close refers to this object (an upload ahead with the stream's content). */
        volatile Path uploadedAhead;
        /** Run by a deduplicated close just before it returns (what Flink does meanwhile on another thread). */
        volatile Runnable beforeDeduplicatedCloseReturns = () -> {};

        @Override
        public FSDataOutputStream create(Path filePath, WriteMode overwrite) throws IOException {
            LocalStream out = new LocalStream(this, super.create(filePath, overwrite), filePath);
            streams.put(out, filePath);
            return out;
        }

        /** As the S3 client: no request from an interrupted thread. */
        @Override
        public boolean delete(Path f, boolean recursive) throws IOException {
            if (Thread.currentThread().isInterrupted()) {
                throw new IOException("S3 DeleteObject " + f + " failed (Thread was interrupted)");
            }
            return super.delete(f, recursive);
        }

        /** As {@code s3tiered.entropy.key}: a checkpoint path holding it gets entropy in its data files' paths. */
        @Override
        public String getEntropyInjectionKey() {
            return "_entropy_";
        }

        @Override
        public String generateEntropy() {
            return "e7a3";
        }

        @Override
        public URI getUri() {
            return URI.create("s3tiered://bucket/");
        }

        @Override
        public Map<String, Object> apply(String operation, Map<String, Object> args) {
            if (operation.equals(BridgeContract.CLOSE_DEDUPLICATED) && uploadedAhead != null) {
                // as the plugin when an upload ahead has the stream's content: the stream's own file is
                // dropped, and the checkpoint owns the object uploaded ahead from now on
                LocalStream stream = (LocalStream) args.get(BridgeContract.STREAM);
                stream.closing = true;
                record("closeDeduplicated " + streams.get(stream).getName() + " to " + uploadedAhead.getName());
                try {
                    Files.deleteIfExists(java.nio.file.Path.of(streams.get(stream).toUri().getPath()));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                beforeDeduplicatedCloseReturns.run();
                return Map.of(BridgeContract.OBJECT, uploadedAhead.toString(), BridgeContract.DEDUPLICATED, true);
            }
            if (operation.equals(BridgeContract.CLOSE_DEDUPLICATED)) {
                // as the plugin when no upload ahead has the stream's content: closed (uploaded) as it is
                LocalStream stream = (LocalStream) args.get(BridgeContract.STREAM);
                record("closeDeduplicated " + streams.get(stream).getName() + " within "
                        + args.get(BridgeContract.REUSE_WINDOW_MILLIS) + " ms");
                try {
                    stream.close();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
                return Map.of(BridgeContract.OBJECT, streams.get(stream).toString(), BridgeContract.DEDUPLICATED, false);
            }
            if (!knowsAbandon || !operation.equals(BridgeContract.ABANDON_STREAM)) {
                return Map.of(BridgeContract.ERROR, BridgeContract.ErrorCode.UNSUPPORTED_OPERATION.name(),
                        BridgeContract.ERROR_MESSAGE, "older plugin jar");
            }
            LocalStream stream = (LocalStream) args.get(BridgeContract.STREAM);
            if (stream.abandoned) {
                return Map.of(BridgeContract.ABANDONED, true);
            }
            if (stream.closing) {
                return Map.of(BridgeContract.ABANDONED, false); // its upload started: the caller deletes
            }
            Path path = streams.get(stream);
            record("abandon " + path.getName());
            stream.abandoned = true;
            try {
                Files.deleteIfExists(java.nio.file.Path.of(path.toUri().getPath())); // the staging file, as it were
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return Map.of(BridgeContract.ABANDONED, true);
        }
    }

    /** A local file's stream that the bridge can abandon: then writes fail and close does nothing. */
    static final class LocalStream extends FSDataOutputStream {
        private final AbandoningFileSystem fs;
        private final FSDataOutputStream local;
        private final Path path;
        volatile boolean abandoned;
        /** Closed or closing: for the file system, its upload has started. */
        volatile boolean closing;

        LocalStream(AbandoningFileSystem fs, FSDataOutputStream local, Path path) {
            this.fs = fs;
            this.local = local;
            this.path = path;
        }

        @Override
        public long getPos() throws IOException {
            return local.getPos();
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            CountDownLatch latch = fs.writeMayProceed;
            if (latch != null) {
                fs.writing.countDown();
                try {
                    latch.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (abandoned) {
                throw new IOException("Stream to " + path + " is closed");
            }
            local.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            local.flush();
        }

        @Override
        public void sync() throws IOException {
            local.sync();
        }

        @Override
        public void close() throws IOException {
            if (abandoned || closing) {
                return;
            }
            closing = true;
            fs.record("close " + path.getName());
            local.close();
            CountDownLatch latch = fs.closeMayReturn;
            if (latch != null) {
                fs.closed.countDown();
                try {
                    latch.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private final AbandoningFileSystem fs = new AbandoningFileSystem();
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
        FsCheckpointStorageAccess access = new FsCheckpointStorageAccess(checkpoints, null, true, job, THRESHOLD, 4096);
        access.initializeBaseLocationsForCheckpoint();
        return access;
    }

    /** A TaskManager's streams for checkpoint 7, as the storage resolves them (pre-upload off). */
    private CheckpointStreamFactory storageStreams() throws IOException {
        return storageStreams(CheckpointStorageLocationReference.getDefault(),
                new io.github.s3tiered.preupload.PreUploadSettings(false, 1, 1, 1, 1024, 600_000));
    }

    private CheckpointStreamFactory storageStreams(CheckpointStorageLocationReference reference,
            io.github.s3tiered.preupload.PreUploadSettings preUpload) throws IOException {
        Path jobDir = new Path(checkpoints, job.toString());
        return TieredCheckpointStorageAccess.resolve(flinks(), jobDir, TieredCheckpointStorageAccess.withoutEntropyMarker(jobDir),
                7, reference,
                new TieredCheckpointStorageAccess.StreamSettings(THRESHOLD, 4096, preUpload));
    }

    /** What the shared stream's close asked of the file system, the TaskManager's window being 10 min. */
    private String sharedStreamCloseWith(CheckpointStorageLocationReference reference) throws IOException {
        CheckpointStateOutputStream out = storageStreams(reference,
                new io.github.s3tiered.preupload.PreUploadSettings(true, 600_000, 1, 1, 1024, 600_000))
                .createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);
        out.write(bytes(3000));
        int before = fs.calls.size();
        assertThat(out.closeAndGetHandle()).isInstanceOf(FileStateHandle.class);
        return String.join("; ", fs.calls.subList(before, fs.calls.size())).replaceAll("[0-9a-f-]{36}", "<file>");
    }

    @Test
    void sharedStateReusesUploadsAheadWithinTheShorterOfTheTaskManagersAndTheJobManagersWindow() throws Exception {
        CheckpointStorageLocationReference defaultLocation = CheckpointStorageLocationReference.getDefault();
        // Flink's default reference before the JobManager's window reached this TaskManager (a
        // legacy source triggering its own checkpoint): no reuse, the JobManager keeps no upload for it
        assertThat(sharedStreamCloseWith(defaultLocation)).isEqualTo("create <file> NO_OVERWRITE; close <file>");
        assertThat(sharedStreamCloseWith(LocationReferences.encode(defaultLocation, 60_000, null)))
                .isEqualTo("create <file> NO_OVERWRITE; closeDeduplicated <file> within 60000 ms; close <file>");
        // ... and after it did: the window last received
        assertThat(sharedStreamCloseWith(defaultLocation))
                .isEqualTo("create <file> NO_OVERWRITE; closeDeduplicated <file> within 60000 ms; close <file>");
        assertThat(sharedStreamCloseWith(LocationReferences.encode(defaultLocation, 1_200_000, null)))
                .isEqualTo("create <file> NO_OVERWRITE; closeDeduplicated <file> within 600000 ms; close <file>");
        // held back while the JobManager's grace record is not durable: this checkpoint reuses nothing
        assertThat(sharedStreamCloseWith(LocationReferences.encode(defaultLocation, LocationReferences.REUSE_HELD, null)))
                .isEqualTo("create <file> NO_OVERWRITE; close <file>");
        // ... nor one whose barrier brings Flink's default reference after it
        assertThat(sharedStreamCloseWith(defaultLocation)).isEqualTo("create <file> NO_OVERWRITE; close <file>");
        // pre-upload off in the JobManager: it keeps no upload ahead from its orphan removal
        assertThat(sharedStreamCloseWith(LocationReferences.encode(defaultLocation, LocationReferences.PRE_UPLOAD_OFF, null)))
                .isEqualTo("create <file> NO_OVERWRITE; close <file>");
    }

    @Test
    void aCancelJustAsTheCloseReferredToAnUploadAheadDeletesThatObject() throws Exception {
        // the close took the upload ahead (the checkpoint owns it from then on) and Flink cancels
        // the checkpoint before the handle is returned: no handle names it, and its RocksDB
        // instance can no longer withdraw it, so the stream deletes it
        java.nio.file.Path ahead = Files.createDirectories(root.resolve("checkpoints/" + job + "/shared"))
                .resolve("a".repeat(64) + "-0123456789abcdef.sst");
        Files.write(ahead, bytes(3000));
        fs.uploadedAhead = new Path("s3tiered://bucket" + ahead.toAbsolutePath());
        CheckpointStateOutputStream out = storageStreams(LocationReferences.encode(CheckpointStorageLocationReference.getDefault(),
                        60_000, null), new io.github.s3tiered.preupload.PreUploadSettings(true, 600_000, 1, 1, 1024, 600_000))
                .createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);
        out.write(bytes(3000));
        fs.beforeDeduplicatedCloseReturns = () -> {
            try {
                out.close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };

        assertThatThrownBy(out::closeAndGetHandle).isInstanceOf(IOException.class).hasMessageContaining("closed from another thread");

        assertThat(ahead).as("the object uploaded ahead, which no handle names").doesNotExist();
    }

    private long filesIn(String dir) throws IOException {
        java.nio.file.Path d = root.resolve("checkpoints/" + job + "/" + dir);
        if (!Files.isDirectory(d)) {
            return 0;
        }
        try (Stream<java.nio.file.Path> files = Files.list(d)) {
            return files.count();
        }
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        new java.util.Random(n).nextBytes(b);
        return b;
    }

    @Test
    void filesGoWhereFlinksGoAndGetTheSameHandles() throws Exception {
        CheckpointStreamFactory flinks = flinks().resolveCheckpointStorageLocation(7, CheckpointStorageLocationReference.getDefault());
        CheckpointStreamFactory ours = storageStreams();
        assertThat(ours).isInstanceOf(TieredStreamFactory.class);
        for (CheckpointedStateScope scope : CheckpointedStateScope.values()) {
            StreamStateHandle expected = written(flinks, scope, 100_000);
            StreamStateHandle actual = written(ours, scope, 100_000);
            assertThat(actual).as(scope.name()).isExactlyInstanceOf(expected.getClass());
            assertThat(((FileStateHandle) actual).getFilePath().getParent())
                    .isEqualTo(((FileStateHandle) expected).getFilePath().getParent());
            assertThat(actual.getStateSize()).isEqualTo(100_000);
            assertThat(actual.openInputStream().readAllBytes()).isEqualTo(bytes(100_000));
            assertThat(written(ours, scope, THRESHOLD)).as("inside _metadata").isInstanceOf(ByteStreamStateHandle.class);
            assertThat(ours.createCheckpointStateOutputStream(scope).closeAndGetHandle()).as("nothing written").isNull();
        }
        RelativeFileStateHandle exclusive = (RelativeFileStateHandle) written(ours, CheckpointedStateScope.EXCLUSIVE, 5000);
        assertThat(exclusive.getRelativePath()).isEqualTo(exclusive.getFilePath().getName());
        assertThat(exclusive.getFilePath().getParent().getName()).isEqualTo("chk-7");
    }

    @Test
    void withEntropyInThePathFilesGetItAndAbsoluteHandlesAsFlinksDo() throws Exception {
        checkpoints = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/_entropy_/checkpoints");
        CheckpointStreamFactory flinks = flinks().resolveCheckpointStorageLocation(7, CheckpointStorageLocationReference.getDefault());
        CheckpointStreamFactory ours = storageStreams();
        for (CheckpointedStateScope scope : CheckpointedStateScope.values()) {
            FileStateHandle expected = (FileStateHandle) written(flinks, scope, 100_000);
            FileStateHandle actual = (FileStateHandle) written(ours, scope, 100_000);
            assertThat(actual).as(scope.name()).isExactlyInstanceOf(FileStateHandle.class)
                    .isExactlyInstanceOf(expected.getClass());
            assertThat(actual.getFilePath().getParent()).isEqualTo(expected.getFilePath().getParent());
            assertThat(actual.getFilePath().getPath()).contains("/e7a3/").doesNotContain("_entropy_");
            assertThat(actual.openInputStream().readAllBytes()).isEqualTo(bytes(100_000));
        }
    }

    private static StreamStateHandle written(CheckpointStreamFactory factory, CheckpointedStateScope scope, int size)
            throws IOException {
        CheckpointStateOutputStream out = factory.createCheckpointStateOutputStream(scope);
        out.write(bytes(size));
        return out.closeAndGetHandle();
    }

    @Test
    void aDiscardedStreamIsAbandonedNotUploadedAndDeleted() throws Exception {
        CheckpointStreamFactory streams = storageStreams();
        for (CheckpointedStateScope scope : CheckpointedStateScope.values()) {
            fs.calls.clear();
            CheckpointStateOutputStream out = streams.createCheckpointStateOutputStream(scope);
            out.write(bytes(50_000));
            out.close(); // Flink's CloseableRegistry, cancelling the snapshot
            assertThat(fs.calls).as(scope.name()).hasSize(2).first().asString().startsWith("create ");
            assertThat(fs.calls.get(1)).startsWith("abandon ");
            assertThatThrownBy(out::closeAndGetHandle).hasMessageContaining("already closed");
            out.close();
            assertThat(fs.calls).hasSize(2);
        }
        assertThat(filesIn("chk-7")).isZero();
        assertThat(filesIn("shared")).isZero();
    }

    @Test
    void withAnOlderPluginJarADiscardedStreamIsClosedAndDeletedAsFlinksIs() throws Exception {
        fs.knowsAbandon = false;
        CheckpointStateOutputStream out = storageStreams().createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        out.write(bytes(50_000));
        out.close();
        assertThat(fs.calls).hasSize(3);
        assertThat(fs.calls.get(1)).startsWith("close ");
        assertThat(fs.calls.get(2)).startsWith("delete ");
        assertThat(filesIn("chk-7")).isZero();
    }

    @Test
    void aCancelAfterTheUploadEndedReturnsNoHandleAndTheFileIsDeleted() throws Exception {
        CheckpointStateOutputStream out = storageStreams().createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        out.write(bytes(3000));
        fs.closeMayReturn = new CountDownLatch(1);
        CompletableFuture<StreamStateHandle> closing = CompletableFuture.supplyAsync(() -> {
            try {
                return out.closeAndGetHandle();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertThat(fs.closed.await(10, TimeUnit.SECONDS)).isTrue(); // the file is complete, its close not yet returned
        out.close(); // Flink cancels the checkpoint: too late to abandon
        fs.closeMayReturn.countDown();
        assertThatThrownBy(() -> closing.get(10, TimeUnit.SECONDS)).rootCause()
                .hasMessageContaining("was closed from another thread");
        assertThat(fs.calls).noneMatch(c -> c.startsWith("abandon ")).last().asString().startsWith("delete ");
        assertThat(filesIn("chk-7")).isZero();
    }

    @Test
    void aWriteAfterCloseFailsAsWithFlinksStream() throws Exception {
        CheckpointStreamFactory streams = storageStreams();
        CheckpointStateOutputStream discarded = streams.createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        discarded.write(bytes(10));
        discarded.close();
        assertThatThrownBy(() -> discarded.write(1)).hasMessageContaining("is closed");
        CheckpointStateOutputStream closed = streams.createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);
        closed.write(bytes(10));
        assertThat(closed.closeAndGetHandle()).isInstanceOf(ByteStreamStateHandle.class);
        assertThatThrownBy(() -> closed.write(new byte[5])).hasMessageContaining("is closed");
    }

    @Test
    void aStreamThatMustBeDeletedIsDeletedOnAnInterruptedThreadAndTheInterruptIsKept() throws Exception {
        fs.knowsAbandon = false; // or an upload had started: the file is deleted
        CheckpointStateOutputStream out = storageStreams().createCheckpointStateOutputStream(CheckpointedStateScope.SHARED);
        out.write(bytes(50_000));
        Thread.currentThread().interrupt(); // Flink cancels the snapshot's future with an interrupt
        out.close();
        assertThat(Thread.interrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(fs.calls.get(fs.calls.size() - 1)).startsWith("delete ");
        assertThat(filesIn("shared")).isZero();
    }

    @Test
    void aCancelWhileTheHandleIsObtainedAbandonsTheStreamAndNoHandleIsReturned() throws Exception {
        CheckpointStateOutputStream out = storageStreams().createCheckpointStateOutputStream(CheckpointedStateScope.EXCLUSIVE);
        out.write(bytes(3000)); // in the buffer: closeAndGetHandle writes it to the file
        fs.writeMayProceed = new CountDownLatch(1);
        CompletableFuture<StreamStateHandle> closing = CompletableFuture.supplyAsync(() -> {
            try {
                return out.closeAndGetHandle();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertThat(fs.writing.await(10, TimeUnit.SECONDS)).isTrue();
        out.close(); // from another thread while closing: Flink cancels the checkpoint
        fs.writeMayProceed.countDown();
        assertThatThrownBy(() -> closing.get(10, TimeUnit.SECONDS)).rootCause().hasMessageContaining("is closed");
        assertThat(fs.calls).anyMatch(c -> c.startsWith("abandon "))
                .noneMatch(c -> c.startsWith("close ") || c.startsWith("delete "));
        assertThat(filesIn("chk-7")).isZero();
    }
}
