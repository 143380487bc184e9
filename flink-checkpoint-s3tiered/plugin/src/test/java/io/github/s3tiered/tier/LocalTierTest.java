package io.github.s3tiered.tier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Crc32c;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

class LocalTierTest {

    @TempDir Path dir;

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Every byte under the tier directory: what the budget must count. */
    private long onDisk() throws Exception {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
    }

    private static void put(LocalTier tier, String key, byte[] data) throws Exception {
        Path staged = tier.newStagingFile();
        Files.write(staged, data);
        tier.commit("b", key, staged, data.length, Crc32c.ofFile(staged));
    }

    @Test
    void aCommittedCopyIsServedAfterVerification() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        byte[] data = bytes(1000, 1);
        put(tier, "a/b/c", data);
        TierEntry e = tier.getVerified("b", "a/b/c").orElseThrow();
        assertThat(Files.readAllBytes(e.data())).isEqualTo(data);
        assertThat(tier.getVerified("b", "a/b/other")).isEmpty();
        assertThat(tier.getVerified("other-bucket", "a/b/c")).isEmpty();
        assertThat(tier.usedBytes()).as("the data and its sidecar").isGreaterThan(1000).isEqualTo(onDisk());
    }

    /**
     * A writer's upload replaced the object in S3 and its commit of the new copy then failed (its
     * staged file gone: removed by another process's scan, or a disk error): the copy of the
     * previous version must go, as a reader of a name whose content never changes is served the
     * tier's copy without asking S3.
     */
    @Test
    void aFailedCommitOfANewVersionLeavesNoCopyOfThePreviousOne() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        put(tier, "cp/shared/0b3c8c5e", bytes(1000, 1));
        assertThat(tier.getVerified("b", "cp/shared/0b3c8c5e")).isPresent();

        Path gone = tier.newStagingFile(); // never written: as if removed before the commit
        assertThatThrownBy(() -> tier.commit("b", "cp/shared/0b3c8c5e", gone, 1200, 7)).isInstanceOf(java.io.IOException.class);

        assertThat(tier.getVerified("b", "cp/shared/0b3c8c5e")).as("the previous version's copy").isEmpty();
        put(tier, "cp/shared/0b3c8c5e", bytes(1200, 2));
        assertThat(tier.getVerified("b", "cp/shared/0b3c8c5e")).as("a later commit keeps its copy again").isPresent();
    }

    @Test
    void aProcessWithTheTierOffSharingTheDirectoryEvictsNobodysCopies() throws Exception {
        // s3tiered.local.enabled: false in one process (budget 0) whose directory is the host's
        // default, as the other processes' is: it stages its uploads there and keeps nothing
        LocalTier keeping = new LocalTier(dir, 1 << 20);
        put(keeping, "kept", bytes(1000, 5));

        LocalTier off = new LocalTier(dir, 0);
        put(off, "empty", new byte[0]);
        put(off, "written", bytes(100, 6));
        off.evictIfOverBudget();

        assertThat(keeping.getVerified("b", "kept")).as("the other process's copy").isPresent();
        assertThat(off.getVerified("b", "empty")).isEmpty();
        assertThat(off.getVerified("b", "written")).isEmpty();
    }

    @Test
    void removingACopyAnotherProcessCommittedAfterTheScanDoesNotCountBelowZero() throws Exception {
        LocalTier early = new LocalTier(dir, 1 << 20); // scans an empty directory
        LocalTier other = new LocalTier(dir, 1 << 20);
        put(other, "theirs", bytes(1000, 1));
        early.drop("b", "theirs");
        assertThat(early.usedBytes()).isZero();
        put(early, "mine", bytes(1000, 2));
        assertThat(early.usedBytes()).isEqualTo(onDisk());
    }

    @Test
    void copiesAnotherProcessRemovedAreForgottenAtTheNextScan() throws Exception {
        // what this process checked stays remembered while the copy is there; one removed by
        // another process (its eviction, a JobManager deleting subsumed checkpoints) must not stay
        // remembered for the life of a TaskManager
        LocalTier here = new LocalTier(dir, 1 << 20);
        for (int i = 0; i < 100; i++) {
            put(here, "k" + i, bytes(100, i));
        }
        assertThat(here.copiesKnownChecked()).isEqualTo(100);
        LocalTier other = new LocalTier(dir, 1 << 20);
        for (int i = 0; i < 90; i++) {
            other.drop("b", "k" + i);
        }

        here.evictIfOverBudget();

        assertThat(here.copiesKnownChecked()).isEqualTo(10);
        assertThat(here.getVerified("b", "k95")).isPresent();
    }

    @Test
    void twoTiersOfOneJvmReachingTheDirectoryThroughALinkShareItsLock() throws Exception {
        // the file lock is held per JVM: a second tier on the same directory through another path
        // must wait for the first's scan, not fail (OverlappingFileLockException)
        LocalTier direct = new LocalTier(dir, 1 << 20);
        java.nio.file.Path link = Files.createSymbolicLink(dir.resolveSibling(dir.getFileName() + "-link"), dir);
        try {
            LocalTier linked = new LocalTier(link, 1 << 20);
            for (int i = 0; i < 50; i++) {
                put(direct, "k" + i, bytes(100, i));
            }
            java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                java.util.concurrent.Future<?> scans = other.submit(() -> {
                    for (int i = 0; i < 300; i++) {
                        linked.evictIfOverBudget();
                    }
                    return null;
                });
                for (int i = 0; i < 300; i++) {
                    direct.evictIfOverBudget();
                }
                scans.get(60, java.util.concurrent.TimeUnit.SECONDS);
            } finally {
                other.shutdownNow();
            }
        } finally {
            Files.delete(link);
        }
    }

    @Test
    void damagedCopiesAreDroppedNotServed() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        put(tier, "flip", bytes(1000, 2));
        put(tier, "cut", bytes(1000, 3));
        put(tier, "sidecar", bytes(1000, 4));
        Path flip = tier.dataPath("b", "flip");
        byte[] d = Files.readAllBytes(flip);
        d[500] ^= 0x40;
        Files.write(flip, d);
        Files.write(tier.dataPath("b", "cut"), bytes(999, 3));
        Files.writeString(tier.dataPath("b", "sidecar").resolveSibling(tier.dataPath("b", "sidecar").getFileName() + ".meta"),
                "garbage\\u0000\n");

        assertThat(tier.getVerified("b", "flip")).isEmpty();
        assertThat(tier.getVerified("b", "cut")).isEmpty();
        assertThat(tier.getVerified("b", "sidecar")).isEmpty();
        assertThat(Files.exists(flip)).as("damaged copy removed").isFalse();
        assertThat(tier.statistics().corruptionsDetected.sum()).isEqualTo(2);
    }

    @Test
    void leastRecentlyUsedCopiesAreEvictedBeyondTheBudget() throws Exception {
        // Five copies of 2000 bytes and their sidecars fit; a sixth does not.
        LocalTier tier = new LocalTier(dir, 11_000);
        for (int i = 0; i < 5; i++) {
            put(tier, "k" + i, bytes(2000, i));
            Files.setLastModifiedTime(tier.dataPath("b", "k" + i).resolveSibling(tier.dataPath("b", "k" + i).getFileName() + ".meta"),
                    FileTime.fromMillis(1_000_000L * (i + 1)));
        }
        // k0 is the oldest, but reading it makes it the most recently used.
        assertThat(tier.getVerified("b", "k0")).isPresent();
        put(tier, "k5", bytes(3000, 5));

        assertThat(tier.usedBytes()).as("down to the low watermark").isLessThanOrEqualTo(9900).isEqualTo(onDisk());
        assertThat(tier.getVerified("b", "k0")).isPresent();
        assertThat(tier.getVerified("b", "k1")).isEmpty();
        assertThat(tier.getVerified("b", "k5")).isPresent();
        assertThat(tier.statistics().evictions.sum()).isPositive();
    }

    /**
     * A stream whose upload failed with its request out ends "in doubt": until S3 can no longer
     * complete that request, the key stays rewritten (no copy kept or served) and a stream beginning
     * meanwhile overlaps it; afterwards the key is an ordinary one again.
     */
    @Test
    void aRewriteEndedInDoubtHoldsTheKeyUntilItsDeadline() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        long token = tier.beginRewrite("b", "k");
        assertThat(token).isNotEqualTo(LocalTier.OVERLAPPED);
        tier.endRewrite("b", "k", System.nanoTime() + TimeUnit.MINUTES.toNanos(10));

        assertThat(tier.isBeingRewritten("b", "k")).as("in doubt").isTrue();
        long during = tier.beginRewrite("b", "k");
        assertThat(during).as("a stream beginning while an upload may still land").isEqualTo(LocalTier.OVERLAPPED);
        Path staged = tier.newStagingFile();
        Files.write(staged, bytes(100, 1));
        assertThat(tier.commitRewritten("b", "k", staged, 100, Crc32c.ofFile(staged), during)).isFalse();
        tier.endRewrite("b", "k");
        assertThat(tier.isBeingRewritten("b", "k")).as("still in doubt after that stream ended").isTrue();
        assertThat(tier.getVerified("b", "k")).isEmpty();

        // another key, whose doubt ends at once: an ordinary key again, its entry gone
        tier.beginRewrite("b", "soon");
        tier.endRewrite("b", "soon", System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1));
        Thread.sleep(20);
        assertThat(tier.isBeingRewritten("b", "soon")).as("past the deadline").isFalse();
        long after = tier.beginRewrite("b", "soon");
        assertThat(after).isNotEqualTo(LocalTier.OVERLAPPED);
        Path again = tier.newStagingFile();
        Files.write(again, bytes(100, 2));
        assertThat(tier.commitRewritten("b", "soon", again, 100, Crc32c.ofFile(again), after)).isTrue();
        tier.endRewrite("b", "soon");
        assertThat(tier.getVerified("b", "soon")).isPresent();
    }

    /**
     * Keys in doubt are mostly random names nothing looks up again: their entries do not stay
     * after their deadline, once enough have piled up, nor once the key is deleted.
     */
    @Test
    void expiredInDoubtEntriesDoNotPileUp() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        long soon = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        for (int i = 0; i < LocalTier.PURGE_REWRITES_ABOVE; i++) {
            tier.beginRewrite("b", "failed-" + i);
            tier.endRewrite("b", "failed-" + i, soon);
        }
        tier.beginRewrite("b", "deleted");
        tier.endRewrite("b", "deleted", soon);
        assertThat(tier.rewriteEntries()).as("all in doubt yet").isEqualTo(LocalTier.PURGE_REWRITES_ABOVE + 1);
        Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(soon - System.nanoTime())) + 50);
        tier.deleted("b", "deleted");
        assertThat(tier.rewriteEntries()).as("the deleted key's expired entry").isEqualTo(LocalTier.PURGE_REWRITES_ABOVE);

        tier.beginRewrite("b", "one-more");
        tier.endRewrite("b", "one-more", System.nanoTime() + TimeUnit.MINUTES.toNanos(10));
        tier.beginRewrite("b", "and-another");
        tier.endRewrite("b", "and-another", System.nanoTime() + TimeUnit.MINUTES.toNanos(10));
        assertThat(tier.rewriteEntries()).as("only the keys still in doubt").isEqualTo(2);
    }

    /**
     * Commits that finish together each find a scan due; the first one's scan counts all their
     * copies, and the others, queued behind it for the lock, do not walk the directory again (each
     * walk holds every commit of the host).
     */
    @Test
    void commitsQueuedBehindAScanThatCountedThemDoNotScanAgain() throws Exception {
        int committers = 4;
        LocalTier tier = new LocalTier(dir, 11_000);
        for (int i = 0; i < 3; i++) {
            put(tier, "k" + i, bytes(2000, i));
        }
        java.util.concurrent.atomic.AtomicInteger scans = new java.util.concurrent.atomic.AtomicInteger();
        CountDownLatch allCommitted = new CountDownLatch(committers);
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.COMMIT_COUNTED)) {
                allCommitted.countDown();
            } else if (step.equals(TierSteps.EVICT_SCANNING) && scans.incrementAndGet() == 1) {
                try {
                    // every copy is in place and counted before this scan: none needs another. The pause lets the
                    // other committers reach the lock (without it they could find no scan due before queueing)
                    allCommitted.await(30, TimeUnit.SECONDS);
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        ExecutorService threads = Executors.newFixedThreadPool(committers);
        try {
            List<Future<?>> commits = new ArrayList<>();
            for (int i = 0; i < committers; i++) {
                String key = "c" + i;
                byte[] data = bytes(2000, 10 + i);
                commits.add(threads.submit(() -> {
                    put(tier, key, data);
                    return null;
                }));
            }
            for (Future<?> f : commits) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            TierSteps.listen(step -> {});
            threads.shutdownNow();
        }

        assertThat(allCommitted.getCount()).isZero();
        assertThat(scans.get()).as("scans of the directory for %d commits that finished together", committers).isEqualTo(1);
        assertThat(tier.usedBytes()).as("down to the low watermark").isLessThanOrEqualTo(9900).isEqualTo(onDisk());
        assertThat(tier.statistics().evictions.sum()).isPositive();
    }

    @Test
    void anEvictionScanHoldsNoKeyLock() throws Exception {
        // Five copies of 2000 bytes and their sidecars fit; a sixth does not: its commit evicts.
        LocalTier tier = new LocalTier(dir, 11_000);
        for (int i = 0; i < 5; i++) {
            put(tier, "k" + i, bytes(2000, i));
        }
        String sameLock = "other-0";
        for (int n = 1; LocalTier.lockIndexOf("b", sameLock) != LocalTier.lockIndexOf("b", "k5"); n++) {
            sameLock = "other-" + n;
        }
        CountDownLatch evicting = new CountDownLatch(1);
        CountDownLatch mayGoOn = new CountDownLatch(1);
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.EVICT_SIDECAR_REMOVED) && evicting.getCount() > 0) {
                evicting.countDown();
                try {
                    mayGoOn.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<?> committing = threads.submit(() -> {
                put(tier, "k5", bytes(3000, 5));
                return null;
            });
            assertThat(evicting.await(30, TimeUnit.SECONDS)).as("the commit of k5 evicts").isTrue();
            String other = sameLock;
            Future<?> dropping = threads.submit(() -> tier.drop("b", other));

            // A liveness check, not a timing one: on a lock held by the scan the drop waits for good.
            dropping.get(10, TimeUnit.SECONDS);
            mayGoOn.countDown();
            committing.get(30, TimeUnit.SECONDS);
        } finally {
            mayGoOn.countDown();
            TierSteps.listen(step -> {});
            threads.shutdownNow();
        }
        assertThat(tier.getVerified("b", "k5")).isPresent();
        assertThat(tier.usedBytes()).isEqualTo(onDisk());
    }

    /**
     * Two processes sharing the tier commit one key together and leave one's data file under the
     * other's sidecar: the process that wrote that data file trusts it no more than the others do,
     * as its sidecar now records another CRC32C.
     */
    @Test
    void aCopyTrustedByItsWriterIsReadAgainWhenItsSidecarRecordsAnotherChecksum() throws Exception {
        LocalTier writer = new LocalTier(dir, 1 << 20);
        put(writer, "k", bytes(5000, 11));
        TierEntry written = writer.getVerified("b", "k").orElseThrow();
        assertThat(writer.statistics().fullChecks.sum()).as("its own write needs no check").isZero();

        // the other process's sidecar, last in: same size, the other content's CRC32C
        int otherCrc = written.crc32c() ^ 0x5a5a;
        new TierLayout(dir, "").writeSidecar(new TierEntry("b", "k", written.data(), written.meta(), 5000, otherCrc));

        assertThat(writer.getVerified("b", "k")).as("data that does not match its sidecar").isEmpty();
        assertThat(writer.statistics().corruptionsDetected.sum()).isEqualTo(1);
    }

    @Test
    void aCopyIsReadInFullOnlyOnFirstUseInAProcessOrAfterAChange() throws Exception {
        LocalTier writer = new LocalTier(dir, 1 << 20);
        put(writer, "k", bytes(5000, 9));
        assertThat(writer.getVerified("b", "k")).isPresent();
        assertThat(writer.statistics().fullChecks.sum()).as("its own write needs no check").isZero();

        LocalTier restarted = new LocalTier(dir, 1 << 20);
        assertThat(restarted.getVerified("b", "k")).isPresent();
        assertThat(restarted.getVerified("b", "k")).isPresent();
        assertThat(restarted.statistics().fullChecks.sum()).as("checked once in the new process").isEqualTo(1);

        // Rewritten in place with the same length: the identity changes, so the check comes back.
        Path data = restarted.dataPath("b", "k");
        byte[] d = Files.readAllBytes(data);
        d[0] ^= 1;
        Files.write(data, d);
        Files.setLastModifiedTime(data, FileTime.fromMillis(System.currentTimeMillis() + 5000));
        assertThat(restarted.getVerified("b", "k")).isEmpty();
        assertThat(restarted.statistics().corruptionsDetected.sum()).isEqualTo(1);
    }

    /**
     * A batch restore's one question: copies this process wrote are answered without the pool
     * (a stat and a sidecar read each), a copy changed since is read in full there and dropped when
     * damaged, a copy that was never kept is a miss; the same key asked twice is checked once.
     */
    @Test
    void intactCopiesChecksOwnCopiesWithoutThePoolAndReadsChangedOnesThere() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        List<ObjectKey> keys = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            put(tier, "own-" + i, bytes(2000, 100 + i));
            keys.add(new ObjectKey("b", "own-" + i));
        }
        put(tier, "changed-intact", bytes(3000, 7));
        put(tier, "changed-damaged", bytes(3000, 8));
        // rewritten in place (the same length, another mtime): no longer the copy this process wrote
        Path intact = tier.dataPath("b", "changed-intact");
        Files.write(intact, Files.readAllBytes(intact));
        Files.setLastModifiedTime(intact, FileTime.fromMillis(System.currentTimeMillis() + 5000));
        Path damaged = tier.dataPath("b", "changed-damaged");
        byte[] d = Files.readAllBytes(damaged);
        d[1500] ^= 0x10;
        Files.write(damaged, d);
        Files.setLastModifiedTime(damaged, FileTime.fromMillis(System.currentTimeMillis() + 5000));
        keys.add(new ObjectKey("b", "changed-intact"));
        keys.add(new ObjectKey("b", "changed-damaged"));
        keys.add(new ObjectKey("b", "never-kept"));
        keys.add(new ObjectKey("b", "own-3")); // asked twice

        java.util.concurrent.atomic.AtomicInteger pooled = new java.util.concurrent.atomic.AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            java.util.concurrent.Executor counting = task -> {
                pooled.incrementAndGet();
                pool.execute(task);
            };
            java.util.Map<ObjectKey, IntactCopy> held = tier.intactCopies(keys, counting);

            assertThat(held.keySet()).containsExactlyInAnyOrderElementsOf(Stream.concat(
                    Stream.iterate(0, i -> i + 1).limit(12).map(i -> new ObjectKey("b", "own-" + i)),
                    Stream.of(new ObjectKey("b", "changed-intact"))).toList());
            assertThat(Files.readAllBytes(held.get(new ObjectKey("b", "own-5")).entry().data())).isEqualTo(bytes(2000, 105));
            assertThat(tier.statistics().fullChecks.sum()).as("only the intact changed copy was read in full and matched").isEqualTo(1);
            assertThat(tier.statistics().corruptionsDetected.sum()).isEqualTo(1);
            assertThat(damaged).as("the damaged copy is dropped").doesNotExist();
            int cores = Runtime.getRuntime().availableProcessors();
            assertThat(pooled.get()).as("one task per other share of the checks (%d cores), one per full read", cores)
                    .isEqualTo(Math.min(cores, 15) - 1 + 2);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFileLargerThanTheBudgetIsNotKept() throws Exception {
        LocalTier tier = new LocalTier(dir, 100);
        Path staged = tier.newStagingFile();
        Files.write(staged, bytes(101, 1));
        tier.commit("b", "big", staged, 101, Crc32c.ofFile(staged));
        assertThat(tier.getVerified("b", "big")).isEmpty();
        assertThat(staged).doesNotExist();
    }

    @Test
    void aNewInstanceFindsTheCopiesAndCountsThem() throws Exception {
        LocalTier first = new LocalTier(dir, 1 << 20);
        put(first, "x", bytes(1234, 1));
        LocalTier second = new LocalTier(dir, 1 << 20);
        assertThat(second.usedBytes()).isGreaterThan(1234).isEqualTo(onDisk());
        assertThat(second.getVerified("b", "x")).isPresent();
    }

    @Test
    void instancesSharingTheDirectoryStayConsistentAndUnderBudget() throws Exception {
        // Two "TaskManagers" on one host writing, reading and evicting concurrently.
        LocalTier a = new LocalTier(dir, 200_000);
        LocalTier b = new LocalTier(dir, 200_000);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            LocalTier tier = t % 2 == 0 ? a : b;
            int thread = t;
            futures.add(pool.submit(() -> {
                for (int i = 0; i < 50; i++) {
                    String key = "shared-" + (i % 20);
                    byte[] data = bytes(10_000, i % 20);
                    put(tier, key, data);
                    tier.getVerified("b", key).ifPresent(e -> {
                        try {
                            assertThat(Files.readAllBytes(e.data())).isEqualTo(data);
                        } catch (java.nio.file.NoSuchFileException evicted) {
                            // evicted by the other instance between lookup and read
                        } catch (java.io.IOException ex) {
                            throw new AssertionError(ex);
                        }
                    });
                    put(tier, "own-" + thread + "-" + i, bytes(10_000, 1000 + i));
                }
                return null;
            }));
        }
        for (Future<?> f : futures) {
            f.get();
        }
        pool.shutdown();
        a.evictIfOverBudget();
        assertThat(a.usedBytes()).isLessThanOrEqualTo(200_000);
        assertThat(a.statistics().corruptionsDetected.sum() + b.statistics().corruptionsDetected.sum()).isZero();
        try (var files = Files.list(dir.resolve("v1/staging"))) {
            assertThat(files.filter(f -> f.toString().endsWith(".tmp"))).isEmpty();
        }
    }

    @Test
    void whatACrashLeavesIsNeverServedIsCountedAndIsRemovedOnceOld() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        put(tier, "kept", bytes(1000, 1));
        // a crash between renaming the data in and renaming its sidecar in: data without sidecar
        Path orphan = orphan(tier, "orphan", 2000);
        // a crash while staging (or uploading)
        Path staged = tier.newStagingFile();
        Files.write(staged, bytes(3000, 3));
        // the same, but younger: may belong to a commit or a writer running now in another process
        Path youngOrphan = orphan(tier, "young", 500);
        Path youngStaged = tier.newStagingFile();
        Files.write(youngStaged, bytes(500, 5));
        long now = System.currentTimeMillis();
        Files.setLastModifiedTime(orphan, FileTime.fromMillis(now - TimeUnit.MINUTES.toMillis(LocalTier.ORPHAN_GRACE_MINUTES + 1)));
        Files.setLastModifiedTime(staged, FileTime.fromMillis(now - TimeUnit.HOURS.toMillis(LocalTier.LEFTOVER_HOURS + 1)));
        // a staging file as old as the orphan: a live writer may keep one that long
        Files.setLastModifiedTime(youngStaged, FileTime.fromMillis(now - TimeUnit.MINUTES.toMillis(LocalTier.ORPHAN_GRACE_MINUTES + 1)));

        assertThat(tier.getVerified("b", "orphan")).as("no sidecar: never served").isEmpty();
        LocalTier restarted = new LocalTier(dir, 1 << 20);
        assertThat(orphan).doesNotExist();
        assertThat(staged).doesNotExist();
        assertThat(youngOrphan).exists();
        assertThat(youngStaged).exists();
        assertThat(restarted.usedBytes()).as("every byte left on disk counts").isEqualTo(onDisk()).isGreaterThan(2000);
        assertThat(restarted.getVerified("b", "kept")).isPresent();
        assertThat(restarted.getVerified("b", "young")).isEmpty();
    }

    @Test
    void filesThatAreNotCopiesCountTowardsTheBudgetAndMakeCopiesGo() throws Exception {
        LocalTier tier = new LocalTier(dir, 10_000);
        for (int i = 0; i < 3; i++) {
            put(tier, "k" + i, bytes(2000, i));
        }
        Path writing = tier.newStagingFile(); // a stream being written, here or in another process
        Files.write(writing, bytes(3000, 7));
        Path orphan = orphan(tier, "crashed-commit", 1500);

        tier.evictIfOverBudget();

        assertThat(tier.usedBytes()).isEqualTo(onDisk()).isLessThanOrEqualTo(9000);
        assertThat(writing).as("a staging file is never evicted").exists();
        assertThat(orphan).as("a young data file without sidecar may be a commit in progress").exists();
        assertThat(tier.statistics().evictions.sum()).isPositive();
    }

    @Test
    void aCopyCommittedWhileAnEarlierOneIsCheckedIsNotDroppedAsDamaged() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        put(tier, "k", bytes(1000, 1));
        LocalTier other = new LocalTier(dir, 1 << 20); // a reader that never checked the copy: it reads it in full
        byte[] newer = bytes(1500, 2);
        boolean[] committed = {false};
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.CHECK_SIDECAR_READ) && !committed[0]) {
                committed[0] = true;
                try {
                    put(tier, "k", newer); // the object rewritten on this host after the reader read the sidecar
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            }
        });
        try {
            assertThat(other.getVerified("b", "k")).as("the copy it looked up is no longer there").isEmpty();
        } finally {
            TierSteps.listen(step -> {});
        }
        assertThat(committed[0]).isTrue();
        assertThat(other.statistics().corruptionsDetected.sum()).as("not damage").isZero();
        assertThat(Files.readAllBytes(other.getVerified("b", "k").orElseThrow().data())).isEqualTo(newer);
    }

    @Test
    void aTierFilledByFilesBeingWrittenIsNotScannedAgainAtEveryCommit() throws Exception {
        LocalTier tier = new LocalTier(dir, 10_000);
        Path writing = tier.newStagingFile(); // a restore's downloads reserve their full length
        Files.write(writing, bytes(12_000, 8));
        put(tier, "first", bytes(300, 1));
        tier.evictIfOverBudget(); // over budget: evicts the one copy it can, and stays over
        assertThat(tier.statistics().evictions.sum()).isEqualTo(1);
        assertThat(tier.getVerified("b", "first")).isEmpty();

        // nothing left to evict but what each commit just kept: no scan until a tenth of the budget came
        for (int i = 0; i < 3; i++) {
            put(tier, "small-" + i, bytes(200, 10 + i));
        }
        assertThat(tier.statistics().evictions.sum()).isEqualTo(1);
        assertThat(tier.getVerified("b", "small-2")).isPresent();

        put(tier, "large", bytes(800, 20)); // now past a tenth since the last scan
        assertThat(tier.statistics().evictions.sum()).isGreaterThan(1);
        assertThat(tier.getVerified("b", "small-0")).as("the files being written alone fill the budget").isEmpty();
        assertThat(writing).exists();
    }

    @Test
    void aScanDuringAnotherProcesssCommitKeepsItsDataThoughTheBytesWereStagedLongAgo() throws Exception {
        LocalTier committer = new LocalTier(dir, 1 << 20);
        Path staged = committer.newStagingFile();
        byte[] data = bytes(4000, 4);
        Files.write(staged, data);
        // written long ago, uploaded slowly: the staging file's mtime says nothing about the commit
        Files.setLastModifiedTime(staged, FileTime.fromMillis(System.currentTimeMillis() - TimeUnit.HOURS.toMillis(1)));
        long[] countedMidCommit = {-1};
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.COMMIT_DATA_RENAMED)) {
                try {
                    countedMidCommit[0] = new LocalTier(dir, 1 << 20).usedBytes();
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            }
        });
        try {
            committer.commit("b", "k", staged, data.length, Crc32c.ofFile(staged));
        } finally {
            TierSteps.listen(step -> {});
        }
        assertThat(countedMidCommit[0]).as("the data without sidecar counted, not removed").isEqualTo(data.length);
        assertThat(committer.getVerified("b", "k")).isPresent();
        assertThat(new LocalTier(dir, 1 << 20).getVerified("b", "k")).isPresent();
    }

    /**
     * Another process commits the same key right after this one renamed its data file in: the file
     * at the path is then that process's, which this one did not write. It is not trusted as this
     * one's bytes: its first use reads it, and other bytes of the same length are never served.
     */
    @Test
    void aFileAnotherProcessRenamedInRightAfterThisCommitIsCheckedNotTrusted() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        Path staged = tier.newStagingFile();
        byte[] ours = bytes(4000, 4);
        Files.write(staged, ours);
        Path theirs = Files.write(dir.resolve("staged-by-another-process"), bytes(4000, 5));
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.COMMIT_DATA_RENAMED)) {
                try {
                    TierLayout.move(theirs, tier.dataPath("b", "k"));
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            }
        });
        try {
            tier.commit("b", "k", staged, ours.length, Crc32c.ofFile(staged));
        } finally {
            TierSteps.listen(step -> {});
        }
        assertThat(tier.getVerified("b", "k")).as("other bytes than this process's sidecar describes").isEmpty();
        assertThat(tier.statistics().corruptionsDetected.sum()).isEqualTo(1);
    }

    @Test
    void aSidecarThatCannotBeWrittenTakesItsDataWithIt() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        Path staged = tier.newStagingFile();
        Files.write(staged, bytes(4000, 4));
        Path stagingDir = staged.getParent();
        Path elsewhere = Files.move(staged, dir.resolve("staged-elsewhere")); // same volume
        // The sidecar is staged in staging/: make that impossible, as a full disk would.
        TierSteps.listen(step -> {
            if (step.equals(TierSteps.COMMIT_DATA_RENAMED)) {
                try {
                    Files.delete(stagingDir);
                    Files.writeString(stagingDir, "not a directory");
                } catch (java.io.IOException e) {
                    throw new AssertionError(e);
                }
            }
        });
        try {
            assertThatThrownBy(() -> tier.commit("b", "k", elsewhere, 4000, Crc32c.ofFile(elsewhere)))
                    .isInstanceOf(java.io.IOException.class)
                    .hasMessageContaining(tier.dataPath("b", "k") + ".meta")
                    .hasMessageContaining("s3://b/k");
        } finally {
            TierSteps.listen(step -> {});
            Files.delete(stagingDir); // the disk is no longer full
        }
        assertThat(tier.dataPath("b", "k")).as("no data without sidecar left behind").doesNotExist();
        assertThat(tier.getVerified("b", "k")).isEmpty();
        assertThat(tier.usedBytes()).isEqualTo(onDisk());
    }

    private static Path orphan(LocalTier tier, String key, int size) throws Exception {
        Path data = tier.dataPath("b", key);
        Files.createDirectories(data.getParent());
        Files.write(data, bytes(size, size));
        return data;
    }

    @Test
    void aSidecarWhoseDataIsGoneIsDropped() throws Exception {
        LocalTier tier = new LocalTier(dir, 1 << 20);
        put(tier, "k", bytes(1000, 1));
        Files.delete(tier.dataPath("b", "k"));
        assertThat(tier.getVerified("b", "k")).isEmpty();
        LocalTier restarted = new LocalTier(dir, 1 << 20);
        assertThat(restarted.usedBytes()).isZero();
        assertThat(tier.dataPath("b", "k").resolveSibling(tier.dataPath("b", "k").getFileName() + ".meta")).doesNotExist();
    }
}
