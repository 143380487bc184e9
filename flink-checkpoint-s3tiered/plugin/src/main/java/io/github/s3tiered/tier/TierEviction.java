package io.github.s3tiered.tier;

import io.github.s3tiered.s3.EvenIfInterrupted;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Keeps the tier within its byte budget across every process sharing the directory (several
 * TaskManagers on one host). Eviction takes a file lock (and a lock per JVM, as file locks are
 * per process), re-scans the directory so it counts every file on disk (the other processes'
 * copies, staging files, what crashes left), and removes the least recently used copies (oldest
 * sidecar mtime) down to a low watermark. Sidecar first, then data, as everywhere: a reader never
 * pairs a sidecar with missing data.
 */
final class TierEviction {

    private static final Logger LOG = LoggerFactory.getLogger(TierEviction.class);
    /** Eviction goes down to this share of the budget, so it does not run on every commit. */
    private static final double LOW_WATERMARK = 0.9;
    private static final ConcurrentHashMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();
    /**
     * How long a scan waits for the tier's locks. Another process's scan holds the file lock for
     * a walk of the directory (well under a second for tens of thousands of files); a process
     * frozen while holding it (a paused container, a stopped JVM) would otherwise hold every
     * commit of the host, and with it every checkpoint's close, for as long as it stays frozen.
     */
    static final Duration DEFAULT_LOCK_WAIT = Duration.ofSeconds(10);
    /** After a wait for the locks ran out, commits skip eviction for this long instead of waiting again. */
    private static final long SKIP_AFTER_LOCK_TIMEOUT_NANOS = TimeUnit.MINUTES.toNanos(1);
    private static final long LOCK_POLL_MILLIS = 20;

    private final TierLayout layout;
    private final CopyVerification verification;
    private final TierStatistics stats;
    private final long maxBytes;
    /** Bytes on disk, as of the last scan plus this process's own changes since. */
    private final AtomicLong usedBytes = new AtomicLong();
    /** Bytes committed by this process since the last scan; a scan also counts other processes. */
    private final AtomicLong addedSinceScan = new AtomicLong();
    /**
     * The last scan ended over budget with nothing left to evict: files being written (a restore's
     * downloads reserve their full length) filled it. Until a tenth of the budget is added, a
     * commit does not scan again: each would walk the directory under the file lock, with every
     * other commit of the host waiting, only to evict the copy just kept.
     */
    private volatile boolean overBudgetAfterScan;
    private final Duration lockWait;
    /**
     * {@link System#nanoTime()} until which {@link #evictIfDue()} does not wait for the locks
     * again, after a wait for them ran out; 0 when none did. The budget is then enforced late,
     * never a checkpoint held up.
     */
    private volatile long lockWaitSkippedUntil;

    TierEviction(TierLayout layout, CopyVerification verification, TierStatistics stats, long maxBytes, Duration lockWait) {
        this.layout = layout;
        this.verification = verification;
        this.stats = stats;
        this.maxBytes = maxBytes;
        this.lockWait = lockWait;
    }

    long maxBytes() {
        return maxBytes;
    }

    /** A tier that is off: it stages uploads in the directory, keeps no copies and evicts nobody's. */
    boolean keepsNoCopies() {
        return maxBytes <= 0;
    }

    long usedBytes() {
        return usedBytes.get();
    }

    /**
     * Counts a removal. Never below 0: the copy may be one another process committed after this
     * one's last scan, never counted here (the used-bytes metric went negative).
     */
    void removed(long bytes) {
        usedBytes.updateAndGet(used -> Math.max(0, used - bytes));
    }

    /** Counts a commit; {@link #evictIfDue()} then decides whether to scan. */
    void added(long bytes, long replacedBytes) {
        usedBytes.updateAndGet(used -> Math.max(0, used + bytes - replacedBytes));
        addedSinceScan.addAndGet(bytes);
    }

    /** Over budget by this process's count (unless the last scan could not help it), or a tenth of the budget added since. */
    private boolean due() {
        return usedBytes.get() > maxBytes && !overBudgetAfterScan || addedSinceScan.get() > maxBytes / 10;
    }

    /**
     * Evicts when this process's count is over budget, or after a tenth of the budget was added
     * here since the last scan (other processes add copies this one does not count). Called
     * outside the tier's key locks: a scan walks the whole directory, and every commit, read's
     * commit and drop of the keys under a held lock would wait for it.
     */
    void evictIfDue() throws IOException {
        if (keepsNoCopies()) {
            return;
        }
        if (due()) {
            long skippedUntil = lockWaitSkippedUntil;
            if (skippedUntil != 0 && System.nanoTime() - skippedUntil < 0) {
                return;
            }
            try {
                evictIfOverBudget(true);
            } catch (java.nio.file.DirectoryIteratorException e) {
                // a listing that failed midway: an IOException, which a commit's caller expects
                // (the copy is in place; only the budget was not enforced)
                throw e.getCause();
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
            }
        }
    }

    /**
     * Scans the directory (removing what crashes left, see {@link LocalTier}), counts every file
     * in it, and evicts least recently used copies until under the low watermark. Files that are
     * not copies (being written, or left by a crash and still within their grace) count but
     * cannot be evicted: they only make copies go earlier.
     */
    void evictIfOverBudget() throws IOException {
        evictIfOverBudget(false);
    }

    /**
     * {@code forACommit}: a commit's eviction, which gives up once a wait for the file lock ran out
     * (see {@link #lockWaitSkippedUntil}), also one that queued for this process's lock before.
     */
    private void evictIfOverBudget(boolean forACommit) throws IOException {
        // the file lock fails on an interrupted thread (a commit at the end of a cancelled upload)
        try {
            EvenIfInterrupted.run(() -> {
                if (keepsNoCopies()) {
                    // a process with the tier off (its budget 0) shares the directory, whose default is
                    // the host's, with processes that keep copies: evicting down to its budget would
                    // remove all of theirs. It only removes what crashes left.
                    scannedUnderLock((scan, total) -> total, forACommit);
                } else {
                    scannedUnderLock((scan, total) -> total > maxBytes ? evict(scan, total) : total, forACommit);
                }
                return null;
            });
        } catch (LockNotTaken e) {
            // the copy just committed is in place; the budget is enforced by a later scan
            LOG.warn("{}; not enforcing the tier's budget for a minute", e.getMessage());
        }
    }

    /**
     * See {@link LocalTier#evictForFullVolume}. Fails with {@link LockNotTaken} when the locks are
     * not free within the wait: the write then fails on the full volume, naming the lock.
     */
    long evictForFullVolume(long bytes) throws IOException {
        return EvenIfInterrupted.run(() -> scannedUnderLock((scan, total) -> {
            // a copy also linked elsewhere (into a restored RocksDB directory, or RocksDB's own
            // file that a pre-upload linked) frees nothing on disk: it stays
            long left = evictLeastRecentlyUsed(scan, total, Math.max(0, total - bytes), true);
            LOG.warn("Local tier {}: its volume is full with {} bytes in the tier ({} budgeted): evicted {} bytes of"
                    + " copies for a write", layout.root(), total, maxBytes, total - left);
            return left;
        }, false));
    }

    /** The number of hard links of a file; 1 where the file system does not tell. */
    private static int links(Path file) {
        try {
            return (Integer) Files.getAttribute(file, "unix:nlink");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return 1;
        }
    }

    /** What an eviction does with a fresh scan: returns the bytes left. */
    @FunctionalInterface
    private interface EvictionStep {
        long evict(TierLayout.Scan scan, long total) throws IOException;
    }

    /**
     * Under the tier's locks (this JVM's and the file lock other processes take), scans the
     * directory, runs {@code step} on it and records what is left; returns the bytes the step
     * evicted. This process's lock is waited for without a bound: its holder is a live thread of
     * this process, which waits at most {@link #lockWait} for the file lock. {@code forACommit}:
     * returns 0 without a scan when, meanwhile, a wait for the file lock ran out (the threads
     * queued behind one frozen neighbour would otherwise each wait it out in turn).
     */
    private long scannedUnderLock(EvictionStep step, boolean forACommit) throws IOException {
        ReentrantLock jvmLock = JVM_LOCKS.computeIfAbsent(layout.lockKey(), r -> new ReentrantLock());
        try {
            jvmLock.lockInterruptibly();
        } catch (InterruptedException e) {
            throw interrupted(e);
        }
        try {
            long skippedUntil = lockWaitSkippedUntil;
            if (forACommit && skippedUntil != 0 && System.nanoTime() - skippedUntil < 0) {
                return 0;
            }
            // commits that finished together all found a scan due and queued here: the first one's scan counted
            // their copies, and each walk of the directory holds every commit of the host waiting
            if (forACommit && !due()) {
                return 0;
            }
            TierSteps.reached(TierSteps.EVICT_SCANNING);
            try (FileChannel ch = FileChannel.open(layout.lockFile(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock ignored = fileLockUntil(ch, System.nanoTime() + lockWait.toNanos())) {
                long now = System.currentTimeMillis();
                // reset before the scan: a commit landing during it is then counted again, never lost
                addedSinceScan.set(0);
                TierLayout.Scan scan = layout.scan(
                        now - TimeUnit.MINUTES.toMillis(LocalTier.ORPHAN_GRACE_MINUTES),
                        now - TimeUnit.HOURS.toMillis(LocalTier.LEFTOVER_HOURS));
                long total = scan.totalBytes();
                // copies other processes evicted or dropped are no longer checked here: forgotten
                verification.retainOnly(scan.copies().stream().map(TierLayout.ScannedCopy::data)
                        .collect(java.util.stream.Collectors.toSet()));
                long left = step.evict(scan, total);
                overBudgetAfterScan = left > maxBytes;
                usedBytes.set(left);
                return total - left;
            }
        } finally {
            jvmLock.unlock();
        }
    }

    /** Cancelled meanwhile: no scan, and the caller ends as interrupted (not as a lock held too long). */
    private java.io.InterruptedIOException interrupted(InterruptedException e) {
        Thread.currentThread().interrupt();
        java.io.InterruptedIOException io = new java.io.InterruptedIOException("Local tier " + layout.root()
                + ": interrupted while waiting for its eviction lock");
        io.initCause(e);
        return io;
    }

    /** The file lock, polled: a blocking {@code lock()} waits for as long as its holder lives. */
    private FileLock fileLockUntil(FileChannel ch, long deadline) throws IOException {
        while (true) {
            FileLock lock = ch.tryLock();
            if (lock != null) {
                return lock;
            }
            if (System.nanoTime() - deadline >= 0) {
                // set before this process's lock is let go: the commits queued for it see it
                lockWaitSkippedUntil = System.nanoTime() + SKIP_AFTER_LOCK_TIMEOUT_NANOS;
                throw new LockNotTaken(layout.root(), "another process sharing the directory (frozen or paused?) in "
                        + layout.lockFile(), lockWait);
            }
            try {
                Thread.sleep(LOCK_POLL_MILLIS);
            } catch (InterruptedException e) {
                throw interrupted(e);
            }
        }
    }

    /** The tier's locks were held by others for the whole wait: nothing was scanned or evicted. */
    static final class LockNotTaken extends IOException {
        LockNotTaken(Path root, String holder, Duration wait) {
            super("Local tier " + root + ": its eviction lock was held by " + holder + " for more than "
                    + wait.toMillis() + " ms");
        }
    }

    private long evict(TierLayout.Scan scan, long total) throws IOException {
        long target = (long) (maxBytes * LOW_WATERMARK);
        long left = evictLeastRecentlyUsed(scan, total, target, false);
        LOG.info("Local tier {}: evicted least recently used copies, {} bytes held of a {} byte budget"
                        + " ({} of them in files being written or left by a crash)",
                layout.root(), left, maxBytes, scan.otherBytes());
        return left;
    }

    /**
     * Evicts the least recently used copies until {@code total} is at most {@code target}, those
     * whose data file has other links too only when {@code onlyUnlinked} is false; returns what is
     * left.
     */
    private long evictLeastRecentlyUsed(TierLayout.Scan scan, long total, long target, boolean onlyUnlinked)
            throws IOException {
        List<TierLayout.ScannedCopy> copies = new ArrayList<>(scan.copies());
        copies.sort(Comparator.comparingLong(TierLayout.ScannedCopy::lastAccessMillis));
        int evicted = 0;
        for (TierLayout.ScannedCopy c : copies) {
            if (total <= target) {
                break;
            }
            if (onlyUnlinked && links(c.data()) > 1) {
                continue;
            }
            Files.deleteIfExists(c.meta());
            TierSteps.reached(TierSteps.EVICT_SIDECAR_REMOVED);
            verification.forget(c.data());
            Files.deleteIfExists(c.data());
            total -= c.bytes();
            evicted++;
        }
        stats.evictions.add(evicted);
        return total;
    }
}
