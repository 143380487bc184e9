package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Local-disk copies of S3 objects, addressed by bucket and key: the on-disk layout and sidecar
 * format ({@link TierLayout}), the check of copies ({@link CopyVerification}), and the budget kept
 * across processes ({@link TierEviction}).
 *
 * <h2>Invariants</h2>
 *
 * <ul>
 *   <li>A copy is served only with its sidecar, and only after its size and CRC32C matched the
 *       sidecar in this process (or its {@link FileIdentity} is the one this process wrote or
 *       checked). A mismatch drops the copy; the read goes to S3.
 *   <li>A sidecar is written last and removed first. Commit: stage the data, remove the old
 *       sidecar, set the data's mtime to now and rename it into place, stage and rename the
 *       sidecar. Drop and eviction: remove the sidecar, then the data. So a sidecar never describes
 *       bytes it was not written for (short of someone else editing the files, which the check
 *       catches).
 *   <li>Files enter {@code objects/} only by rename from {@code staging/} on the same volume:
 *       nobody sees a partly written file.
 *   <li>A reader's copy never replaces a newer version: a copy read from S3 enters the tier only
 *       when no writer committed, dropped or began rewriting that key in this process since the
 *       reader took its {@link #readTicket} (before it asked S3 what the object is). Without this a
 *       slow reader of version 1 would commit its copy after a writer's version 2 (or after a
 *       delete), and this host would serve version 1 from then on.
 *   <li>The budget counts every byte on disk: each scan (at start, and at each eviction) sums the
 *       size of every file in {@code objects/} and {@code staging/}, copies, sidecars, staging
 *       files and data files without sidecar alike; between scans this process adds and subtracts
 *       its own changes. Only copies can be evicted; the other files make copies go earlier.
 * </ul>
 *
 * <h2>After a crash at any step</h2>
 *
 * Other live processes may share the directory, so a scan cannot tell a crash's leftover from a
 * file another process is writing right now; it goes by the file's mtime, and counts the file
 * until it removes it.
 *
 * <ul>
 *   <li>While staging (data or sidecar), or uploading it: a file in {@code staging/}. Never read;
 *       counted, and removed by a scan once older than {@value #LEFTOVER_HOURS} hours. A live
 *       writer may keep a staging file for as long as its stream is open and its upload runs, so
 *       this grace is long.
 *   <li>Between renaming the data in and renaming its sidecar in: a data file without sidecar.
 *       Never served ({@code lookup} needs the sidecar); counted, and removed by a scan once its
 *       mtime is older than {@value #ORPHAN_GRACE_MINUTES} minutes. A live commit spends
 *       microseconds there, and its data's mtime is the time of its rename (set by the commit),
 *       so the grace only has to outlast a stalled disk. Should a live commit be slower still,
 *       it loses its copy, never its correctness: a sidecar whose data is gone serves nothing.
 *       A full disk there (the sidecar cannot be written) makes the commit remove the data itself.
 *   <li>Between removing a sidecar and its data (drop, eviction): the same, a data file without
 *       sidecar, counted and removed the same way.
 *   <li>A sidecar whose data is gone (removed by hand): dropped by the next scan or lookup.
 * </ul>
 *
 * The tier is a cache of S3: losing any of it loses nothing, and nothing in it is trusted
 * without its check.
 */
public final class LocalTier {

    private static final Logger LOG = LoggerFactory.getLogger(LocalTier.class);
    /** Staging files (of a crashed writer, or a live one) are removed once this old. */
    public static final int LEFTOVER_HOURS = 6;
    /** Data files without sidecar (a crashed commit, drop or eviction) are removed once this old. */
    public static final int ORPHAN_GRACE_MINUTES = 10;

    /**
     * How often each stripe of keys changed in this process (writer commits, drops, rewrites):
     * the versions readers' tickets are checked against. Stripes, not a map of every key ever
     * written: bounded memory (128 KiB); a change of another key of the same stripe (1 in 16,384)
     * only costs a reader its copy, never its bytes. A tier shared by several processes is not
     * covered: each sees only its own changes. The locks, coarser, make a check and its commit
     * one step against a change of the same stripe.
     */
    private static final int STRIPES = 16384;
    private static final int LOCKS = 256;
    private final AtomicLongArray versions = new AtomicLongArray(STRIPES);
    private final Object[] stripeLocks = new Object[LOCKS];

    {
        for (int i = 0; i < LOCKS; i++) {
            stripeLocks[i] = new Object();
        }
    }

    private static int stripeOf(String bucket, String key) {
        int h = bucket.hashCode() * 31 + key.hashCode();
        return (h ^ (h >>> 16)) & (STRIPES - 1);
    }

    private Object lockOf(int stripe) {
        return stripeLocks[stripe & (LOCKS - 1)];
    }

    /** Which lock guards a key's stripe: keys of equal values share it (tests). */
    static int lockIndexOf(String bucket, String key) {
        return stripeOf(bucket, key) & (LOCKS - 1);
    }

    private final TierLayout layout;
    private final TierStatistics stats = new TierStatistics();
    private final CopyVerification verification = new CopyVerification(stats);
    private final TierEviction eviction;

    public LocalTier(Path root, long maxBytes) throws IOException {
        this(root, maxBytes, "");
    }

    /**
     * {@code store} names the S3 service the copies come from ({@code host:port} of a custom
     * endpoint, empty for AWS): processes that share the tier directory (its default is under
     * the temp directory of the host) but talk to different services never read each other's
     * copies of a bucket and key both have.
     */
    public LocalTier(Path root, long maxBytes, String store) throws IOException {
        this(root, maxBytes, store, TierEviction.DEFAULT_LOCK_WAIT);
    }

    /** {@code lockWait}: how long a scan waits for the host-wide eviction lock (tests shorten it). */
    LocalTier(Path root, long maxBytes, String store, java.time.Duration lockWait) throws IOException {
        this.layout = new TierLayout(root, store);
        this.eviction = new TierEviction(layout, verification, stats, maxBytes, lockWait);
        eviction.evictIfOverBudget(); // counts everything on disk, removes what crashes left
    }

    public Path root() {
        return layout.root();
    }

    public long maxBytes() {
        return eviction.maxBytes();
    }

    /**
     * Bytes on disk under the tier (copies, sidecars, staging files, what crashes left), as of
     * this process's last scan plus its own changes since.
     */
    public long usedBytes() {
        return eviction.usedBytes();
    }

    public TierStatistics statistics() {
        return stats;
    }

    /** A new, unique staging file path on the tier's volume (so the commit is a rename). */
    public Path newStagingFile() {
        return layout.newStagingFile();
    }

    /** Whether a file of this size can be kept at all. */
    public boolean fits(long size) {
        return !eviction.keepsNoCopies() && size <= eviction.maxBytes();
    }

    /**
     * The copy of an object after checking its size and CRC32C, with its access time updated;
     * empty when there is none or it was damaged (then it is dropped).
     */
    public Optional<TierEntry> getVerified(String bucket, String key) {
        return intactCopy(bucket, key).map(IntactCopy::entry);
    }

    /** As {@link #getVerified}, with the identity of the file checked: a reader opens that file or none. */
    public Optional<IntactCopy> getIntact(String bucket, String key) {
        return intactCopy(bucket, key);
    }

    /**
     * Of the given objects, those this tier holds intact, each checked as by {@link #getVerified}.
     * The one question a batch restore asks the tier.
     *
     * <p>A copy this process wrote or checked costs a sidecar read and a stat, a few system calls,
     * so the checks are {@link CursorWork} (one pool task per file made the question take 45-55 ms
     * for 9-13 files on two cores, of which the calls themselves took well under a millisecond
     * each). A copy that must be read in full (not checked by this process yet, or changed since) is
     * read on {@code pool}, each on its own, so that a new process's restore reads them in parallel.
     */
    public Map<ObjectKey, IntactCopy> intactCopies(Collection<ObjectKey> keys, Executor pool) {
        return intactCopies(keys, pool, () -> false);
    }

    /**
     * As above, for a restore that may be cancelled meanwhile: once {@code cancelled} says so, no
     * copy is read in full any more (each counts as not held), so the cancel does not wait for
     * reads of seconds per GB.
     */
    public Map<ObjectKey, IntactCopy> intactCopies(Collection<ObjectKey> keys, Executor pool,
            java.util.function.BooleanSupplier cancelled) {
        List<ObjectKey> distinct = new ArrayList<>(new LinkedHashSet<>(keys));
        List<CompletableFuture<Optional<IntactCopy>>> checks = new ArrayList<>(distinct.size());
        distinct.forEach(k -> checks.add(new CompletableFuture<>()));
        CursorWork.start(distinct.size(), pool, i -> checkOne(distinct.get(i), checks.get(i), pool, cancelled)).run();
        Map<ObjectKey, IntactCopy> intact = new LinkedHashMap<>();
        for (int i = 0; i < distinct.size(); i++) {
            ObjectKey k = distinct.get(i);
            checks.get(i).join().ifPresent(c -> intact.put(k, c));
        }
        return intact;
    }

    /** Checks one copy here, or hands it to {@code pool} when it must be read in full; {@code result} is told. */
    private void checkOne(ObjectKey k, CompletableFuture<Optional<IntactCopy>> result, Executor pool,
            java.util.function.BooleanSupplier cancelled) {
        try {
            Optional<TierEntry> entry = lookup(k.bucket(), k.key());
            if (entry.isEmpty()) {
                stats.misses.increment();
                result.complete(Optional.empty());
                return;
            }
            TierEntry e = entry.get();
            TierSteps.reached(TierSteps.CHECK_SIDECAR_READ);
            CopyVerification.Result known = verification.checkWithoutReading(e);
            if (known != null) {
                result.complete(outcome(k.bucket(), k.key(), e, known));
                return;
            }
            if (cancelled.getAsBoolean()) {
                result.complete(Optional.empty());
                return;
            }
            CompletableFuture.supplyAsync(() -> cancelled.getAsBoolean()
                    ? Optional.<IntactCopy>empty() : outcome(k.bucket(), k.key(), e, verification.check(e)), pool)
                    .whenComplete((copy, failure) -> {
                        if (failure != null) {
                            result.completeExceptionally(failure);
                        } else {
                            result.complete(copy);
                        }
                    });
        } catch (Throwable e) { // the caller waits for every key: none may be left untold
            result.completeExceptionally(e);
        }
    }

    private Optional<IntactCopy> intactCopy(String bucket, String key) {
        Optional<TierEntry> entry = lookup(bucket, key);
        if (entry.isEmpty()) {
            stats.misses.increment();
            return Optional.empty();
        }
        TierSteps.reached(TierSteps.CHECK_SIDECAR_READ);
        return outcome(bucket, key, entry.get(), verification.check(entry.get()));
    }

    /** What a check of a recorded copy means: the copy (its access time updated), or none (a damaged one dropped). */
    private Optional<IntactCopy> outcome(String bucket, String key, TierEntry e, CopyVerification.Result result) {
        if (result instanceof CopyVerification.Intact intact) {
            touch(e.meta());
            stats.hits.increment();
            return Optional.of(new IntactCopy(e, intact.identity()));
        }
        if (result instanceof CopyVerification.Damaged damaged && dropIfStill(e)) {
            LOG.warn("Dropping damaged local-tier copy of s3://{}/{} ({}): {}; reading from S3 instead",
                    bucket, key, e.data(), damaged.why());
            stats.corruptionsDetected.increment();
        } else if (result instanceof CopyVerification.NotReadHere notRead) {
            LOG.warn("Could not read the local-tier copy of s3://{}/{} ({}): {}; reading from S3 instead, the copy kept",
                    bucket, key, e.data(), notRead.why());
            stats.misses.increment();
        } else {
            stats.misses.increment(); // evicted or replaced meanwhile, maybe by another process
        }
        return Optional.empty();
    }

    /**
     * As {@link #lookup}, for the checks that drop what S3 no longer holds as recorded (after a
     * read of S3 the guard or the inspector relies on): a sidecar not read, for whatever reason,
     * drops the copy, as what this host would serve next must not be one nobody compared.
     */
    private Optional<TierEntry> lookupOrDrop(String bucket, String key) {
        try {
            return layout.readSidecar(bucket, key);
        } catch (TierLayout.SidecarUnreadableException e) {
            LOG.warn("{}; dropping the copy", e.getMessage());
            drop(bucket, key);
            return Optional.empty();
        }
    }

    /** The recorded copy, without checking its content. */
    Optional<TierEntry> lookup(String bucket, String key) {
        if (!notServed.isEmpty() && notServed.contains(new ObjectKey(bucket, key))) {
            return Optional.empty();
        }
        try {
            return layout.readSidecar(bucket, key);
        } catch (TierLayout.SidecarUnreadableException e) {
            if (e.hostSide) {
                LOG.warn("{}; reading from S3 instead, the copy kept", e.getMessage());
            } else {
                LOG.warn("{}; dropping the copy", e.getMessage());
                drop(bucket, key);
            }
            return Optional.empty();
        }
    }

    /**
     * Moves a staged file (from {@link #newStagingFile()}, or any file on the same volume) into
     * the tier as the copy of {@code bucket/key}; the caller computed {@code crc32c} from the bytes
     * it wrote into that very file. A file too large for the budget is deleted.
     */
    public void commit(String bucket, String key, Path stagedFile, long size, int crc32c) throws IOException {
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            versions.incrementAndGet(stripe); // readers of the version this one replaces keep no copy
            placeOrRemove(bucket, key, stagedFile, size, crc32c);
        }
        eviction.evictIfDue();
    }

    /**
     * Keys whose copy is of a version S3 no longer holds and could not be removed (a disk remounted
     * read-only): never served while this process runs, until a copy is placed or removed.
     */
    private final java.util.Set<ObjectKey> notServed = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * {@link #place}; when it fails, the copy of the version S3 held before (which a reader of a
     * name whose content never changes would be served without asking S3) goes, or is no longer served.
     */
    private void placeOrRemove(String bucket, String key, Path stagedFile, long size, int crc32c) throws IOException {
        try {
            place(bucket, key, stagedFile, size, crc32c);
        } catch (IOException | RuntimeException | Error e) {
            // a failure after the new copy was recorded whole (a later step of the commit) keeps it
            if (!recordsVersion(bucket, key, size, crc32c) && !remove(bucket, key)) {
                notServed.add(new ObjectKey(bucket, key));
            }
            throw e;
        }
        notServed.remove(new ObjectKey(bucket, key));
    }

    /**
     * A ticket for a reader that will keep a copy of what it reads from S3: take it before asking
     * S3 what the object is (HEAD or first GET), hand it to {@link #commitRead}.
     */
    public long readTicket(String bucket, String key) {
        return versions.get(stripeOf(bucket, key));
    }

    /**
     * As {@link #commit}, for a copy read from S3: kept only when no writer committed, dropped or
     * began rewriting this key (or another of its stripe) in this process since {@code ticket} was
     * taken, and no stream rewrites it now; else the staged file is left to the caller to delete.
     * Returns whether the copy was kept.
     */
    public boolean commitRead(String bucket, String key, Path stagedFile, long size, int crc32c, long ticket)
            throws IOException {
        TierSteps.reached(TierSteps.READ_COMMIT_CHECKING);
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            if (versions.get(stripe) != ticket || isBeingRewritten(bucket, key)) {
                stats.staleReadsNotKept.increment();
                return false;
            }
            placeOrRemove(bucket, key, stagedFile, size, crc32c);
        }
        eviction.evictIfDue();
        return true;
    }

    private void place(String bucket, String key, Path stagedFile, long size, int crc32c) throws IOException {
        if (!fits(size)) {
            Files.deleteIfExists(stagedFile);
            // a copy of an earlier version must not stay in its place: failing here marks it not served
            if (!remove(bucket, key)) {
                throw new IOException("Local tier: could not remove the copy of an earlier version of s3://" + bucket + "/"
                        + key + " (" + layout.dataPath(bucket, key) + ")");
            }
            return;
        }
        Path data = layout.dataPath(bucket, key);
        Path meta = TierLayout.metaPath(data);
        Files.createDirectories(data.getParent());
        long replaced = bytesOf(data) + bytesOf(meta);
        // The data's mtime says when it entered objects/: a scan of another process takes a
        // younger data file without sidecar for a commit in progress (see the invariants).
        Files.setLastModifiedTime(stagedFile, FileTime.fromMillis(System.currentTimeMillis()));
        FileIdentity staged = FileIdentity.of(stagedFile); // a rename keeps it
        // Sidecar first out, last in.
        Files.deleteIfExists(meta);
        verification.forget(data);
        TierLayout.move(stagedFile, data);
        TierSteps.reached(TierSteps.COMMIT_DATA_RENAMED);
        if (!verification.trustWritten(data, staged, crc32c)) {
            eviction.removed(replaced);
            return; // another process evicted or dropped it right after the move: not kept
        }
        try {
            layout.writeSidecar(new TierEntry(bucket, key, data, meta, size, crc32c));
        } catch (IOException | UncheckedIOException e) {
            // A full disk, or the directory wiped: never leave data without sidecar behind.
            verification.forget(data);
            Files.deleteIfExists(data);
            eviction.removed(replaced);
            if (e instanceof NoSuchFileException) {
                return; // its directory went meanwhile (wiped by an operator): nothing kept
            }
            throw new IOException("Could not write the sidecar " + meta + " of the local-tier copy of s3://"
                    + bucket + "/" + key + "; the copy was removed: " + e.getMessage(), e);
        }
        TierSteps.reached(TierSteps.COMMIT_SIDECAR_RENAMED);
        stats.bytesCommitted.add(size);
        eviction.added(size + bytesOf(meta), replaced);
        TierSteps.reached(TierSteps.COMMIT_COUNTED);
    }

    /**
     * Drops the copy of an object when its recorded size or CRC32C differ from what S3 holds now
     * (the CRC32C is compared only when S3 has one, {@code durableCrc32c} not null): the object was
     * replaced or altered after this host kept its copy, and the copy must not mask that. Only the
     * sidecar is read, not the data. Returns true when a copy was dropped.
     */
    public boolean dropIfStale(String bucket, String key, long durableSize, Integer durableCrc32c) {
        Optional<TierEntry> entry = lookupOrDrop(bucket, key);
        if (entry.isEmpty() || entry.get().size() == durableSize
                && (durableCrc32c == null || entry.get().crc32c() == durableCrc32c)) {
            return false;
        }
        LOG.warn("Dropping the local-tier copy of s3://{}/{}: it holds {} bytes with CRC32C {}, S3 holds {} bytes{}",
                bucket, key, entry.get().size(), Crc32c.toHex(entry.get().crc32c()), durableSize,
                durableCrc32c == null ? "" : " with CRC32C " + Crc32c.toHex(durableCrc32c));
        drop(bucket, key);
        stats.staleCopiesDropped.increment();
        return true;
    }

    /**
     * Drops the copy of an object whose bytes on local disk are not those of {@code crc32c}, S3's
     * (a disk that altered them keeps their size, mtime and inode, by which a copy this process
     * wrote or checked before is trusted without reading it). Reads the whole copy: for the
     * callers that have just read the object from S3 in full (the guard's durable reads), so that
     * the next read of this host serves what they approved. Returns true when a copy was dropped.
     */
    public boolean dropIfAlteredOnDisk(String bucket, String key, int crc32c) {
        Optional<TierEntry> entry = lookupOrDrop(bucket, key);
        if (entry.isEmpty()) {
            return false;
        }
        int onDisk;
        try {
            onDisk = Crc32c.ofFile(entry.get().data());
        } catch (NoSuchFileException gone) {
            return false; // gone meanwhile (evicted, replaced): nothing left to serve
        } catch (IOException e) {
            // not read (no descriptor left, say): what S3 holds was approved, a copy not proven the same goes
            LOG.warn("Dropping the local-tier copy {} of s3://{}/{}: it could not be compared with S3's ({})",
                    entry.get().data(), bucket, key, e.toString());
            drop(bucket, key);
            stats.staleCopiesDropped.increment();
            return true;
        }
        if (onDisk == crc32c) {
            return false;
        }
        LOG.warn("Dropping the local-tier copy {} of s3://{}/{}: its bytes on disk have CRC32C {}, S3's {}"
                + " (altered on local disk)", entry.get().data(), bucket, key, Crc32c.toHex(onDisk), Crc32c.toHex(crc32c));
        drop(bucket, key);
        stats.staleCopiesDropped.increment();
        return true;
    }

    /**
     * Drops the copy of an object S3 no longer holds (deleted, or lost): a read on this host must
     * not keep serving it. Returns true when a copy was dropped.
     */
    public boolean dropIfGone(String bucket, String key) {
        if (lookupOrDrop(bucket, key).isEmpty()) {
            return false;
        }
        LOG.warn("Dropping the local-tier copy of s3://{}/{}: S3 no longer holds the object", bucket, key);
        drop(bucket, key);
        stats.staleCopiesDropped.increment();
        return true;
    }

    /**
     * Objects streams of this process write (from their first upload, a sync's or the close's, to
     * their end), with how many such streams and the generation of the last to begin: until a
     * stream's own copy is committed, a copy a reader would keep is of an older version, so readers
     * keep none ({@link #isBeingRewritten}); and of two streams whose writes overlapped, neither
     * knows which version S3 kept (their commits are not ordered by S3's completions), so neither
     * keeps a copy ({@link #commitRewritten}). Changed under the key's stripe lock.
     */
    private final java.util.concurrent.ConcurrentHashMap<ObjectKey, Rewrites> beingRewritten =
            new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong rewriteGenerations = new java.util.concurrent.atomic.AtomicLong();

    /**
     * See {@link #beingRewritten}. {@code inDoubtUntil}: {@link System#nanoTime()} until which the key
     * counts as rewritten with no stream left (0: not at all), as a stream whose upload's answer was
     * lost ended: S3 may still complete that request, so until then no copy is kept, none served.
     */
    private record Rewrites(int streams, long generation, long inDoubtUntil) {

        /** Whether it still stands: a stream writes the key, or an ended one's upload may still land. */
        boolean live(long now) {
            return streams > 0 || inDoubtUntil != 0 && now - inDoubtUntil < 0;
        }

        Rewrites newGeneration(long generation) {
            return new Rewrites(streams, generation, inDoubtUntil);
        }
    }

    /** The key's entry if it still stands; an expired one goes (atomically, whatever its stripe lock). */
    private Rewrites liveRewrites(ObjectKey k) {
        Rewrites r = beingRewritten.get(k);
        if (r != null && !r.live(System.nanoTime())) {
            beingRewritten.remove(k, r);
            return null;
        }
        return r;
    }

    /** What {@link #beginRewrite} answers a stream that began while another of the key was written. */
    public static final long OVERLAPPED = -1;

    /**
     * A stream begins uploading {@code bucket/key}; returns its token for {@link #commitRewritten}:
     * its generation, or {@link #OVERLAPPED} when another stream of the key is written meanwhile.
     */
    public long beginRewrite(String bucket, String key) {
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            versions.incrementAndGet(stripe);
            long generation = rewriteGenerations.incrementAndGet();
            ObjectKey k = new ObjectKey(bucket, key);
            Rewrites before = liveRewrites(k);
            beingRewritten.put(k, new Rewrites(before == null ? 1 : before.streams() + 1, generation,
                    before == null ? 0 : before.inDoubtUntil()));
            // the previous version's copy goes now: from this upload on S3 may hold either version, and a
            // restore, or a stream that ends without a commit (an abandoned one after a failed sync), would
            // otherwise go on serving it
            removeOrStopServing(bucket, key);
            return before == null ? generation : OVERLAPPED;
        }
    }

    public void endRewrite(String bucket, String key) {
        endRewrite(bucket, key, 0);
    }

    /**
     * A stream of the key ended; {@code inDoubtUntil} ({@link System#nanoTime()}, 0: none): its upload
     * failed after its request went out, and S3 may complete that request until then. The key then
     * stays rewritten: no reader keeps a copy, and a stream beginning meanwhile overlaps it.
     */
    public void endRewrite(String bucket, String key, long inDoubtUntil) {
        synchronized (lockOf(stripeOf(bucket, key))) {
            long now = System.nanoTime();
            beingRewritten.computeIfPresent(new ObjectKey(bucket, key), (k, r) -> {
                long doubt = r.inDoubtUntil() != 0 && now - r.inDoubtUntil() < 0 ? r.inDoubtUntil() : 0;
                if (inDoubtUntil != 0 && (doubt == 0 || inDoubtUntil - doubt > 0)) {
                    doubt = inDoubtUntil;
                }
                Rewrites left = new Rewrites(Math.max(0, r.streams() - 1), r.generation(), doubt);
                return left.live(now) ? left : null;
            });
        }
        if (inDoubtUntil != 0 && beingRewritten.size() > PURGE_REWRITES_ABOVE) {
            // keys in doubt are mostly random names nothing looks up again (a failed checkpoint's files):
            // without this, an outage that fails uploads after sending them would leave an entry per file
            long now = System.nanoTime();
            beingRewritten.entrySet().removeIf(e -> !e.getValue().live(now)); // removes an entry only if unchanged
        }
    }

    /** Above this many entries, an in-doubt end purges the expired ones. */
    static final int PURGE_REWRITES_ABOVE = 1024;

    /** Entries of {@link #beingRewritten} (tests). */
    int rewriteEntries() {
        return beingRewritten.size();
    }

    /**
     * As {@link #commit}, by the stream that holds {@code token} from {@link #beginRewrite}: kept
     * only when no other stream of the key was written while this one was (else no copy stays,
     * the previous version's neither). Returns whether the copy was kept.
     */
    public boolean commitRewritten(String bucket, String key, Path stagedFile, long size, int crc32c, long token)
            throws IOException {
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            versions.incrementAndGet(stripe);
            Rewrites now = beingRewritten.get(new ObjectKey(bucket, key));
            if (token == OVERLAPPED || now == null || now.generation() != token) {
                if (!remove(bucket, key)) {
                    notServed.add(new ObjectKey(bucket, key));
                }
                stats.staleReadsNotKept.increment();
                return false;
            }
            placeOrRemove(bucket, key, stagedFile, size, crc32c);
        }
        eviction.evictIfDue();
        return true;
    }

    /** Whether a copy of this object must neither be kept nor served (a stream here rewrites it). */
    public boolean isBeingRewritten(String bucket, String key) {
        return !beingRewritten.isEmpty() && liveRewrites(new ObjectKey(bucket, key)) != null;
    }

    /**
     * Drops the copy its sidecar still describes as {@code checked}: a copy committed since the
     * sidecar was read (here or by another process) is another version, not the damaged one, and
     * its bytes differ from what the check expected for that reason alone.
     */
    private boolean dropIfStill(TierEntry checked) {
        int stripe = stripeOf(checked.bucket(), checked.key());
        synchronized (lockOf(stripe)) {
            Optional<TierEntry> now;
            try {
                now = layout.readSidecar(checked.bucket(), checked.key());
            } catch (TierLayout.SidecarUnreadableException e) {
                now = Optional.of(checked); // unreadable now: nothing to keep
            }
            if (!now.equals(Optional.of(checked))) {
                return false;
            }
            versions.incrementAndGet(stripe); // a reader that started before must not bring the copy back
            removeOrStopServing(checked.bucket(), checked.key());
            return true;
        }
    }

    /** Removes the copy of an object, if any: sidecar first, then data. */
    public void drop(String bucket, String key) {
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            versions.incrementAndGet(stripe); // a reader that started before must not bring the copy back
            removeOrStopServing(bucket, key);
        }
    }

    /**
     * The object is being deleted: its copy goes (before the request and after it, a crash between
     * them leaves none), and a stream of this process still uploading it keeps no copy when it
     * ends: its upload and the delete may reach S3 in either order.
     */
    public void deleted(String bucket, String key) {
        int stripe = stripeOf(bucket, key);
        synchronized (lockOf(stripe)) {
            versions.incrementAndGet(stripe);
            long now = System.nanoTime();
            beingRewritten.computeIfPresent(new ObjectKey(bucket, key),
                    (k, r) -> r.live(now) ? r.newGeneration(rewriteGenerations.incrementAndGet()) : null);
            removeOrStopServing(bucket, key);
        }
    }

    /**
     * Removes the copy; one the disk refuses to remove (remounted read-only, a failing shard) is no
     * longer served by this process: a drop is for a copy S3 no longer holds as it is (deleted,
     * rewritten, damaged), and a name whose content never changes is served without asking S3.
     */
    private void removeOrStopServing(String bucket, String key) {
        if (!remove(bucket, key)) {
            notServed.add(new ObjectKey(bucket, key));
        }
    }

    /** Whether the sidecar describes a copy of {@code size} bytes with this CRC32C. */
    private boolean recordsVersion(String bucket, String key, long size, int crc32c) {
        try {
            Optional<TierEntry> now = layout.readSidecar(bucket, key);
            return now.isPresent() && now.get().size() == size && now.get().crc32c() == crc32c;
        } catch (TierLayout.SidecarUnreadableException | RuntimeException e) {
            return false;
        }
    }

    /** Whether no copy is left to serve (the sidecar at least is gone). */
    private boolean remove(String bucket, String key) {
        Path data = layout.dataPath(bucket, key);
        Path meta = TierLayout.metaPath(data);
        verification.forget(data);
        try {
            TierSteps.reached(TierSteps.REMOVING);
            long metaBytes = bytesOf(meta);
            if (Files.deleteIfExists(meta)) {
                eviction.removed(metaBytes);
            }
            notServed.remove(new ObjectKey(bucket, key)); // without a sidecar, nothing is served
            long dataBytes = bytesOf(data);
            if (Files.deleteIfExists(data)) {
                eviction.removed(dataBytes);
            }
            return true;
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.warn("Could not remove the local-tier copy {} of s3://{}/{}: {}", data, bucket, key, e.toString());
            return !Files.exists(meta);
        }
    }

    /** Scans the directory and evicts least recently used copies until under the low watermark. */
    public void evictIfOverBudget() throws IOException {
        eviction.evictIfOverBudget();
    }

    /**
     * For a write that found the tier's volume full while the tier was within its budget (the
     * volume is shared, with RocksDB's files for one): evicts least recently used copies, of every
     * process sharing the tier, until {@code bytes} are freed or no copy is left. Copies are a
     * cache; a checkpoint's staging file is not. Returns the bytes evicted (a copy also linked
     * into a restored RocksDB directory frees nothing on disk).
     */
    public long evictForFullVolume(long bytes) throws IOException {
        return eviction.evictForFullVolume(bytes);
    }

    /**
     * Whether a failed write into the tier found its volume (or the user's quota on it) full: by
     * the error's text in the C locale, else (the text follows the host's locale) by the space
     * left on the volume.
     */
    public boolean isVolumeFull(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded"))) {
                return true;
            }
        }
        try {
            return Files.getFileStore(layout.root()).getUsableSpace() < FULL_VOLUME_USABLE_BYTES;
        } catch (IOException | RuntimeException unknown) {
            return false;
        }
    }

    private static final long FULL_VOLUME_USABLE_BYTES = 1024 * 1024;

    Path dataPath(String bucket, String key) {
        return layout.dataPath(bucket, key);
    }

    /** How many copies this process remembers as checked (tests). */
    int copiesKnownChecked() {
        return verification.known();
    }

    /** The size of a file, 0 when there is none. */
    private static long bytesOf(Path file) throws IOException {
        try {
            return Files.size(file);
        } catch (NoSuchFileException none) {
            return 0;
        }
    }

    private static void touch(Path meta) {
        try {
            Files.setLastModifiedTime(meta, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException ignored) {
            // evicted meanwhile: the access time only steers eviction
        }
    }
}
