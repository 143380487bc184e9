package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/**
 * Upload ahead of the checkpoint and deduplication of the checkpoint's stream, through the bridge
 * as the storage calls them, over the in-memory object store.
 */
class PreUploadTest extends FakeS3FileSystemTest {

    private static final long WINDOW = 600_000;
    private static final Path SHARED = path("job/shared");
    /** The keys of uploads ahead of a checkpoint in the job's shared/: content hash, then what makes each upload's its own. */
    private static final String AHEAD = "job/shared/[0-9a-f]{64}-[0-9a-f]{16}\\.sst";

    @TempDir java.nio.file.Path rocksDir;

    private S3TieredBridge bridge;

    @BeforeEach
    void createBridge() {
        bridge = S3TieredBridge.of(fs).orElseThrow();
    }

    private java.nio.file.Path sst(String name, byte[] content) throws IOException {
        return Files.write(rocksDir.resolve(name), content);
    }

    private FSDataOutputStream checkpointStream(String key, byte[] content) throws IOException {
        FSDataOutputStream out = fs.create(path(key), WriteMode.NO_OVERWRITE);
        out.write(content);
        return out;
    }

    private CompletableFuture<S3TieredBridge.PreUploaded> preUploadInBackground(java.nio.file.Path file) {
        return preUploadInBackground(bridge, file);
    }

    private static CompletableFuture<S3TieredBridge.PreUploaded> preUploadInBackground(S3TieredBridge b, java.nio.file.Path file) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return b.preUpload(SHARED, file, WINDOW);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** A checkpoint stream's close on a thread of its own, as Flink's upload thread does it. */
    private CompletableFuture<S3TieredBridge.ClosedStream> closeInBackground(FSDataOutputStream out) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return bridge.closeDeduplicated(out, WINDOW);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static String key(Path object) {
        return object.toUri().getPath().substring(1);
    }

    /** The objects in the job's shared/ that uploads ahead made of this content. */
    private java.util.List<String> uploadedAhead(byte[] content) throws Exception {
        return store.list(BUCKET, "job/shared/" + sha256(content), null, null, null, 1000).objects().stream()
                .map(io.github.s3tiered.s3.ObjectInfo::key).toList();
    }

    @Test
    void aCheckpointStreamWithPreUploadedContentRefersToThatObjectAndUploadsNothing() throws Exception {
        byte[] content = bytes(3 * 1024 * 1024, 1);
        S3TieredBridge.PreUploaded pre = bridge.preUpload(SHARED, sst("000012.sst", content), WINDOW);
        String casKey = key(pre.object());
        assertThat(pre.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.UPLOADED);
        assertThat(casKey).matches(AHEAD).startsWith("job/shared/" + sha256(content) + "-");
        assertThat(store.object(BUCKET, casKey)).hasValue(content);
        int putsBefore = store.calls("PutObject").size();

        FSDataOutputStream out = checkpointStream("job/shared/uuid-1", content);
        S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(out, WINDOW);

        assertThat(closed.deduplicated()).isTrue();
        assertThat(closed.object()).isEqualTo(path(casKey));
        assertThat(store.object(BUCKET, "job/shared/uuid-1")).as("the stream's own object is never created").isEmpty();
        assertThat(bridge.abandon(out)).as("discarded after all: nothing at its own path to delete").isTrue();
        assertThat(store.calls("PutObject")).hasSize(putsBefore);
        assertThat(stats.deduplicatedUploads.sum()).isEqualTo(1);
        assertThat(stats.deduplicatedBytes.sum()).isEqualTo(content.length);
        // the local tier serves the pre-uploaded object
        assertThat(fs.runtime().tier().getVerified(BUCKET, casKey)).isPresent();
        assertThat(Files.list(tierDir.resolve("v1/staging"))).isEmpty();
    }

    @Test
    void aPreUploadedObjectIsHandedOutOnceThenTheContentIsUploadedAgain() throws Exception {
        byte[] content = bytes(100_000, 2);
        Path first = bridge.preUpload(SHARED, sst("000013.sst", content), WINDOW).object();
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/a", content), WINDOW).deduplicated()).isTrue();

        // the same bytes in a new file: the checkpoint already took that content; it is not
        // uploaded again, and the object the checkpoint now owns is not offered again
        int putsBefore = store.calls("PutObject").size();
        S3TieredBridge.PreUploaded late = bridge.preUpload(SHARED, sst("000013-copy.sst", content), WINDOW);
        assertThat(late.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.ALREADY_DURABLE);
        assertThat(late.object()).as("nothing of this call's to withdraw").isNull();
        assertThat(store.calls("PutObject")).hasSize(putsBefore);

        // e.g. the checkpoint that referred to it was aborted and Flink deleted the object with its state
        store.deleteObject(BUCKET, key(first));
        S3TieredBridge.ClosedStream again = bridge.closeDeduplicated(checkpointStream("job/shared/b", content), WINDOW);
        assertThat(again.deduplicated()).isFalse();
        assertThat(again.object()).isEqualTo(path("job/shared/b"));
        assertThat(store.object(BUCKET, "job/shared/b")).hasValue(content);
    }

    @Test
    void otherContentOrAnExpiredWindowOrAPlainCloseUploadsTheStreamItself() throws Exception {
        byte[] content = bytes(100_000, 3);
        bridge.preUpload(SHARED, sst("000014.sst", content), WINDOW);

        byte[] other = bytes(100_000, 4);
        S3TieredBridge.ClosedStream different = bridge.closeDeduplicated(checkpointStream("job/shared/c", other), WINDOW);
        assertThat(different.deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/c")).hasValue(other);

        // the same length, one byte changed: the SHA-256 differs
        byte[] flipped = content.clone();
        flipped[50_000] ^= 1;
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/d", flipped), WINDOW).deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/d")).hasValue(flipped);

        // a plain close() never deduplicates (Flink's own streams, any other caller)
        FSDataOutputStream plain = checkpointStream("job/shared/e", content);
        plain.close();
        assertThat(store.object(BUCKET, "job/shared/e")).hasValue(content);

        // window 0: the pre-upload is too old to be referred to
        byte[] later = bytes(100_000, 5);
        bridge.preUpload(SHARED, sst("000015.sst", later), WINDOW);
        Thread.sleep(5);
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/f", later), 0).deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/f")).hasValue(later);
        assertThat(stats.deduplicatedUploads.sum()).isZero();
    }

    @Test
    void aStreamInADirectoryWithPreUploadsHashesWhileWritingOthersReadTheirFileAtClose() throws Exception {
        byte[] first = bytes(700_000, 30);
        byte[] second = bytes(700_000, 31);
        // opened before its directory's first pre-upload: it cannot know it may deduplicate
        FSDataOutputStream early = fs.create(path("job/shared/early"), WriteMode.NO_OVERWRITE);
        assertThat(((TieredOutputStream) early).hashesWhileWriting()).isFalse();
        bridge.preUpload(SHARED, sst("000030.sst", first), WINDOW);
        bridge.preUpload(SHARED, sst("000031.sst", second), WINDOW);
        assertThat(uploadedAhead(first)).hasSize(1);
        assertThat(uploadedAhead(second)).hasSize(1);
        FSDataOutputStream later = fs.create(path("job/shared/later"), WriteMode.NO_OVERWRITE);
        assertThat(((TieredOutputStream) later).hashesWhileWriting()).isTrue();
        FSDataOutputStream elsewhere = fs.create(path("job/chk-3/metadata"), WriteMode.NO_OVERWRITE);
        assertThat(((TieredOutputStream) elsewhere).hashesWhileWriting()).as("no pre-uploads in chk-3/").isFalse();
        elsewhere.close();
        // the job's shared/ spelled with entropy (its marker replaced by random characters), while
        // the pre-uploads go to the one without
        FSDataOutputStream entropy = fs.create(path("x7/job/shared/entropy"), WriteMode.NO_OVERWRITE);
        assertThat(((TieredOutputStream) entropy).hashesWhileWriting()).as("a shared/ with entropy").isTrue();
        entropy.close();

        // in pieces across the stream's 256 KiB buffer, one byte alone: the hash covers every byte once
        early.write(first);
        later.write(second, 0, 1);
        later.write(second[1]);
        later.write(second, 2, 300_000);
        later.write(second, 300_002, second.length - 300_002);

        S3TieredBridge.ClosedStream fromHash = bridge.closeDeduplicated(later, WINDOW);
        S3TieredBridge.ClosedStream fromFile = bridge.closeDeduplicated(early, WINDOW);
        assertThat(fromHash.deduplicated()).isTrue();
        assertThat(key(fromHash.object())).isEqualTo(uploadedAhead(second).get(0));
        assertThat(fromFile.deduplicated()).isTrue();
        assertThat(key(fromFile.object())).isEqualTo(uploadedAhead(first).get(0));
        assertThat(store.object(BUCKET, "job/shared/later")).isEmpty();
        assertThat(store.object(BUCKET, "job/shared/early")).isEmpty();

        // one byte off, written in pieces: hashed while streaming, not mistaken for the pre-upload
        byte[] third = bytes(700_000, 32);
        bridge.preUpload(SHARED, sst("000032.sst", third), WINDOW);
        byte[] flipped = third.clone();
        flipped[600_000] ^= 1;
        FSDataOutputStream differing = fs.create(path("job/shared/differing"), WriteMode.NO_OVERWRITE);
        differing.write(flipped, 0, 400_000);
        differing.write(flipped, 400_000, flipped.length - 400_000);
        assertThat(bridge.closeDeduplicated(differing, WINDOW).deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/differing")).hasValue(flipped);
    }

    @Test
    void aFailedPreUploadLeavesTheCheckpointToUploadTheFile() throws Exception {
        byte[] content = bytes(200_000, 6);
        store.inject(FaultRule.on("PutObject").keys(AHEAD).internalError());
        java.nio.file.Path file = sst("000016.sst", content);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> bridge.preUpload(SHARED, file, WINDOW))
                .isInstanceOf(IOException.class).hasMessageContaining("job/shared/" + sha256(content) + "-");

        S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(checkpointStream("job/shared/g", content), WINDOW);
        assertThat(closed.deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/g")).hasValue(content);
    }

    @Test
    void aCheckpointStreamWaitsForAPreUploadOfTheSameContentStillRunning() throws Exception {
        byte[] content = bytes(300_000, 7);
        CountDownLatch acknowledged = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys(AHEAD).holdUntil(acknowledged));
        java.nio.file.Path file = sst("000017.sst", content);
        CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(file);
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));

        FSDataOutputStream out = checkpointStream("job/shared/h", content);
        CompletableFuture<S3TieredBridge.ClosedStream> closing = closeInBackground(out);
        awaitEntryTaken(); // by the stream
        Thread.sleep(100);
        // it returns only once S3 has acknowledged the upload ahead, held back until now
        assertThat(closing).isNotDone();
        acknowledged.countDown();
        S3TieredBridge.ClosedStream closed = closing.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(closed.deduplicated()).isTrue();
        assertThat(closed.object()).isEqualTo(pre.join().object());
        assertThat(store.object(BUCKET, key(closed.object()))).hasValue(content);
        assertThat(store.object(BUCKET, "job/shared/h")).isEmpty();
    }

    /** A file system on the same store whose uploads count as stalled after 6.3 s without life. */
    private S3TieredFileSystem quicklyStalled(java.nio.file.Path tier) throws IOException {
        return FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tier, java.util.Map.of(
                S3TieredOptions.SOCKET_TIMEOUT.key(), "1s", S3TieredOptions.RETRY_MAX_DELAY.key(), "300ms",
                S3TieredOptions.THROTTLE_BASE_DELAY.key(), "100ms", S3TieredOptions.THROTTLE_MAX_DELAY.key(), "300ms",
                S3TieredOptions.THROTTLE_MAX_RETRIES.key(), "60")));
    }

    private static CompletableFuture<S3TieredBridge.ClosedStream> closeInBackground(S3TieredBridge b, FSDataOutputStream out) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return b.closeDeduplicated(out, WINDOW);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /**
     * An upload ahead stalled on a connection S3 stopped answering (a body it no longer reads)
     * ends only at its request timeout, minutes, and is retried: the checkpoint gives up waiting
     * once it shows no life and uploads the bytes itself, and no later checkpoint waits for it.
     */
    @Test
    void aCheckpointStreamDoesNotWaitForAStalledPreUpload(@TempDir java.nio.file.Path otherTier) throws Exception {
        S3TieredFileSystem quick = quicklyStalled(otherTier);
        CountDownLatch stalled = new CountDownLatch(1);
        try {
            S3TieredBridge b = S3TieredBridge.of(quick).orElseThrow();
            byte[] content = bytes(300_000, 18);
            store.inject(FaultRule.on("PutObject").keys(AHEAD).holdUntil(stalled));
            CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(b, sst("000028.sst", content));
            store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));
            String aheadKey = store.calls("PutObject").get(0).key();

            FSDataOutputStream out = quick.create(path("job/shared/s"), WriteMode.NO_OVERWRITE);
            out.write(content);
            S3TieredBridge.ClosedStream closed = closeInBackground(b, out).get(2, java.util.concurrent.TimeUnit.MINUTES);
            assertThat(closed.deduplicated()).isFalse();
            assertThat(store.object(BUCKET, "job/shared/s")).as("uploaded by the checkpoint").hasValue(content);
            assertThat(pre).as("the upload ahead is still held").isNotDone();

            FSDataOutputStream again = quick.create(path("job/shared/s2"), WriteMode.NO_OVERWRITE);
            again.write(content);
            assertThat(closeInBackground(b, again).get(2, java.util.concurrent.TimeUnit.MINUTES).deduplicated())
                    .as("not handed out again").isFalse();

            stalled.countDown();
            assertThat(key(pre.join().object())).isEqualTo(aheadKey);
            // used by no checkpoint: its RocksDB instance's close takes it back
            assertThat(b.withdrawPreUpload(path(aheadKey))).isTrue();
            assertThat(store.object(BUCKET, aheadKey)).isEmpty();
        } finally {
            stalled.countDown();
            quick.runtime().close();
        }
    }

    /**
     * An upload ahead whose attempts the watchdog aborts as stalled (a server that stops taking
     * each body) is retried, and each retry shows life: the checkpoint stops waiting at the first
     * stalled attempt and uploads the bytes itself, instead of waiting through every attempt.
     */
    @Test
    void aCheckpointStreamStopsWaitingForAPreUploadOnceAnAttemptOfItStalled(@TempDir java.nio.file.Path otherTier)
            throws Exception {
        S3TieredFileSystem quick = quicklyStalled(otherTier);
        try {
            S3TieredBridge b = S3TieredBridge.of(quick).orElseThrow();
            byte[] content = bytes(300_000, 20);
            // 3 s per attempt, less than the 6.3 s without life that counts as a stall
            store.inject(FaultRule.on("PutObject").keys(AHEAD).stallBody(Duration.ofSeconds(3)));
            CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(b, sst("000030.sst", content));
            store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));

            FSDataOutputStream out = quick.create(path("job/shared/u"), WriteMode.NO_OVERWRITE);
            out.write(content);
            S3TieredBridge.ClosedStream closed = closeInBackground(b, out).get(2, java.util.concurrent.TimeUnit.MINUTES);
            assertThat(pre).as("the upload ahead still retries: the checkpoint did not wait through its attempts")
                    .isNotDone();
            assertThat(closed.deduplicated()).isFalse();
            assertThat(store.object(BUCKET, "job/shared/u")).as("uploaded by the checkpoint").hasValue(content);
            assertThatThrownBy(pre::join).as("every attempt stalled").hasStackTraceContaining("took no byte of the body");
        } finally {
            quick.runtime().close();
        }
    }

    /**
     * An upload ahead that S3 throttles for longer than a stall shows life at every attempt: the
     * checkpoint waits for it, slow as it is, rather than add an upload of the same bytes.
     */
    @Test
    void aCheckpointStreamWaitsForAThrottledPreUploadThatShowsLife(@TempDir java.nio.file.Path otherTier) throws Exception {
        S3TieredFileSystem quick = quicklyStalled(otherTier);
        try {
            S3TieredBridge b = S3TieredBridge.of(quick).orElseThrow();
            byte[] content = bytes(300_000, 19);
            store.inject(FaultRule.on("PutObject").keys(AHEAD).attempts(1, 45).slowDown());
            CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(b, sst("000029.sst", content));
            store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));
            FSDataOutputStream out = quick.create(path("job/shared/t"), WriteMode.NO_OVERWRITE);
            out.write(content);
            S3TieredBridge.ClosedStream closed = closeInBackground(b, out).get(2, java.util.concurrent.TimeUnit.MINUTES);

            assertThat(closed.deduplicated()).as("waited for the upload ahead").isTrue();
            assertThat(closed.object()).isEqualTo(pre.join().object());
            assertThat(store.calls("PutObject")).filteredOn(c -> c.key().matches(AHEAD)).as("throttled, longer than a stall")
                    .hasSizeGreaterThan(40);
            assertThat(store.object(BUCKET, "job/shared/t")).isEmpty();
        } finally {
            quick.runtime().close();
        }
    }

    @Test
    void aCheckpointStreamCancelledWhileItWaitsForAPreUploadLeavesItToBeWithdrawn() throws Exception {
        byte[] content = bytes(300_000, 15);
        CountDownLatch acknowledged = new CountDownLatch(1); // the upload ahead ends after the cancel
        store.inject(FaultRule.on("PutObject").keys(AHEAD).holdUntil(acknowledged));
        java.nio.file.Path file = sst("000025.sst", content);
        CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(file);
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));
        FSDataOutputStream out = checkpointStream("job/shared/p", content);
        CompletableFuture<S3TieredBridge.ClosedStream> closing = closeInBackground(out);
        awaitEntryTaken(); // the stream took the entry and waits for its upload
        out.close(); // Flink cancels the checkpoint

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> closing.get(10, java.util.concurrent.TimeUnit.SECONDS))
                .rootCause().isInstanceOf(io.github.s3tiered.s3.Cancellation.CancelledException.class);
        // the storage's stream discards it: its close sent nothing, so there is nothing at its path to delete
        assertThat(bridge.abandon(out)).isTrue();
        assertThat(store.calls("PutObject")).extracting(c -> c.key()).doesNotContain("job/shared/p");
        acknowledged.countDown();
        Path object = pre.join().object();
        assertThat(bridge.withdrawPreUpload(object)).as("handed to no checkpoint: it can be withdrawn").isTrue();
        assertThat(store.object(BUCKET, key(object))).isEmpty();
        // and the content is not claimed: it may be uploaded ahead again
        assertThat(bridge.preUpload(SHARED, file, WINDOW).outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.UPLOADED);
    }

    @Test
    void contentACheckpointAlreadyUploadedIsNotPreUploadedAgainAndAVanishedFileIsSkipped() throws Exception {
        byte[] first = bytes(100_000, 8);
        bridge.preUpload(SHARED, sst("000018.sst", first), WINDOW); // makes the checkpoint stream hash its content
        byte[] content = bytes(100_000, 9);
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/i", content), WINDOW).deduplicated()).isFalse();

        S3TieredBridge.PreUploaded late = bridge.preUpload(SHARED, sst("000019.sst", content), WINDOW);
        assertThat(late.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.ALREADY_DURABLE);
        assertThat(uploadedAhead(content)).isEmpty();

        S3TieredBridge.PreUploaded gone = bridge.preUpload(SHARED, rocksDir.resolve("000020.sst"), WINDOW);
        assertThat(gone.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.FILE_GONE);
    }

    @Test
    void aPreUploadArrivingWhileACheckpointStreamUploadsTheSameContentUploadsNothingUnlessThatUploadFails()
            throws Exception {
        byte[] earlier = bytes(100_000, 12);
        bridge.preUpload(SHARED, sst("000023.sst", earlier), WINDOW); // makes the checkpoint streams hash
        // taken: the index is empty when the next stream closes
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/l", earlier), WINDOW).deduplicated()).isTrue();
        byte[] content = bytes(300_000, 13);
        CountDownLatch arrived = new CountDownLatch(1); // the checkpoint's upload ends after the pre-upload came
        store.inject(FaultRule.on("PutObject").keys("job/shared/m").holdUntil(arrived));
        FSDataOutputStream out = checkpointStream("job/shared/m", content);
        CompletableFuture<S3TieredBridge.ClosedStream> closing = closeInBackground(out);
        store.awaitCall(c -> c.operation().equals("PutObject") && c.key().equals("job/shared/m"), 1, Duration.ofSeconds(10));

        // the same SST file reaches the pre-uploader while the checkpoint's upload of it is under way
        S3TieredBridge.PreUploaded late = bridge.preUpload(SHARED, sst("000024.sst", content), WINDOW);
        assertThat(late.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.ALREADY_DURABLE);
        arrived.countDown();
        assertThat(closing.join().deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/m")).hasValue(content);
        assertThat(uploadedAhead(content)).as("uploaded once").isEmpty();

        // a checkpoint upload that fails takes its claim back: the file may then be uploaded ahead
        byte[] failing = bytes(200_000, 14);
        store.inject(FaultRule.on("PutObject").keys("job/shared/n").internalError());
        FSDataOutputStream broken = checkpointStream("job/shared/n", failing);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> bridge.closeDeduplicated(broken, WINDOW))
                .isInstanceOf(IOException.class);
        S3TieredBridge.PreUploaded afterFailure = bridge.preUpload(SHARED, sst("000025.sst", failing), WINDOW);
        assertThat(afterFailure.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.UPLOADED);
        assertThat(uploadedAhead(failing)).containsExactly(key(afterFailure.object()));
        assertThat(store.object(BUCKET, key(afterFailure.object()))).hasValue(failing);
    }

    @Test
    void aWithdrawnPreUploadIsDeletedUnlessACheckpointWasHandedIt() throws Exception {
        byte[] handedOut = bytes(100_000, 10);
        byte[] neverUsed = bytes(100_000, 11);
        Path used = bridge.preUpload(SHARED, sst("000021.sst", handedOut), WINDOW).object();
        Path unused = bridge.preUpload(SHARED, sst("000022.sst", neverUsed), WINDOW).object();
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/j", handedOut), WINDOW).deduplicated()).isTrue();

        assertThat(bridge.withdrawPreUpload(used)).as("referenced by a checkpoint: kept").isFalse();
        assertThat(bridge.withdrawPreUpload(unused)).isTrue();
        assertThat(store.object(BUCKET, key(used))).hasValue(handedOut);
        assertThat(store.object(BUCKET, key(unused))).isEmpty();
        assertThat(fs.runtime().tier().getVerified(BUCKET, key(unused))).isEmpty();
        // once withdrawn, it is not handed out any more
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/k", neverUsed), WINDOW).deduplicated()).isFalse();
    }

    @Test
    void aPreUploadWithdrawnWhileACancelledStreamHeldItIsDeletedWhenTheStreamGivesItBack() throws Exception {
        byte[] content = bytes(300_000, 17);
        CountDownLatch acknowledged = new CountDownLatch(1); // the upload ahead ends after the withdrawal and the cancel
        store.inject(FaultRule.on("PutObject").keys(AHEAD).holdUntil(acknowledged));
        CompletableFuture<S3TieredBridge.PreUploaded> pre = preUploadInBackground(sst("000027.sst", content));
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(10));
        String aheadKey = store.calls("PutObject").get(0).key();
        FSDataOutputStream out = checkpointStream("job/shared/w", content);
        CompletableFuture<S3TieredBridge.ClosedStream> closing = closeInBackground(out);
        awaitEntryTaken(); // the stream took the entry and waits for its upload

        // the task ends: its RocksDB instance withdraws what it uploaded ahead; a checkpoint stream
        // holds this one, which it may still refer to, so the withdrawal cannot delete it
        assertThat(bridge.withdrawPreUpload(path(aheadKey))).isFalse();
        out.close(); // and Flink cancels the checkpoint
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> closing.get(10, java.util.concurrent.TimeUnit.SECONDS))
                .rootCause().isInstanceOf(io.github.s3tiered.s3.Cancellation.CancelledException.class);
        // the storage's stream discards it: its close sent nothing, so there is nothing at its path to delete
        assertThat(bridge.abandon(out)).isTrue();
        assertThat(store.calls("PutObject")).extracting(c -> c.key()).doesNotContain("job/shared/w");
        acknowledged.countDown();
        assertThat(key(pre.join().object())).isEqualTo(aheadKey);

        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (store.object(BUCKET, aheadKey).isPresent() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(store.object(BUCKET, aheadKey)).as("no checkpoint refers to it and nothing would withdraw it again")
                .isEmpty();
        assertThat(fs.runtime().preUploads().size()).as("not handed out again").isZero();
    }

    @Test
    void aPreUploadAStreamTookButDidNotReferToCanStillBeWithdrawn() throws Exception {
        byte[] content = bytes(100_000, 16);
        Path object = bridge.preUpload(SHARED, sst("000026.sst", content), WINDOW).object();
        Thread.sleep(5);
        // the stream's window (the storage's reusedSince, or a job's shorter interval) ends after the upload began
        S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(checkpointStream("job/shared/q", content), 1);
        assertThat(closed.deduplicated()).isFalse();
        assertThat(store.object(BUCKET, "job/shared/q")).as("uploaded by the checkpoint").hasValue(content);

        assertThat(bridge.withdrawPreUpload(object)).as("taken, not used: no checkpoint refers to it").isTrue();
        assertThat(store.object(BUCKET, key(object))).isEmpty();
        assertThat(store.object(BUCKET, "job/shared/q")).hasValue(content);
    }

    @Test
    void twoTaskManagersUploadingTheSameBytesAheadEachHaveTheirOwnObject(@TempDir java.nio.file.Path otherTier)
            throws Exception {
        // RocksDB writes a session id into every SST file, so equal files are not expected; were
        // they equal, the other TaskManager's withdrawal must not take what our checkpoint refers to
        S3TieredFileSystem other = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(otherTier, java.util.Map.of()));
        try {
            S3TieredBridge otherBridge = S3TieredBridge.of(other).orElseThrow();
            byte[] content = bytes(100_000, 40);
            Path ours = bridge.preUpload(SHARED, sst("000040.sst", content), WINDOW).object();
            Path theirs = otherBridge.preUpload(SHARED, sst("000041.sst", content), WINDOW).object();
            assertThat(theirs).isNotEqualTo(ours);
            assertThat(uploadedAhead(content)).containsExactlyInAnyOrder(key(ours), key(theirs));

            S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(checkpointStream("job/shared/uuid-r", content), WINDOW);
            assertThat(closed.object()).isEqualTo(ours);
            assertThat(otherBridge.withdrawPreUpload(theirs)).isTrue(); // its task ended without a checkpoint
            assertThat(store.object(BUCKET, key(ours))).hasValue(content);
            assertThat(uploadedAhead(content)).containsExactly(key(ours));
        } finally {
            other.runtime().close();
        }
    }

    @Test
    void aLibJarOf020WhichDoesNotAskForANamePerUploadGetsTheNameItsOrphanRemovalKnows() throws Exception {
        // its orphan removal keeps only <sha256>.sst for the grace: another name would be removed
        // as an ordinary unreferenced file while a TaskManager may still hand it out
        byte[] content = bytes(100_000, 42);
        java.util.Map<String, Object> r = fs.apply(io.github.s3tiered.bridge.BridgeContract.PRE_UPLOAD, java.util.Map.of(
                io.github.s3tiered.bridge.BridgeContract.PATH, SHARED.toString(),
                io.github.s3tiered.bridge.BridgeContract.LOCAL_FILE, sst("000044.sst", content).toString(),
                io.github.s3tiered.bridge.BridgeContract.REUSE_WINDOW_MILLIS, WINDOW));
        assertThat(r).containsEntry(io.github.s3tiered.bridge.BridgeContract.OUTCOME, "UPLOADED")
                .containsEntry(io.github.s3tiered.bridge.BridgeContract.OBJECT, path("job/shared/" + sha256(content) + ".sst").toString());
        assertThat(store.object(BUCKET, "job/shared/" + sha256(content) + ".sst")).hasValue(content);
    }

    @Test
    void aWithdrawalStillDeletingDoesNotTakeAnUploadOfTheSameBytesMadeMeanwhile() throws Exception {
        byte[] content = bytes(100_000, 41);
        Path withdrawn = bridge.preUpload(SHARED, sst("000042.sst", content), WINDOW).object();
        CountDownLatch deleted = new CountDownLatch(1);
        store.inject(FaultRule.on("DeleteObject").keys(AHEAD).holdUntil(deleted));
        CompletableFuture<Boolean> withdrawal = CompletableFuture.supplyAsync(() -> {
            try {
                return bridge.withdrawPreUpload(withdrawn);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        store.awaitCalls("DeleteObject", 1, Duration.ofSeconds(10));

        // another RocksDB instance of the job writes the same bytes and they are uploaded ahead again
        S3TieredBridge.PreUploaded again = bridge.preUpload(SHARED, sst("000043.sst", content), WINDOW);
        assertThat(again.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.UPLOADED);
        deleted.countDown();
        assertThat(withdrawal.get(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

        S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(checkpointStream("job/shared/uuid-s", content), WINDOW);
        assertThat(closed.object()).isEqualTo(again.object());
        assertThat(store.object(BUCKET, key(again.object()))).hasValue(content);
        assertThat(store.object(BUCKET, key(withdrawn))).isEmpty();
    }

    @Test
    void anotherJobsUploadAheadIsNeverHandedOut() throws Exception {
        // job A uploaded it; job B, restored from A's native savepoint, streams the same SST file
        byte[] content = bytes(100_000, 30);
        Path ofA = bridge.preUpload(path("job-a/shared"), sst("000031.sst", content), WINDOW).object();

        S3TieredBridge.ClosedStream ofB = bridge.closeDeduplicated(checkpointStream("job-b/shared/uuid-b", content), WINDOW,
                path("job-b/shared"));
        assertThat(ofB.deduplicated()).as("B's checkpoint must not depend on an object A's orphan removal may delete").isFalse();
        assertThat(store.object(BUCKET, "job-b/shared/uuid-b")).hasValue(content);

        // named by the job's directory (the storage passes its shared/ without the entropy marker),
        // a stream elsewhere (entropy in its key) is handed the job's own upload
        S3TieredBridge.ClosedStream ofA2 = bridge.closeDeduplicated(checkpointStream("x7f3/job-a/shared/uuid-a", content),
                WINDOW, path("job-a/shared"));
        assertThat(ofA2.deduplicated()).isTrue();
        assertThat(ofA2.object()).isEqualTo(ofA);
    }

    @Test
    void theWindowRunsFromTheStartOfTheUploadAheadNotItsEnd() throws Exception {
        // S3 stamps the object when its upload begins, and the orphan removal keeps an unreferenced
        // one twice the window after that stamp: a slow upload must not stretch the window
        byte[] content = bytes(100_000, 31);
        store.inject(FaultRule.on("PutObject").keys(AHEAD).delay(Duration.ofMillis(600)));
        bridge.preUpload(SHARED, sst("000032.sst", content), WINDOW);

        S3TieredBridge.ClosedStream closed = bridge.closeDeduplicated(checkpointStream("job/shared/o", content), 400);
        assertThat(closed.deduplicated()).as("began 600 ms ago, ended just now: outside a 400 ms window").isFalse();
        assertThat(store.object(BUCKET, "job/shared/o")).hasValue(content);
    }

    @Test
    void anUploadAheadPastItsWindowThatNoCheckpointWasHandedIsStillWithdrawn() throws Exception {
        // with orphan removal off, its RocksDB instance's close is the only thing that deletes it
        byte[] old = bytes(100_000, 32);
        Path expired = bridge.preUpload(SHARED, sst("000033.sst", old), 1).object();
        Thread.sleep(1_100); // the index forgets expired entries at most once a second, at the next upload
        bridge.preUpload(SHARED, sst("000034.sst", bytes(100_000, 33)), WINDOW);
        assertThat(bridge.closeDeduplicated(checkpointStream("job/shared/p", old), 1).deduplicated()).isFalse();

        assertThat(bridge.withdrawPreUpload(expired)).isTrue();
        assertThat(store.object(BUCKET, key(expired))).isEmpty();
        assertThat(bridge.withdrawPreUpload(expired)).as("once").isFalse();
    }

    @Test
    void aStagingFileThatNoLongerHoldsWhatWasWrittenIsNotUploaded() throws Exception {
        // opened before its directory had any upload ahead: hashed at close by reading the staging file back
        byte[] content = bytes(3 * 1024 * 1024, 34);
        FSDataOutputStream out = checkpointStream("late/shared/q", content);
        bridge.preUpload(path("late/shared"), sst("000035.sst", bytes(100_000, 35)), WINDOW);
        java.nio.file.Path staging;
        try (java.util.stream.Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            staging = files.filter(f -> {
                try {
                    return Files.size(f) > 1024 * 1024;
                } catch (IOException e) {
                    return false;
                }
            }).findFirst().orElseThrow();
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(staging,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {(byte) (content[10] ^ 0x20)}), 10); // the disk flips a bit
        }

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> bridge.closeDeduplicated(out, WINDOW))
                .isInstanceOf(IOException.class).hasMessageContaining("late/shared/q").hasMessageContaining("staging file");
        assertThat(store.object(BUCKET, "late/shared/q")).as("never uploaded").isEmpty();
    }

    private void awaitEntryTaken() throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (fs.runtime().preUploads().size() > 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no checkpoint stream took the pre-upload's entry within 30 s");
            }
            Thread.sleep(5);
        }
    }
}
