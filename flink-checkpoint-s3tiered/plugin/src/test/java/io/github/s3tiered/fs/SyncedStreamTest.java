package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.inBackground;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code sync()} makes what was written so far durable, as Flink's file merging needs: it syncs a
 * physical file after each segment, keeps writing it, and a checkpoint completes with the segments
 * synced so far. The object then holds at least every byte synced, in place.
 */
class SyncedStreamTest extends FakeS3FileSystemTest {

    private static final int MIB = 1024 * 1024;

    private TieredOutputStream create(String key) throws IOException {
        return (TieredOutputStream) fs.create(path(key), WriteMode.NO_OVERWRITE);
    }

    @Test
    void eachSyncPutsWhatWasWrittenSoFarInS3AndTheStreamGoesOn() throws Exception {
        byte[] first = bytes(1000, 1);
        byte[] second = bytes(10, 2);
        byte[] third = bytes(5, 3);
        TieredOutputStream out = create("cp/merged");

        out.write(first);
        out.sync();
        assertThat(store.object(BUCKET, "cp/merged")).hasValueSatisfying(o -> assertThat(o).isEqualTo(first));

        out.write(second);
        out.sync();
        assertThat(store.object(BUCKET, "cp/merged")).hasValueSatisfying(o -> assertThat(o).isEqualTo(concat(first, second)));
        int calls = store.calls().size();
        out.sync();
        assertThat(store.calls()).as("nothing new: no request").hasSize(calls);

        out.write(third);
        out.close();
        byte[] whole = concat(first, second, third);
        assertThat(store.object(BUCKET, "cp/merged")).hasValueSatisfying(o -> assertThat(o).isEqualTo(whole));
        assertThat(read("cp/merged")).isEqualTo(whole);
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void closingRightAfterASyncUploadsNothingMore() throws Exception {
        byte[] data = bytes(12 * MIB, 4); // above the multipart threshold
        TieredOutputStream out = create("cp/synced-then-closed");
        out.write(data);
        out.sync();
        int calls = store.calls().size();

        out.close();

        assertThat(store.calls()).hasSize(calls);
        assertThat(store.object(BUCKET, "cp/synced-then-closed")).hasValueSatisfying(o -> assertThat(o).isEqualTo(data));
        assertThat(read("cp/synced-then-closed")).isEqualTo(data);
    }

    @Test
    void aFirstSyncCancelledLeavesNoObject() throws Exception {
        // the PUT stalls until the close is done, then times out: a retry would follow unless cancelled
        CountDownLatch closed = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/first-sync-cancelled").attempt(1).stallUntil(closed));
        TieredOutputStream out = create("cp/first-sync-cancelled");
        out.write(bytes(1000, 11));
        CompletableFuture<Void> syncing = inBackground(out::sync);
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(30));

        out.close();
        closed.countDown();

        assertThatThrownBy(() -> syncing.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.object(BUCKET, "cp/first-sync-cancelled")).isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    /** A first sync cancelled before S3 took its body: the object there before (OVERWRITE) is still the durable one. */
    @Test
    void aFirstSyncCancelledOverAnEarlierObjectLeavesThatObject() throws Exception {
        byte[] earlier = bytes(700, 14);
        try (var out = fs.create(path("cp/rewritten"), WriteMode.OVERWRITE)) {
            out.write(earlier);
        }
        CountDownLatch closed = new CountDownLatch(1);
        // the PUT never stores its body: it stalls until the close is done, then times out
        store.inject(FaultRule.on("PutObject").keys("cp/rewritten").attempt(2).stallUntil(closed));
        TieredOutputStream out = (TieredOutputStream) fs.create(path("cp/rewritten"), WriteMode.OVERWRITE);
        out.write(bytes(1000, 15));
        CompletableFuture<Void> syncing = inBackground(out::sync);
        store.awaitCalls("PutObject", 2, Duration.ofSeconds(30));

        out.close();
        closed.countDown();

        assertThatThrownBy(() -> syncing.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.object(BUCKET, "cp/rewritten")).hasValueSatisfying(o -> assertThat(o).isEqualTo(earlier));
        assertThat(read("cp/rewritten")).isEqualTo(earlier);
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aReadOfAnObjectStillSyncedHereKeepsNoLocalCopyUntilItsStreamCloses() throws Exception {
        byte[] first = bytes(1000, 12);
        TieredOutputStream out = create("cp/read-while-written");
        out.write(first);
        out.sync();

        assertThat(read("cp/read-while-written")).isEqualTo(first);
        assertThat(fs.localTier().getVerified(BUCKET, "cp/read-while-written")).as("a shorter, older version").isEmpty();

        byte[] second = bytes(500, 13);
        out.write(second);
        out.close();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/read-while-written"))
                .hasValueSatisfying(e -> assertThat(e.size()).isEqualTo(1500));
        assertThat(read("cp/read-while-written")).isEqualTo(concat(first, second));
    }

    @Test
    void aFailedSyncSaysSoAndTheCloseUploadsEverything() throws Exception {
        store.inject(FaultRule.on("PutObject").keys("cp/failing").attempt(1).error(403, "AccessDenied"));
        byte[] first = bytes(1000, 5);
        byte[] second = bytes(300, 6);
        TieredOutputStream out = create("cp/failing");
        out.write(first);

        assertThatThrownBy(out::sync).isInstanceOf(IOException.class)
                .hasMessageContaining("cp/failing").hasMessageContaining("not durable");
        assertThat(store.object(BUCKET, "cp/failing")).isEmpty();

        out.write(second);
        out.close();
        assertThat(store.object(BUCKET, "cp/failing")).hasValueSatisfying(o -> assertThat(o).isEqualTo(concat(first, second)));
    }

    /**
     * Flink's own checkpoint stream ({@code FsCheckpointStateOutputStream#closeAndGetHandle}) syncs,
     * and when the sync fails deletes the path and never closes the stream: the delete abandons
     * it, so its staging file goes at once (not hours later, with the tier's leftover scan) and no
     * later close creates the object the delete removed.
     */
    @Test
    void aDeleteOfThePathAfterAFailedSyncAbandonsTheStreamAsFlinksCheckpointStreamLeavesIt() throws Exception {
        store.inject(FaultRule.on("PutObject").keys("cp/flink-sync").attempt(1).error(403, "AccessDenied"));
        TieredOutputStream out = create("cp/flink-sync");
        out.write(bytes(1000, 11));
        assertThatThrownBy(out::sync).isInstanceOf(IOException.class).hasMessageContaining("not durable");
        assertThat(stagingFiles()).isOne();

        fs.delete(path("cp/flink-sync"), false);

        assertThat(stagingFiles()).as("the staging file of the stream given up").isZero();
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed");
        out.close();
        assertThat(store.object(BUCKET, "cp/flink-sync")).isEmpty();
    }

    /** A recursive delete (a failed checkpoint's directory) abandons the open streams below it, and no other. */
    @Test
    void aRecursiveDeleteAbandonsTheOpenStreamsBelowItOnly() throws Exception {
        TieredOutputStream inside = create("cp/chk-9/state");
        TieredOutputStream beside = create("cp/chk-90/state");
        inside.write(bytes(100, 12));
        beside.write(bytes(100, 13));

        fs.delete(path("cp/chk-9"), true);

        assertThatThrownBy(() -> inside.write(1)).hasMessageContaining("is closed");
        inside.close();
        beside.close();
        assertThat(store.object(BUCKET, "cp/chk-9/state")).isEmpty();
        assertThat(store.object(BUCKET, "cp/chk-90/state")).isPresent();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void anAbandonedStreamKeepsWhatASyncMadeDurable() throws Exception {
        // a completed checkpoint may refer to the synced bytes: deleting is the caller's decision
        byte[] synced = bytes(1000, 7);
        TieredOutputStream out = create("cp/abandoned-after-sync");
        out.write(synced);
        out.sync();
        out.write(bytes(50, 10));

        assertThat(out.abandon()).as("an object exists: the caller is told so").isFalse();
        assertThat(out.abandon()).as("and again").isFalse();

        assertThat(store.object(BUCKET, "cp/abandoned-after-sync")).hasValueSatisfying(o -> assertThat(o).isEqualTo(synced));
        assertThat(stagingFiles()).isZero();
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed");
        assertThatThrownBy(out::sync).hasMessageContaining("is closed");
    }

    /**
     * The sync's PUT stores the object, its answer is lost, and the retry is refused: the sync fails
     * ("not durable"), yet S3 holds the object. An abandon then leaves the delete to its caller
     * instead of saying nothing was created (the object would stay, referenced by nothing).
     */
    @Test
    void anAbandonAfterAFailedSyncThatReachedS3LeavesTheDeleteToTheCaller() throws Exception {
        io.github.s3tiered.s3.ObjectStore answerLost = FakeS3FileSystems.firstPutStoredAnswerLostThenRefused(store);
        S3TieredFileSystem lossy = FakeS3FileSystems.create(answerLost, stats, FakeS3FileSystems.config(tierDir, java.util.Map.of()));
        try {
            TieredOutputStream out = (TieredOutputStream) lossy.create(path("cp/lost-sync"), WriteMode.NO_OVERWRITE);
            out.write(bytes(1000, 13));
            assertThatThrownBy(out::sync).hasMessageContaining("not durable");
            assertThat(store.object(BUCKET, "cp/lost-sync")).as("S3 stored it all the same").isPresent();

            assertThat(out.abandon()).as("the object may exist: its delete is the caller's").isFalse();
            assertThat(out.abandon()).as("asked again").isFalse();
            assertThat(stagingFiles()).isZero();
        } finally {
            lossy.runtime().close();
        }
    }

    /**
     * A close from another thread cancels a close's PUT whose body S3 received whole: the client's
     * request is aborted while it awaits the answer, and S3 stores the object after the canceller
     * (Flink's checkpoint stream: close, then delete of the path) deleted the path. The uploading
     * thread deletes it, as after a cancelled sync: nothing refers to it.
     */
    @Test
    void aCloseCancelledWhileS3StoresItsAbortedPutLeavesNoObject() throws Exception {
        CountDownLatch putSent = new CountDownLatch(1);
        CountDownLatch cancellerDeleted = new CountDownLatch(1);
        io.github.s3tiered.s3.ObjectStore storesAfterTheAbort = (io.github.s3tiered.s3.ObjectStore) java.lang.reflect.Proxy
                .newProxyInstance(getClass().getClassLoader(), new Class<?>[] {io.github.s3tiered.s3.ObjectStore.class},
                        (proxy, method, args) -> {
                            if (method.getName().equals("putObject")) {
                                putSent.countDown();
                                cancellerDeleted.await(30, TimeUnit.SECONDS);
                                invoke(method, args);
                                throw new IOException("PutObject aborted: the cancellation closed the connection");
                            }
                            return invoke(method, args);
                        });
        S3TieredFileSystem late = FakeS3FileSystems.create(storesAfterTheAbort, stats,
                FakeS3FileSystems.config(tierDir, java.util.Map.of()));
        try {
            TieredOutputStream out = (TieredOutputStream) late.create(path("cp/shared/close-cancelled"), WriteMode.NO_OVERWRITE);
            out.write(bytes(1000, 14));
            CompletableFuture<Void> closing = inBackground(out::close);
            assertThat(putSent.await(30, TimeUnit.SECONDS)).isTrue();

            out.close();
            late.delete(path("cp/shared/close-cancelled"), false);
            cancellerDeleted.countDown();

            assertThatThrownBy(() -> closing.get(60, TimeUnit.SECONDS)).rootCause()
                    .isInstanceOf(Cancellation.CancelledException.class);
            // deleted in the background: the cancelled close does not wait for an S3 that may not answer
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (store.object(BUCKET, "cp/shared/close-cancelled").isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(store.object(BUCKET, "cp/shared/close-cancelled")).as("referred to by nothing").isEmpty();
            assertThat(stagingFiles()).isZero();
        } finally {
            late.runtime().close();
        }
    }

    private Object invoke(java.lang.reflect.Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(store, args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** S3 completes the first sync's PUT after the close cancelled it: the sync's caller hears "cancelled". */
    @Test
    void aFirstSyncThatS3CompletesAfterItsCancelLeavesNoObject() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/first-sync-completed-late").attempt(1).holdUntil(release));
        TieredOutputStream out = create("cp/first-sync-completed-late");
        out.write(bytes(1000, 12));
        CompletableFuture<Void> syncing = inBackground(out::sync);
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(30));

        out.close();
        release.countDown();

        assertThatThrownBy(() -> syncing.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.object(BUCKET, "cp/first-sync-completed-late")).as("nobody was told it is durable").isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aCloseFromAnotherThreadDuringASyncCancelsItAndKeepsWhatWasSyncedBefore() throws Exception {
        // the second sync's PUT stalls until Flink, cancelling the checkpoint, has closed the stream
        CountDownLatch closed = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/cancelled-sync").attempt(2).stallUntil(closed));
        byte[] synced = bytes(1000, 8);
        TieredOutputStream out = create("cp/cancelled-sync");
        out.write(synced);
        out.sync();
        out.write(bytes(1000, 9));
        CompletableFuture<Void> syncing = inBackground(out::sync);
        store.awaitCalls("PutObject", 2, Duration.ofSeconds(30));

        out.close();
        closed.countDown();

        assertThatThrownBy(() -> syncing.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        assertThat(store.calls("PutObject")).hasSize(2);
        assertThat(store.object(BUCKET, "cp/cancelled-sync")).as("what the first sync made durable")
                .hasValueSatisfying(o -> assertThat(Arrays.copyOf(o, synced.length)).isEqualTo(synced));
        assertThat(stagingFiles()).isZero();
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed");
    }

    private byte[] read(String key) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (FSDataInputStream in = fs.open(path(key))) {
            in.transferTo(bytes);
        }
        return bytes.toByteArray();
    }

    private long stagingFiles() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            return files.count();
        }
    }

    private static byte[] concat(byte[]... parts) {
        byte[] all = new byte[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }
}
