package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.inBackground;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.InMemoryObjectStore;
import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;
import io.github.s3tiered.s3.S3OperationException;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/** Failure paths of uploads, driven precisely through the in-memory object store. */
class UploadFailureTest extends FakeS3FileSystemTest {

    private static final int MIB = 1024 * 1024;

    private long stagingFiles() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            return files.count();
        }
    }

    /**
     * The object is in S3 and the local copy kept, but the staging path cannot be removed (here a
     * directory appears in its place; in production a tier disk remounted read-only): the close
     * still succeeds. It failed, and its caller deleted the durable object.
     */
    @Test
    void aStagingPathThatCannotBeRemovedAfterADurableUploadDoesNotFailTheClose() throws Exception {
        org.apache.flink.core.fs.FSDataOutputStream out = fs.create(path("cp/cleanup-refused"),
                org.apache.flink.core.fs.FileSystem.WriteMode.NO_OVERWRITE);
        byte[] data = bytes(10_000, 21);
        out.write(data);
        java.nio.file.Path staging;
        try (Stream<java.nio.file.Path> files = Files.list(tierDir.resolve("v1/staging"))) {
            staging = files.findFirst().orElseThrow();
        }
        io.github.s3tiered.tier.TierSteps.listen(step -> {
            if (step.equals(io.github.s3tiered.tier.TierSteps.COMMIT_DATA_RENAMED) && !Files.exists(staging)) {
                try {
                    Files.createDirectories(staging.resolve("in-the-way"));
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        });
        try {
            out.close();
        } finally {
            io.github.s3tiered.tier.TierSteps.listen(step -> {});
        }
        assertThat(store.object(BUCKET, "cp/cleanup-refused")).hasValueSatisfying(o -> assertThat(o).isEqualTo(data));
        assertThat(Files.isDirectory(staging)).as("the cleanup was refused").isTrue();
        Files.delete(staging.resolve("in-the-way"));
        Files.delete(staging);
    }

    @Test
    void aMultipartUploadWhoseAbortAlsoFailsSaysSoAndNamesTheUploadId() throws Exception {
        store.inject(FaultRule.on("UploadPart").keys("cp/big").part(2).internalError());
        store.inject(FaultRule.on("AbortMultipartUpload").keys("cp/big").internalError());
        FSDataOutputStream out = fs.create(path("cp/big"), WriteMode.NO_OVERWRITE);
        out.write(bytes(12 * MIB, 1));

        assertThatThrownBy(out::close)
                .isInstanceOf(IOException.class)
                .hasMessageContaining("s3tiered://bucket/cp/big")
                .hasMessageContaining(store.openUploads().get(0))
                .hasMessageContaining("could NOT be aborted")
                .hasMessageContaining("HTTP 500 InternalError")
                .satisfies(e -> {
                    assertThat(e.getCause()).isInstanceOf(S3OperationException.class)
                            .hasMessageContaining("part 2").hasMessageContaining("after 3 attempts");
                    assertThat(e.getCause().getSuppressed()).singleElement().isInstanceOf(S3OperationException.class)
                            .asString().contains("AbortMultipartUpload");
                });
        // every attempt of the failing part and of the abort was made, within the error budget
        assertThat(store.calls("UploadPart").stream().filter(c -> c.partNumber() == 2)).hasSize(3);
        assertThat(store.calls("AbortMultipartUpload")).hasSize(3);
        assertThat(store.calls("CompleteMultipartUpload")).isEmpty();
        assertThat(store.openUploads()).as("what the message says: the upload is still open").hasSize(1);
        assertThat(store.object(BUCKET, "cp/big")).isEmpty();
        assertThat(stagingFiles()).as("the staging file is removed").isZero();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/big")).isEmpty();
    }

    /**
     * A CompleteMultipartUpload answered 200 with an empty body (a proxy that closes a response sent
     * without a length) is success to the SDK; nothing confirms the object, so a HEAD must.
     */
    @Test
    void aCompletionAnsweredWithoutAnETagIsCheckedAndFailsWhenNothingWasMade() throws Exception {
        store.completeAnswersEmptyWithoutEffect = true;
        FSDataOutputStream out = fs.create(path("cp/empty-answer"), WriteMode.NO_OVERWRITE);
        out.write(bytes(12 * MIB, 4));

        assertThatThrownBy(out::close).isInstanceOf(IOException.class)
                .hasMessageContaining("cp/empty-answer").hasMessageContaining("without an ETag");
        assertThat(store.object(BUCKET, "cp/empty-answer")).isEmpty();
    }

    /**
     * The abort of a failed upload that S3 does not answer (a storm of 503s it retries for minutes,
     * here held on the wire) does not hold the failure back past {@link FileUpload#ABORT_WAIT}: the
     * error says the abort goes on, and it does.
     */
    @Test
    void aFailedUploadWhoseAbortHangsIsReportedAndAbortedInTheBackground() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        store.inject(FaultRule.on("UploadPart").keys("cp/slow-abort").part(2).error(403, "AccessDenied"));
        store.inject(FaultRule.on("AbortMultipartUpload").keys("cp/slow-abort").holdUntil(release));
        FSDataOutputStream out = fs.create(path("cp/slow-abort"), WriteMode.NO_OVERWRITE);
        out.write(bytes(12 * MIB, 3));

        FileUpload.abortWait = Duration.ofSeconds(1);
        try {
            assertThatThrownBy(out::close)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("is being aborted in the background")
                    .hasMessageContaining(store.openUploads().get(0))
                    .hasMessageContaining("AccessDenied");
            assertThat(store.openUploads()).as("the abort is still on the wire").hasSize(1);
        } finally {
            FileUpload.abortWait = FileUpload.ABORT_WAIT;
            release.countDown();
        }
        store.awaitCalls("AbortMultipartUpload", 1, Duration.ofSeconds(30));
        S3TieredTestSupport.awaitTransfersEnded(fs, Duration.ofSeconds(30));
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.object(BUCKET, "cp/slow-abort")).isEmpty();
    }

    /**
     * Part 1 is throttled (a 503 storm) while part 2 is refused for good: the upload fails at once
     * with part 2's error, and part 1 stops retrying (it would spend its whole throttle budget,
     * minutes, before the failure surfaced, as parts are awaited in order).
     */
    @Test
    void aPartThatFailsForGoodStopsTheOtherPartsRetrying() throws Exception {
        fs.runtime().close();
        fs = FakeS3FileSystems.create(store, stats, FakeS3FileSystems.config(tierDir, java.util.Map.of(
                "s3tiered.retry.throttle.max-retries", "20",
                // long backoffs: ten attempts of part 1 take far longer than part 2's refusal on any host
                // (a cancelled backoff ends at once, so the test does not wait them out)
                "s3tiered.retry.throttle.base-delay", "2 s",
                "s3tiered.retry.throttle.max-delay", "2 s")));
        store.inject(FaultRule.on("UploadPart").keys("cp/storm").part(1).slowDown());
        store.inject(FaultRule.on("UploadPart").keys("cp/storm").part(2).error(403, "AccessDenied"));
        FSDataOutputStream out = fs.create(path("cp/storm"), WriteMode.NO_OVERWRITE);
        out.write(bytes(11 * MIB, 5));

        long start = System.nanoTime();
        assertThatThrownBy(out::close)
                .isInstanceOf(IOException.class)
                .isNotInstanceOf(io.github.s3tiered.s3.Cancellation.CancelledException.class)
                .hasMessageContaining("failed and was aborted")
                .hasMessageContaining("part 2").hasMessageContaining("AccessDenied");
        long millis = (System.nanoTime() - start) / 1_000_000;
        long part1Attempts = store.calls("UploadPart").stream().filter(c -> c.partNumber() == 1).count();
        // (timing only bounds the attempts: 20 throttled retries at up to 2 s would take half a minute)
        assertThat(part1Attempts).as("part 1 stopped retrying after %s ms (21 attempts when it does not)", millis)
                .isLessThan(10);
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.object(BUCKET, "cp/storm")).isEmpty();
    }

    @Test
    void aFailedMultipartUploadIsAbortedWhenTheAbortWorks() throws Exception {
        store.inject(FaultRule.on("UploadPart").keys("cp/big").part(1).resetAfter(1000));
        FSDataOutputStream out = fs.create(path("cp/big"), WriteMode.NO_OVERWRITE);
        out.write(bytes(11 * MIB, 2));
        assertThatThrownBy(out::close).hasMessageContaining("was aborted").hasMessageContaining("Connection reset");
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.calls("UploadPart").stream().filter(c -> c.partNumber() == 1)).hasSize(3);
    }

    @Test
    void throttledPartsRetryFromTheirOwnBudgetAndTheUploadSucceeds() throws Exception {
        // 8 SlowDowns and then 2 errors on one part: more than the 3 attempts of the error budget in
        // all, but each budget on its own is enough
        store.inject(FaultRule.on("UploadPart").part(2).attempts(1, 8).slowDown());
        store.inject(FaultRule.on("UploadPart").part(2).attempts(9, 10).internalError());
        byte[] data = bytes(11 * MIB, 3);
        try (FSDataOutputStream out = fs.create(path("cp/throttled"), WriteMode.NO_OVERWRITE)) {
            out.write(data);
        }
        assertThat(store.object(BUCKET, "cp/throttled")).hasValue(data);
        assertThat(stats.throttledRetries.sum()).isEqualTo(8);
        assertThat(stats.retries.sum()).isEqualTo(2);
    }

    @Test
    void closingFromAnotherThreadDuringAMultipartUploadAbortsItAndStartsNoRequest() throws Exception {
        // part 2 stalls like a request on a dead connection, until the close is done; then its attempt times out
        CountDownLatch closed = new CountDownLatch(1);
        store.inject(FaultRule.on("UploadPart").part(2).attempt(1).stallUntil(closed));
        FSDataOutputStream out = fs.create(path("cp/cancelled"), WriteMode.NO_OVERWRITE);
        out.write(bytes(16 * MIB, 4));
        CompletableFuture<Void> uploading = inBackground(() -> out.close());
        store.awaitCalls("UploadPart", 2, Duration.ofSeconds(30));
        Thread.sleep(100); // the stalled attempt is on the wire
        out.close(); // Flink's CloseableRegistry, cancelling the task
        long cancelledAt = System.nanoTime();
        closed.countDown();

        assertThatThrownBy(() -> uploading.get(60, TimeUnit.SECONDS))
                .hasCauseInstanceOf(java.io.UncheckedIOException.class)
                .rootCause().isInstanceOf(Cancellation.CancelledException.class);
        assertThat(uploading.handle((ok, e) -> e.getCause().getCause()).get()).hasMessageContaining("was cancelled")
                .hasMessageContaining("was aborted");
        assertThat(store.callsStartedAfter(cancelledAt).stream().map(InMemoryObjectStore.Call::operation))
                .as("after the close, only the abort").containsOnly("AbortMultipartUpload");
        assertThat(store.calls("CompleteMultipartUpload")).isEmpty();
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.object(BUCKET, "cp/cancelled")).isEmpty();
        assertThat(stagingFiles()).isZero();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/cancelled")).isEmpty();
    }

    @Test
    void aMultipartUploadWhoseThreadIsInterruptedIsStillAborted() throws Exception {
        // Flink cancels a checkpoint by interrupting its upload thread; the SDK then refuses every
        // request of that thread, the abort included, unless the interrupt is put aside for it
        store.inject(FaultRule.on("CompleteMultipartUpload").attempt(1).stall(Duration.ofSeconds(30)));
        FSDataOutputStream out = fs.create(path("cp/interrupted"), WriteMode.NO_OVERWRITE);
        out.write(bytes(12 * MIB, 7));
        ClosingThread uploader = ClosingThread.start(out);
        store.awaitCalls("CompleteMultipartUpload", 1, Duration.ofSeconds(30));
        uploader.thread().interrupt();

        assertThat(uploader.failure().get(30, TimeUnit.SECONDS)).isInstanceOf(java.io.InterruptedIOException.class)
                .hasMessageContaining("cp/interrupted").hasMessageContaining("was aborted");
        assertThat(uploader.stillInterrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(store.calls("AbortMultipartUpload")).hasSize(1).allMatch(c -> c.outcome().equals("ok"));
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.object(BUCKET, "cp/interrupted")).isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void anInterruptWhileAPartIsOnTheWireEndsTheWaitAndTheUploadIsAbortedWhenThePartSettles() throws Exception {
        // a cancelled checkpoint's thread must not wait for parts (each may take up to the request
        // timeout); the upload must still end aborted, after its last part, not before it
        CountDownLatch partOnTheWire = new CountDownLatch(1);
        store.inject(FaultRule.on("UploadPart").keys("cp/held").part(2).holdUntil(partOnTheWire));
        FSDataOutputStream out = fs.create(path("cp/held"), WriteMode.NO_OVERWRITE);
        out.write(bytes(12 * MIB, 9));
        ClosingThread uploader = ClosingThread.start(out);
        store.awaitCalls("UploadPart", 2, Duration.ofSeconds(30));
        uploader.thread().interrupt();

        // the part is held until released below: the caller returns while it is on the wire
        assertThat(uploader.failure().get(30, TimeUnit.SECONDS)).isInstanceOf(java.io.InterruptedIOException.class)
                .hasMessageContaining("cp/held").hasMessageContaining(store.openUploads().get(0))
                .hasMessageContaining("aborted once its parts in flight settle");
        assertThat(uploader.stillInterrupted()).as("the interrupt is kept for the caller").isTrue();
        assertThat(store.calls("AbortMultipartUpload")).as("no abort before the part settles").isEmpty();
        assertThat(store.calls("CompleteMultipartUpload")).isEmpty();

        partOnTheWire.countDown();
        store.awaitCalls("AbortMultipartUpload", 1, Duration.ofSeconds(30));
        assertThat(store.calls("AbortMultipartUpload")).allMatch(c -> c.outcome().equals("ok"));
        assertThat(store.openUploads()).isEmpty();
        assertThat(store.object(BUCKET, "cp/held")).isEmpty();
        assertThat(store.calls("CompleteMultipartUpload")).isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void closingFromAnotherThreadDuringAPutLeavesNoObject() throws Exception {
        // the PUT stalls until the close is done, times out, and its retry never starts; had it
        // completed, the object would be deleted (so it is deleted all the same)
        CountDownLatch closed = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/small").attempt(1).stallUntil(closed));
        FSDataOutputStream out = fs.create(path("cp/small"), WriteMode.NO_OVERWRITE);
        out.write(bytes(100_000, 5));
        CompletableFuture<Void> uploading = inBackground(() -> out.close());
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(30));
        out.close();
        long cancelledAt = System.nanoTime();
        closed.countDown();
        assertThatThrownBy(() -> uploading.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        // no retry; only a delete, as S3 may complete a PUT it had whole after the client aborted it
        assertThat(store.callsStartedAfter(cancelledAt).stream().map(InMemoryObjectStore.Call::operation))
                .isSubsetOf("DeleteObject");
        assertThat(store.object(BUCKET, "cp/small")).isEmpty();
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed");
    }

    @Test
    void anObjectThatS3CompletesAfterTheCancelIsDeleted() throws Exception {
        // the cancel lands while a PUT that will succeed is on the wire: S3 gets the object, and
        // the stream deletes it, since the canceller expects none
        CountDownLatch closed = new CountDownLatch(1);
        store.inject(FaultRule.on("PutObject").keys("cp/raced").attempt(1).holdUntil(closed));
        FSDataOutputStream out = fs.create(path("cp/raced"), WriteMode.NO_OVERWRITE);
        out.write(bytes(1000, 6));
        CompletableFuture<Void> uploading = inBackground(() -> out.close());
        store.awaitCalls("PutObject", 1, Duration.ofSeconds(30));
        out.close();
        long cancelledAt = System.nanoTime();
        closed.countDown();
        assertThatThrownBy(() -> uploading.get(60, TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class)
                .hasMessageContaining("the object S3 had completed was deleted");
        assertThat(store.calls("PutObject")).hasSize(1);
        assertThat(store.callsStartedAfter(cancelledAt).stream().map(InMemoryObjectStore.Call::operation))
                .containsExactly("DeleteObject");
        assertThat(store.object(BUCKET, "cp/raced")).isEmpty();
        assertThat(fs.localTier().getVerified(BUCKET, "cp/raced")).as("no local copy either").isEmpty();
    }

    /** Closes a stream on a thread of its own, as Flink's checkpoint upload thread, which a test interrupts. */
    private record ClosingThread(Thread thread, CompletableFuture<Throwable> failure, AtomicBoolean stillInterrupted) {
        static ClosingThread start(FSDataOutputStream out) {
            CompletableFuture<Throwable> failure = new CompletableFuture<>();
            AtomicBoolean stillInterrupted = new AtomicBoolean();
            Thread thread = new Thread(() -> {
                Throwable thrown = null;
                try {
                    out.close();
                } catch (Throwable t) {
                    thrown = t;
                }
                stillInterrupted.set(Thread.currentThread().isInterrupted());
                failure.complete(thrown);
            }, "checkpoint-upload");
            thread.start();
            return new ClosingThread(thread, failure, stillInterrupted);
        }
    }

    /** The tier's staging directory cannot be made: create() fails with an IOException naming the object. */
    @Test
    void aStagingDirectoryThatCannotBeMadeFailsCreateNamingTheObject() throws Exception {
        java.nio.file.Path staging = tierDir.resolve("v1").resolve("staging");
        try (Stream<java.nio.file.Path> left = Files.list(staging)) {
            for (java.nio.file.Path p : left.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(staging);
        Files.writeString(staging, "a file where the directory was");

        assertThatThrownBy(() -> fs.create(path("job/chk-8/state"), WriteMode.OVERWRITE))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("job/chk-8/state")
                .hasMessageContaining("staging");
    }
}
