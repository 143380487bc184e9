package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.tier.TierSteps;

import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A copy read from S3 never enters the local tier after this host wrote, deleted or began
 * rewriting the object while it was read: the tier serves a copy without asking S3, so a slow
 * reader's copy of the old version would be served in place of the new one (or of nothing) from
 * then on. Overwritten objects are real here: the verification status, the pre-upload grace record,
 * and any file Flink writes twice under one name.
 */
class StaleReadCopyTest extends FakeS3FileSystemTest {

    @TempDir java.nio.file.Path restoreDir;

    /** The file system again, with other options. */
    private void fileSystem(Map<String, String> overrides) throws IOException {
        fs.runtime().close();
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, overrides));
    }

    @AfterEach
    void stopListening() {
        TierSteps.listen(step -> {});
    }

    private void write(String key, byte[] data) throws IOException {
        try (FSDataOutputStream out = fs.create(path(key), WriteMode.OVERWRITE)) {
            out.write(data);
        }
    }

    /** Writes the object, then forgets this host's copy: the next read goes to S3. */
    private void writeCold(String key, byte[] data) throws IOException {
        write(key, data);
        fs.runtime().tier().drop(BUCKET, key);
    }

    private static void readFully(FSDataInputStream in, byte[] into, int off, int len) throws IOException {
        int done = 0;
        while (done < len) {
            int n = in.read(into, off + done, len - done);
            assertThat(n).as("end of stream after %s of %s bytes", done, len).isPositive();
            done += n;
        }
    }

    private byte[] readAll(String key) throws IOException {
        try (FSDataInputStream in = fs.open(path(key))) {
            return in.readAllBytes();
        }
    }

    /** A change made once, on the reader's thread, just before a copy read from S3 is checked and kept. */
    private interface Change {
        void make() throws IOException;
    }

    private static AtomicBoolean onceBeforeTheReadsCopyIsKept(Change change) {
        AtomicBoolean once = new AtomicBoolean();
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.READ_COMMIT_CHECKING) && once.compareAndSet(false, true)) {
                try {
                    change.make();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        });
        return once;
    }

    private long staleReadsNotKept() {
        return fs.runtime().tier().statistics().staleReadsNotKept.sum();
    }

    /**
     * Flink deletes a file whose name never changes (a UUID) while the tier's disk refuses to remove
     * its copy (remounted read-only, a failing shard): the copy is no longer served, so neither a read
     * nor a restore finds on this host a file S3 no longer has.
     */
    @Test
    void aDeletedFileWhoseCopyTheDiskWouldNotRemoveIsNoLongerServed() throws Exception {
        String key = "job/shared/" + java.util.UUID.randomUUID();
        byte[] data = bytes(3000, 5);
        try (FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE)) {
            out.write(data);
        }
        assertThat(fs.localTier().getVerified(BUCKET, key)).as("the copy written here").isPresent();
        java.util.concurrent.atomic.AtomicInteger refused = new java.util.concurrent.atomic.AtomicInteger();
        TierSteps.listen(step -> { // the volume refuses every removal from now on
            if (step.equals(TierSteps.REMOVING)) {
                refused.incrementAndGet();
                throw new UncheckedIOException(new java.nio.file.AccessDeniedException(key + ": read-only file system"));
            }
        });

        assertThat(fs.delete(path(key), false)).isTrue();

        assertThat(refused.get()).as("removals the disk refused").isPositive();
        try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(tierDir)) {
            assertThat(files.filter(f -> f.toString().endsWith(".meta")).count()).as("the copy's sidecar is still on disk")
                    .isEqualTo(1);
        }
        assertThat(store.object(BUCKET, key)).isEmpty();
        assertThat(fs.localTier().getVerified(BUCKET, key)).as("a copy of a deleted object").isEmpty();
        assertThatThrownBy(() -> readAll(key)).isInstanceOf(java.io.FileNotFoundException.class);
        java.nio.file.Path target = restoreDir.resolve("deleted");
        assertThatThrownBy(() -> fs.copyFiles(List.of(CopyRequest.of(path(key), new Path(target.toUri()), -1)),
                new CloseableRegistry())).isInstanceOf(IOException.class).hasMessageContaining("No such file: s3://" + BUCKET + "/" + key);
        assertThat(target).doesNotExist();
    }

    /**
     * Flink deletes a file while its stream's close is still uploading it (a discarded handle, a
     * cancelled checkpoint): S3 may take the upload and the delete in either order, so the close keeps
     * no copy, which would be served without asking S3 after S3 took the delete last.
     */
    @Test
    void aFileDeletedWhileItsCloseIsUploadingKeepsNoCopy() throws Exception {
        String key = "job/shared/" + java.util.UUID.randomUUID();
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        store.inject(io.github.s3tiered.s3.InMemoryObjectStore.FaultRule.on("PutObject").keys(key).holdUntil(release));
        FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE);
        out.write(bytes(3000, 6));
        java.util.concurrent.CompletableFuture<Void> closing = FakeS3FileSystems.inBackground(out::close);
        store.awaitCall(c -> c.operation().equals("PutObject") && c.key().equals(key), 1, java.time.Duration.ofSeconds(30));

        assertThat(fs.delete(path(key), false)).isTrue();
        release.countDown();
        closing.get(60, java.util.concurrent.TimeUnit.SECONDS);
        store.deleteObject(BUCKET, key); // S3 took the delete after the upload

        assertThat(fs.localTier().getVerified(BUCKET, key)).as("a copy of a deleted object").isEmpty();
        assertThatThrownBy(() -> readAll(key)).isInstanceOf(java.io.FileNotFoundException.class);
    }

    /**
     * A named file rewritten by a stream whose sync failed with S3's answer lost (S3 took the new
     * version all the same): a restore while the stream is still open must not link the copy of the
     * version before, which S3 no longer holds.
     */
    @Test
    void aRestoreDuringARewriteWhoseSyncFailedLinksNoCopyOfThePreviousVersion() throws Exception {
        String key = "job/chk-4/_metadata";
        byte[] before = bytes(2000, 7);
        byte[] after = bytes(2500, 8);
        write(key, before);
        assertThat(fs.localTier().getVerified(BUCKET, key)).isPresent();
        store.inject(io.github.s3tiered.s3.InMemoryObjectStore.FaultRule.on("PutObject").keys(key).attempt(2)
                .error(400, "InvalidRequest"));
        FSDataOutputStream out = fs.create(path(key), WriteMode.OVERWRITE);
        try {
            out.write(after);
            assertThatThrownBy(out::sync).isInstanceOf(IOException.class);
            java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(after);
            store.putRaw(BUCKET, key, after, (int) crc.getValue()); // the request S3 completed, its answer lost

            java.nio.file.Path target = restoreDir.resolve("metadata");
            fs.copyFiles(List.of(CopyRequest.of(path(key), new Path(target.toUri()), -1)), new CloseableRegistry());

            assertThat(java.nio.file.Files.readAllBytes(target)).as("what S3 holds").isEqualTo(after);
        } finally {
            out.close();
        }
    }

    /**
     * A synced file (Flink's file merging) whose close failed after its request went out: S3 may
     * still complete that request. A read meanwhile keeps no copy of the synced version, which S3
     * would no longer hold once the close's upload lands, and which would be served without asking.
     */
    @Test
    void aCloseWhoseUploadFailedWithItsRequestOutLeavesNoCopyOfTheVersionBefore() throws Exception {
        String key = "job/shared/" + java.util.UUID.randomUUID();
        byte[] first = bytes(1000, 9);
        byte[] rest = bytes(800, 10);
        // the sync's PUT (attempt 1) succeeds, every attempt of the close's fails with a 500, which S3 may
        // have completed all the same
        store.inject(io.github.s3tiered.s3.InMemoryObjectStore.FaultRule.on("PutObject").keys(key)
                .attempts(2, Integer.MAX_VALUE).internalError());
        FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE);
        out.write(first);
        out.sync();
        out.write(rest);
        assertThatThrownBy(out::close).isInstanceOf(IOException.class);

        assertThat(readAll(key)).as("what the sync made durable").isEqualTo(first);
        byte[] whole = java.nio.ByteBuffer.allocate(first.length + rest.length).put(first).put(rest).array();
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(whole);
        store.putRaw(BUCKET, key, whole, (int) crc.getValue()); // the close's request, completed late

        assertThat(readAll(key)).as("what S3 holds").isEqualTo(whole);
        assertThat(fs.localTier().getVerified(BUCKET, key)).isEmpty();
    }

    /**
     * A sync whose upload failed with its request out, then a close that succeeds: the failed sync
     * may still complete in S3 after the close, so the close keeps no copy and reads go to S3.
     */
    @Test
    void aCloseAfterASyncFailedWithItsRequestOutKeepsNoCopy() throws Exception {
        String key = "job/shared/" + java.util.UUID.randomUUID();
        byte[] first = bytes(1000, 11);
        byte[] rest = bytes(600, 12);
        // every attempt of the sync's PUT fails with a 500 (3 attempts), the close's succeeds
        store.inject(io.github.s3tiered.s3.InMemoryObjectStore.FaultRule.on("PutObject").keys(key).attempts(1, 3)
                .internalError());
        FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE);
        out.write(first);
        assertThatThrownBy(out::sync).isInstanceOf(IOException.class);
        out.write(rest);
        out.close();

        assertThat(fs.localTier().getVerified(BUCKET, key)).as("a copy S3 may not keep").isEmpty();
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(first);
        store.putRaw(BUCKET, key, first, (int) crc.getValue()); // the sync's request, completed late
        assertThat(readAll(key)).as("what S3 holds").isEqualTo(first);
        assertThat(fs.localTier().getVerified(BUCKET, key)).as("nor kept by a read meanwhile").isEmpty();
    }

    @Test
    void aTierSharedWithAProcessOfAnotherS3ServiceNeverServesItsCopyOfTheSameBucketAndKey() throws Exception {
        // Both processes use the host's default tier directory; each talks to its own service,
        // where the bucket and the key (a fixed job id's _metadata) exist with other contents.
        byte[] ours = bytes(4000, 1);
        byte[] theirs = bytes(4000, 2);
        write("job/chk-1/_metadata", ours);
        assertThat(readAll("job/chk-1/_metadata")).isEqualTo(ours);

        io.github.s3tiered.s3.S3Statistics otherStats = new io.github.s3tiered.s3.S3Statistics();
        io.github.s3tiered.s3.InMemoryObjectStore otherService = new io.github.s3tiered.s3.InMemoryObjectStore(otherStats);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(theirs);
        otherService.putRaw(BUCKET, "job/chk-1/_metadata", theirs, (int) crc.getValue());
        S3TieredFileSystem other = FakeS3FileSystems.create(otherService, otherStats, FakeS3FileSystems.config(tierDir,
                Map.of(S3TieredOptions.ENDPOINT.key(), "http://other-service.test:9000")));
        try {
            try (FSDataInputStream in = other.open(path("job/chk-1/_metadata"))) {
                assertThat(in.readAllBytes()).as("the other service's object, not this one's copy").isEqualTo(theirs);
            }
            // and the other process's copy, kept in the tier in turn, is not served here either
            assertThat(readAll("job/chk-1/_metadata")).isEqualTo(ours);
            assertThat(stats.requestCount("GetObject")).as("this process's copy stayed its own").isZero();
        } finally {
            other.runtime().close();
        }
    }

    @Test
    void aNamedObjectReplacedInS3ByAnotherWriterIsReadFromS3NotFromThisHostsCopy() throws Exception {
        // a "latest savepoint" prefix refreshed with aws s3 sync, a backup copied back into place:
        // without the recovery guard, Flink would resume the previous savepoint's _metadata
        byte[] ours = bytes(4000, 1);
        write("savepoints/latest/_metadata", ours);
        assertThat(readAll("savepoints/latest/_metadata")).isEqualTo(ours);
        assertThat(stats.requestCount("GetObject")).as("served from this host's copy").isZero();

        byte[] same = bytes(4000, 2); // the same size: only the recorded CRC32C tells them apart
        store.putRaw(BUCKET, "savepoints/latest/_metadata", same, io.github.s3tiered.s3.InMemoryObjectStore.crc32c(same));
        assertThat(readAll("savepoints/latest/_metadata")).isEqualTo(same);
        byte[] longer = bytes(5000, 3);
        store.putRaw(BUCKET, "savepoints/latest/_metadata", longer, io.github.s3tiered.s3.InMemoryObjectStore.crc32c(longer));
        assertThat(readAll("savepoints/latest/_metadata")).isEqualTo(longer);

        // deleted in S3: gone, whatever this host kept
        store.deleteObject(BUCKET, "savepoints/latest/_metadata");
        assertThatThrownBy(() -> readAll("savepoints/latest/_metadata")).isInstanceOf(FileNotFoundException.class);

        // a data file's name pins its content: its copy is served without asking S3
        String data = "job/shared/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        write(data, bytes(3000, 4));
        long heads = stats.requestCount("HeadObject");
        assertThat(readAll(data)).isEqualTo(bytes(3000, 4));
        assertThat(stats.requestCount("HeadObject")).isEqualTo(heads);
    }

    @Test
    void aReadThatEndsAfterAnOverwriteKeepsNoCopyOfTheVersionItRead() throws Exception {
        fileSystem(STREAMING_READS);
        byte[] v1 = bytes(300_000, 1);
        byte[] v2 = bytes(200_000, 2);
        writeCold("status", v1);

        byte[] read = new byte[v1.length];
        try (FSDataInputStream in = fs.open(path("status"))) {
            readFully(in, read, 0, 100_000);
            write("status", v2); // S3 holds v2 now, and so does this host's tier
            readFully(in, read, 100_000, v1.length - 100_000);
            assertThat(in.read()).isEqualTo(-1);
        }
        assertThat(read).as("the reader gets the version it began with").isEqualTo(v1);

        int getsBefore = store.calls("GetObject").size();
        assertThat(readAll("status")).as("the newer version, not the slow reader's copy").isEqualTo(v2);
        assertThat(store.calls("GetObject")).as("served from the writer's copy").hasSize(getsBefore);
        assertThat(staleReadsNotKept()).isEqualTo(1);
    }

    /** A file downloaded and checked before it is served: overwritten before its copy is kept. */
    @Test
    void aWholeFirstReadOverwrittenBeforeItsCopyIsKeptKeepsNoCopyOfTheVersionItRead() throws Exception {
        byte[] v1 = bytes(300_000, 11);
        byte[] v2 = bytes(200_000, 12);
        writeCold("status", v1);
        AtomicBoolean once = onceBeforeTheReadsCopyIsKept(() -> write("status", v2)); // S3 holds v2 now, and so does this host's tier
        byte[] read;
        try (FSDataInputStream in = fs.open(path("status"))) {
            read = in.readAllBytes();
        }
        TierSteps.listen(step -> {});
        assertThat(once).isTrue();
        assertThat(read).as("the reader gets the version it downloaded").isEqualTo(v1);

        int getsBefore = store.calls("GetObject").size();
        assertThat(readAll("status")).as("the newer version, not the reader's copy").isEqualTo(v2);
        assertThat(store.calls("GetObject")).as("served from the writer's copy").hasSize(getsBefore);
        assertThat(staleReadsNotKept()).isEqualTo(1);
    }

    @Test
    void aWholeFirstReadDeletedBeforeItsCopyIsKeptKeepsNoCopy() throws Exception {
        byte[] v1 = bytes(300_000, 13);
        writeCold("grace", v1);
        AtomicBoolean once = onceBeforeTheReadsCopyIsKept(() -> assertThat(fs.delete(path("grace"), false)).isTrue());
        try (FSDataInputStream in = fs.open(path("grace"))) {
            assertThat(in.readAllBytes()).isEqualTo(v1);
        }
        TierSteps.listen(step -> {});
        assertThat(once).isTrue();

        assertThatThrownBy(() -> fs.open(path("grace"))).as("deleted: no copy may serve it")
                .isInstanceOf(FileNotFoundException.class);
        assertThat(staleReadsNotKept()).isEqualTo(1);
    }

    @Test
    void aReadThatEndsAfterADeleteKeepsNoCopy() throws Exception {
        fileSystem(STREAMING_READS);
        byte[] v1 = bytes(300_000, 3);
        writeCold("grace", v1);

        byte[] read = new byte[v1.length];
        try (FSDataInputStream in = fs.open(path("grace"))) {
            readFully(in, read, 0, 100_000);
            assertThat(fs.delete(path("grace"), false)).isTrue();
            readFully(in, read, 100_000, v1.length - 100_000);
        }
        assertThat(read).isEqualTo(v1);

        assertThatThrownBy(() -> fs.open(path("grace"))).as("deleted: no copy may serve it")
                .isInstanceOf(FileNotFoundException.class);
        assertThat(staleReadsNotKept()).isEqualTo(1);
    }

    @Test
    void aRestoreDownloadThatEndsAfterADeleteKeepsNoCopy() throws Exception {
        byte[] a = bytes(100_000, 4);
        writeCold("cp/a", a);
        AtomicBoolean deleted = new AtomicBoolean();
        // the download is complete and about to be kept when another thread deletes the object
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.READ_COMMIT_CHECKING) && deleted.compareAndSet(false, true)) {
                try {
                    fs.delete(path("cp/a"), false);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        });
        java.nio.file.Path target = restoreDir.resolve("a");
        fs.copyFiles(List.of(CopyRequest.of(path("cp/a"), new Path(target.toUri()), -1)), new CloseableRegistry());
        TierSteps.listen(step -> {});

        assertThat(deleted).isTrue();
        assertThat(Files.readAllBytes(target)).as("the restore has the bytes it downloaded").isEqualTo(a);
        assertThat(fs.runtime().tier().getVerified(BUCKET, "cp/a")).isEmpty();
        assertThatThrownBy(() -> fs.open(path("cp/a"))).isInstanceOf(FileNotFoundException.class);
    }

    @Test
    void aReadNothingChangedMeanwhileKeepsItsCopy() throws Exception {
        byte[] v1 = bytes(300_000, 5);
        writeCold("kept", v1);
        write("other", bytes(1_000, 6)); // other keys change meanwhile (most stripes differ)
        assertThat(readAll("kept")).isEqualTo(v1);

        int getsBefore = store.calls("GetObject").size();
        assertThat(readAll("kept")).isEqualTo(v1);
        assertThat(store.calls("GetObject")).as("the second read is served from the copy the first kept")
                .hasSize(getsBefore);
    }

    /**
     * An overwrite whose PUT S3 stored but whose answer was lost, and whose retry was refused: the
     * write fails, yet S3 holds the new version. The copy of the old one must not go on being
     * served here.
     */
    @Test
    void aFailedOverwriteThatReachedS3RemovesTheCopyOfTheOldVersion() throws Exception {
        byte[] v1 = bytes(100_000, 9);
        byte[] v2 = bytes(120_000, 10);
        write("record", v1);
        assertThat(fs.runtime().tier().getVerified(BUCKET, "record")).isPresent();
        io.github.s3tiered.s3.ObjectStore answerLost = FakeS3FileSystems.firstPutStoredAnswerLostThenRefused(store);
        S3TieredFileSystem lossy = FakeS3FileSystems.create(answerLost, stats, FakeS3FileSystems.config(tierDir, Map.of()));
        try {
            FSDataOutputStream out = lossy.create(path("record"), WriteMode.OVERWRITE);
            out.write(v2);
            assertThatThrownBy(out::close).isInstanceOf(IOException.class);
            assertThat(store.object(BUCKET, "record")).as("S3 stored it all the same").hasValue(v2);

            assertThat(lossy.runtime().tier().getVerified(BUCKET, "record")).isEmpty();
            try (FSDataInputStream in = lossy.open(path("record"))) {
                assertThat(in.readAllBytes()).isEqualTo(v2);
            }
        } finally {
            lossy.runtime().close();
        }
    }

    @Test
    void anOverwriteTooLargeForTheTierRemovesTheCopyOfTheOldVersion() throws Exception {
        fileSystem(Map.of("s3tiered.local.max-bytes", "1mb"));
        byte[] v1 = bytes(100_000, 7);
        byte[] v2 = bytes(2 << 20, 8);
        write("big", v1);
        assertThat(fs.runtime().tier().getVerified(BUCKET, "big")).isPresent();

        write("big", v2); // uploaded, too large to keep
        assertThat(fs.runtime().tier().getVerified(BUCKET, "big")).isEmpty();
        assertThat(readAll("big")).isEqualTo(v2);
    }

    /**
     * Two streams of this process write one key at once: A's PUT is stored first, then B's (S3
     * keeps B), but A's answer arrives after B closed. Neither keeps a copy, so a read of the
     * name (one whose content never changes: served from the tier without asking S3) returns what
     * S3 holds.
     */
    @Test
    void twoStreamsWritingOneKeyAtOnceLeaveNoCopyOfTheVersionS3DidNotKeep() throws Exception {
        java.util.concurrent.CountDownLatch aStored = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch bClosed = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger puts = new java.util.concurrent.atomic.AtomicInteger();
        io.github.s3tiered.s3.ObjectStore slowFirstAnswer = (io.github.s3tiered.s3.ObjectStore) java.lang.reflect.Proxy
                .newProxyInstance(getClass().getClassLoader(), new Class<?>[] {io.github.s3tiered.s3.ObjectStore.class},
                        (proxy, method, args) -> {
                            Object r;
                            try {
                                r = method.invoke(store, args);
                            } catch (java.lang.reflect.InvocationTargetException e) {
                                throw e.getCause();
                            }
                            if (method.getName().equals("putObject") && puts.incrementAndGet() == 1) {
                                aStored.countDown();
                                bClosed.await(30, java.util.concurrent.TimeUnit.SECONDS); // A's answer is slow
                            }
                            return r;
                        });
        fs.runtime().close();
        fs = FakeS3FileSystems.create(slowFirstAnswer, stats, FakeS3FileSystems.config(tierDir, Map.of()));
        String key = "cp/shared/7c1f0d7e-1111-4a2b-8c3d-0123456789ab";
        byte[] a = bytes(1000, 1);
        byte[] b = bytes(1000, 2);
        FSDataOutputStream outA = fs.create(path(key), WriteMode.OVERWRITE);
        FSDataOutputStream outB = fs.create(path(key), WriteMode.OVERWRITE);
        outA.write(a);
        outB.write(b);
        java.util.concurrent.CompletableFuture<Void> closingA = FakeS3FileSystems.inBackground(outA::close);
        assertThat(aStored.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        outB.close();
        bClosed.countDown();
        closingA.get(30, java.util.concurrent.TimeUnit.SECONDS);

        assertThat(store.object(BUCKET, key)).hasValue(b);
        assertThat(fs.localTier().getVerified(BUCKET, key)).as("no copy of either version").isEmpty();
        assertThat(readAll(key)).isEqualTo(b);
        write(key, a); // a stream alone keeps its copy again
        assertThat(fs.localTier().getVerified(BUCKET, key)).isPresent();
    }
}
