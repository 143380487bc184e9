package io.github.s3tiered.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore.FaultRule;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

/**
 * The retry budgets of {@link S3Access} over the in-memory store: throttling (503 SlowDown, 429)
 * and other failures are counted apart, so a throttled burst cannot use up the attempts meant for
 * errors, nor the reverse; the final error names the request.
 */
class S3AccessRetryTest {

    private static final RetryPolicy POLICY = new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2),
            10, Duration.ofMillis(1), Duration.ofMillis(2));

    private final S3Statistics stats = new S3Statistics();
    private final InMemoryObjectStore store = new InMemoryObjectStore(stats);
    private final S3Access s3 = new S3Access(store, new Retrier(POLICY, store.endpointDescription(), stats), stats);

    @Test
    void theSearchAfterAFailedStartAbortsOnlyUploadsThisProcessDoesNotRun() throws Exception {
        // a stream whose start failed started again, on the same key, before the search ran
        String lostOne = store.createMultipartUpload("b", "k", 0); // S3 started it, the answer was lost
        String running = s3.cancellable(new Cancellation()).createMultipartUpload("b", "k", 0);

        s3.abortUploadsOfFailedStart("b", "k");

        assertThat(store.listMultipartUploads("b", "k")).containsExactly(running);
        assertThat(lostOne).isNotEqualTo(running);
    }

    /**
     * A start S3 answered with 503 (or 429) started nothing: no search for a stray upload follows,
     * which in a storm would add a listing and its retries to every start. A start whose answer may
     * be lost (a reset) is followed by the search.
     */
    @Test
    void onlyAStartWhoseAnswerMayBeLostIsFollowedByTheSearchForStrayUploads() throws Exception {
        store.inject(FaultRule.on("CreateMultipartUpload").keys("throttled").attempts(1, 3).slowDown());
        String id = s3.createMultipartUpload("b", "throttled", 0);
        assertThat(store.calls("CreateMultipartUpload")).hasSize(4);
        assertThat(store.calls("ListMultipartUploads")).as("503s started nothing").isEmpty();
        assertThat(store.listMultipartUploads("b", "throttled")).containsExactly(id);

        store.inject(FaultRule.on("CreateMultipartUpload").keys("reset").attempt(1).resetAfter(0));
        String other = s3.createMultipartUpload("b", "reset", 0);
        assertThat(store.calls("ListMultipartUploads").stream().filter(c -> c.key().equals("reset"))).hasSize(1);
        assertThat(store.listMultipartUploads("b", "reset")).containsExactly(other);
    }

    @Test
    void throttlingDoesNotSpendTheErrorBudget() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        store.inject(FaultRule.on("HeadObject").attempts(1, 8).slowDown());
        store.inject(FaultRule.on("HeadObject").attempts(9, 10).internalError());
        assertThat(s3.head("b", "k")).isPresent();
        assertThat(store.calls("HeadObject")).hasSize(11);
        assertThat(stats.throttledRetries.sum()).isEqualTo(8);
        assertThat(stats.retries.sum()).isEqualTo(2);
    }

    @Test
    void errorsFailWithinTheirBudgetWhateverThrottlingLeft() {
        store.inject(FaultRule.on("HeadObject").internalError());
        assertThatThrownBy(() -> s3.head("b", "k"))
                .isInstanceOfSatisfying(S3OperationException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(500);
                    assertThat(e.errorCode()).isEqualTo("InternalError");
                })
                .hasMessageContaining("HeadObject s3://b/k").hasMessageContaining("in-memory S3")
                .hasMessageContaining("after 3 attempts");
        assertThat(store.calls("HeadObject")).hasSize(3);
        assertThat(stats.throttledRetries.sum()).isZero();
    }

    @Test
    void throttlingFailsWhenItsOwnBudgetIsSpent() {
        store.inject(FaultRule.on("HeadObject").tooManyRequests());
        assertThatThrownBy(() -> s3.head("b", "k")).isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 429").hasMessageContaining("after 11 attempts");
        assertThat(stats.throttledRetries.sum()).isEqualTo(10);
        assertThat(stats.retries.sum()).isZero();
    }

    @Test
    void aConnectionResetIsRetriedAndADenialIsNot() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        store.inject(FaultRule.on("HeadObject").keys("k").attempt(1).resetAfter(0));
        assertThat(s3.head("b", "k")).isPresent();
        assertThat(stats.retries.sum()).isEqualTo(1);

        store.inject(FaultRule.on("HeadObject").keys("denied").error(403, "AccessDenied"));
        assertThatThrownBy(() -> s3.head("b", "denied")).isInstanceOf(S3OperationException.class)
                .hasMessageContaining("HTTP 403 AccessDenied").hasMessageNotContaining("attempts");
        assertThat(store.calls("HeadObject").stream().filter(c -> c.key().equals("denied"))).hasSize(1);
    }

    @Test
    void aCancelledViewStartsNoRequestAndOtherViewsAreUnaffected() throws Exception {
        store.putRaw("b", "k", new byte[] {1}, null);
        Cancellation c = new Cancellation();
        S3Access view = s3.cancellable(c);
        c.cancel("test");
        assertThatThrownBy(() -> view.head("b", "k")).isInstanceOf(Cancellation.CancelledException.class)
                .hasMessageContaining("HeadObject s3://b/k").hasMessageContaining("test");
        assertThat(store.calls()).isEmpty();
        assertThat(s3.head("b", "k")).isPresent();
    }

    @Test
    void aCancelEndsTheBackoffWait() throws Exception {
        RetryPolicy slow = new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2), 10, Duration.ofSeconds(60),
                Duration.ofSeconds(60));
        Cancellation c = new Cancellation();
        S3Access view = new S3Access(store, new Retrier(slow, "s", stats), stats).cancellable(c);
        store.inject(FaultRule.on("HeadObject").slowDown());
        var waiting = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                view.head("b", "k");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        store.awaitCalls("HeadObject", 1, Duration.ofSeconds(10));
        Thread.sleep(50);
        long cancelledAt = System.nanoTime();
        c.cancel("closed");
        assertThatThrownBy(() -> waiting.get(20, java.util.concurrent.TimeUnit.SECONDS)).rootCause()
                .isInstanceOf(Cancellation.CancelledException.class);
        // not an exact count: the backoff's full jitter may draw less than the 50 ms (about 1 in 1,000)
        assertThat(store.callsStartedAfter(cancelledAt)).as("calls after the cancel").isEmpty();
    }

    /**
     * The first Complete reaches S3 but its answer is lost; S3 still assembles the object when the
     * retry arrives and answers it 400 InvalidPart (S3Proxy does). The object then appears with
     * the upload's size and CRC32C: the upload succeeded. Without an earlier completion the same
     * answer fails the call, naming the upload id.
     */
    /**
     * DeleteObjects answers 200 and lists keys it failed: those failed for a passing reason
     * (InternalError, SlowDown) are sent again, alone; a denial ends the call naming the key.
     */
    @Test
    void keysDeleteObjectsFailedForAPassingReasonAreSentAgainAlone() throws Exception {
        List<List<String>> sent = new java.util.ArrayList<>();
        ObjectStore partlyFailing = intercepting((method, args) -> {
            if (method.getName().equals("deleteObjects")) {
                List<String> keys = List.copyOf((List<String>) args[1]);
                sent.add(keys);
                store.deleteObjects((String) args[0], keys.stream().filter(k -> sent.size() > 1 || !k.equals("b")).toList());
                if (keys.contains("denied")) {
                    return List.of(new ObjectStore.DeleteFailure("denied", "AccessDenied", "Access Denied"));
                }
                return sent.size() == 1 ? List.of(new ObjectStore.DeleteFailure("b", "InternalError", "try again"))
                        : List.of();
            }
            return method.invoke(store, args);
        });
        S3Access s3 = new S3Access(partlyFailing, new Retrier(POLICY, "s", stats), stats);
        for (String k : List.of("a", "b", "c")) {
            store.putRaw("bk", k, new byte[1], null);
        }
        s3.deleteObjects("bk", List.of("a", "b", "c"));
        assertThat(sent).containsExactly(List.of("a", "b", "c"), List.of("b"));
        assertThat(store.object("bk", "b")).isEmpty();

        sent.clear();
        assertThatThrownBy(() -> s3.deleteObjects("bk", List.of("x", "denied")))
                .hasMessageContaining("s3://bk/denied").hasMessageContaining("AccessDenied");
        assertThat(sent).hasSize(1);
    }

    @Test
    void aRetriedCompleteSucceedsWhenAnEarlierAttemptCompletesTheUploadMeanwhile(@TempDir Path dir) throws Exception {
        PartFile part = PartFile.of(dir, 3);
        byte[] bytes = part.bytes();
        Path file = part.file();
        int checksum = part.checksum();
        AtomicInteger completes = new AtomicInteger();
        AtomicInteger neverCompletes = new AtomicInteger();
        AtomicReference<Thread> lateCompletion = new AtomicReference<>();
        ObjectStore answerLost = intercepting((method, args) -> {
            if (method.getName().equals("completeMultipartUpload") && ((String) args[1]).startsWith("lost")) {
                if (completes.incrementAndGet() == 1) {
                    Thread t = new Thread(() -> {
                        try {
                            Thread.sleep(400);
                            store.completeMultipartUpload((String) args[0], (String) args[1], (String) args[2],
                                    (List<UploadedPart>) args[3]);
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    });
                    t.start();
                    lateCompletion.set(t);
                    throw connectionReset();
                }
                throw invalidPart();
            }
            if (method.getName().equals("completeMultipartUpload") && ((String) args[1]).startsWith("never")) {
                if (neverCompletes.incrementAndGet() == 1) { // lost on the way: S3 never saw it
                    throw connectionReset();
                }
                throw invalidPart();
            }
            try {
                return method.invoke(store, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
        S3Access s3 = new S3Access(answerLost, new Retrier(POLICY, "s", stats), stats);

        String id = s3.createMultipartUpload("b", "lost", checksum);
        List<UploadedPart> parts = List.of(s3.uploadPart("b", "lost", id, 1, file, 0, bytes.length));
        s3.completeMultipartUpload("b", "lost", id, parts, bytes.length, checksum);
        lateCompletion.get().join();
        assertThat(completes).hasValue(2);
        assertThat(store.object("b", "lost")).hasValue(bytes);
        // InvalidPart does not say the upload is gone: it is aborted, harmless once completed
        assertThat(store.calls("AbortMultipartUpload")).hasSize(1);

        String other = s3.createMultipartUpload("b", "never", checksum);
        List<UploadedPart> otherParts = List.of(s3.uploadPart("b", "never", other, 1, file, 0, bytes.length));
        assertThatThrownBy(() -> s3.completeMultipartUpload("b", "never", other, otherParts, bytes.length, checksum))
                .isInstanceOf(S3OperationException.class).hasMessageContaining("InvalidPart").hasMessageContaining(other);
        assertThat(neverCompletes).hasValue(2);
        assertThat(store.object("b", "never")).isEmpty();
    }

    /**
     * The first Complete completes the object but its answer is lost; the retry hears 404
     * NoSuchUpload, and S3 throttles the HEADs that check the object in place, longer than the
     * polling of an attempt still completing lasts. Throttled HEADs prove nothing: they are retried
     * as any request, and the write succeeds (taken as "not there", the call failed with the 404 and
     * the caller deleted the object S3 had made durable).
     */
    @Test
    void aRetriedCompleteWhoseObjectCheckIsThrottledSucceeds(@TempDir Path dir) throws Exception {
        PartFile part = PartFile.of(dir, 4);
        AtomicInteger completes = new AtomicInteger();
        ObjectStore answerLost = intercepting((method, args) -> {
            boolean first = method.getName().equals("completeMultipartUpload") && completes.incrementAndGet() == 1;
            try {
                Object result = method.invoke(store, args);
                if (first) {
                    throw connectionReset();
                }
                return result;
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
        // more throttled HEADs than the completion checks poll (11), fewer than one request's throttle budget
        store.inject(InMemoryObjectStore.FaultRule.on("HeadObject").keys("storm").attempts(1, 14).slowDown());
        S3Access s3 = new S3Access(answerLost, new Retrier(new RetryPolicy(3, Duration.ofMillis(1), Duration.ofMillis(2),
                20, Duration.ofMillis(1), Duration.ofMillis(2)), "s", stats), stats);

        String id = s3.createMultipartUpload("b", "storm", part.checksum());
        List<UploadedPart> parts = List.of(s3.uploadPart("b", "storm", id, 1, part.file(), 0, part.bytes().length));
        s3.completeMultipartUpload("b", "storm", id, parts, part.bytes().length, part.checksum());

        assertThat(completes).hasValue(2);
        assertThat(store.object("b", "storm")).hasValue(part.bytes());
        assertThat(store.calls("HeadObject")).hasSize(15);
    }

    /** A part's file of 5000 seeded bytes, and their CRC32C. */
    private record PartFile(Path file, byte[] bytes, int checksum) {
        static PartFile of(Path dir, long seed) throws java.io.IOException {
            byte[] bytes = new byte[5000];
            new java.util.Random(seed).nextBytes(bytes);
            CRC32C crc = new CRC32C();
            crc.update(bytes);
            return new PartFile(Files.write(dir.resolve("part"), bytes), bytes, (int) crc.getValue());
        }
    }

    /** The answer of a request that reached S3 or not: the connection broke before the answer came. */
    private static SdkClientException connectionReset() {
        return SdkClientException.builder().message("Unable to execute HTTP request: Connection reset")
                .cause(new SocketException("Connection reset")).build();
    }

    /** One call to an object store, answered by the test. */
    private interface Answer {
        Object answer(java.lang.reflect.Method method, Object[] args) throws Throwable;
    }

    /** An object store whose every call the test answers. */
    private static ObjectStore intercepting(Answer answer) {
        return (ObjectStore) Proxy.newProxyInstance(ObjectStore.class.getClassLoader(), new Class<?>[] {ObjectStore.class},
                (proxy, method, args) -> answer.answer(method, args));
    }

    private static S3Exception invalidPart() {
        return (S3Exception) S3Exception.builder().statusCode(400)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode("InvalidPart")
                        .errorMessage("One or more of the specified parts could not be found.").build())
                .build();
    }
}
