package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

/** The index of uploads ahead of checkpoints, shared by every job of a TaskManager. */
class PreUploadsTest {

    @Test
    void aJobWithAShortWindowDoesNotExpireAnotherJobsEntries() throws Exception {
        PreUploads index = new PreUploads();
        PreUploads.ContentId longJobs = new PreUploads.ContentId(10, "a".repeat(64));
        PreUploads.ContentId shortJobs = new PreUploads.ContentId(10, "b".repeat(64));
        PreUploads.Entry kept = index.begin(longJobs, new ObjectPath("bucket", "long/shared/a.sst"), TimeUnit.HOURS.toNanos(1));
        index.succeeded(longJobs, kept);
        PreUploads.Entry expired = index.begin(shortJobs, new ObjectPath("bucket", "short/shared/b.sst"), 1_000_000);
        index.succeeded(shortJobs, expired);

        Thread.sleep(1_100); // the index prunes at most once a second
        PreUploads.ContentId next = new PreUploads.ContentId(10, "c".repeat(64));
        index.begin(next, new ObjectPath("bucket", "short/shared/c.sst"), 1_000_000);

        assertThat(index.takeForReuseOrClaim(shortJobs, new ObjectPath("bucket", "short/shared"))).as("past its own 1 ms window")
                .isNull();
        assertThat(index.takeForReuseOrClaim(longJobs, new ObjectPath("bucket", "long/shared"))).as("within its own 1 h window")
                .isSameAs(kept);
    }

    @Test
    void aWithdrawalRacingAStreamThatTakesAndGivesBackTheEntryIsNeverLost() throws Exception {
        // The RocksDB instance closes (withdraw) while a checkpoint stream takes the same entry and
        // then does not refer to it: exactly one of the two must delete the object. A withdrawal
        // that saw the entry not taken, and then found it gone from the index, left it to nobody.
        PreUploads index = new PreUploads();
        ObjectPath dir = new ObjectPath("bucket", "job/shared");
        java.util.concurrent.ExecutorService other = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            for (int i = 0; i < 20_000; i++) {
                PreUploads.ContentId id = new PreUploads.ContentId(10, String.format("%064x", i));
                ObjectPath object = new ObjectPath("bucket", "job/shared/" + i + ".sst");
                PreUploads.Entry e = index.begin(id, object, TimeUnit.HOURS.toNanos(1));
                index.succeeded(id, e);
                java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
                java.util.concurrent.Future<Boolean> streamDeletes = other.submit(() -> {
                    go.await();
                    PreUploads.Entry taken = index.takeForReuseOrClaim(id, dir);
                    return taken != null && index.takenButNotUsed(taken);
                });
                go.countDown();
                boolean withdrawn = index.withdraw(object);
                boolean deletedByStream = streamDeletes.get(10, TimeUnit.SECONDS);
                assertThat(withdrawn ^ deletedByStream).as("object %s deleted by exactly one side", i).isTrue();
            }
        } finally {
            other.shutdownNow();
        }
    }
}
