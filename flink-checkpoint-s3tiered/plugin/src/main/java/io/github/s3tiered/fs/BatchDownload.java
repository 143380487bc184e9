package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.S3OperationException;
import io.github.s3tiered.tier.CursorWork;
import io.github.s3tiered.tier.IntactCopy;
import io.github.s3tiered.tier.LocalTier;
import io.github.s3tiered.tier.ObjectKey;


import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * A batch copy out of {@code s3tiered://} ({@code copyFiles()}, the RocksDB restore), in one
 * direction: {@link #plan} asks the tier once which of the files it holds intact; {@link #execute}
 * hard-links those into place and downloads the rest from S3 with parallel ranged GETs, keeping a
 * copy in the tier. A copy that vanishes or changes between the question and the link is
 * downloaded instead. Every step is a non-blocking stage on the shared transfer pool.
 *
 * <p>Closing the registry cancels the batch: no request or retry starts after it and bodies being
 * read are aborted. {@code copyFiles} then fails once every transfer has stopped and removed its
 * partial file, so nothing of the batch runs or stays behind when it returns; a request already
 * waiting for its answer ends at {@code s3tiered.request.timeout} at the latest.
 */
final class BatchDownload {

    private static final Logger LOG = LoggerFactory.getLogger(BatchDownload.class);

    interface PathResolver {
        ObjectPath resolve(org.apache.flink.core.fs.Path path) throws IOException;
    }

    /** One file to restore: an s3tiered:// source and a local destination. */
    record FileCopy(org.apache.flink.core.fs.Path source, org.apache.flink.core.fs.Path destination) {}

    /**
     * Where the caller's cancellation hooks in (Flink's closeable registry in 2.x): {@code
     * onCancel} is to be closed when the batch is cancelled; the returned handle withdraws it.
     */
    interface CancelRegistration {
        AutoCloseable register(Closeable onCancel) throws IOException;

        CancelRegistration NONE = onCancel -> () -> {};
    }

    /** One file of the batch; {@code copy} is the tier's intact copy, or null: from S3. */
    record Transfer(ObjectPath source, Path destination, IntactCopy copy) {}

    /** What a batch will do, decided before any byte moves. */
    record Plan(List<Transfer> transfers) {
        long fromTier() {
            return transfers.stream().filter(t -> t.copy() != null).count();
        }
    }

    private final S3TieredRuntime runtime;

    BatchDownload(S3TieredRuntime runtime) {
        this.runtime = runtime;
    }

    void copy(List<FileCopy> requests, PathResolver resolver, CancelRegistration registration) throws IOException {
        Cancellation cancellation = new Cancellation();
        List<CompletableFuture<Void>> tasks = new ArrayList<>();
        // The transfers see the cancellation and end by themselves; cancelling their futures
        // instead would return while they still run and write.
        Closeable cancel = () -> cancellation.cancel("the batch copy of " + requests.size() + " files was cancelled");
        AutoCloseable registered = registration.register(cancel);
        try {
            long started = System.nanoTime();
            Plan plan = plan(requests, resolver, cancellation);
            long planned = System.nanoTime();
            execute(plan, cancellation, tasks);
            LOG.debug("Restored {} files ({} from the local tier): the tier's check took {} ms, placing them {} ms",
                    requests.size(), plan.fromTier(), (planned - started) / 1_000_000, (System.nanoTime() - planned) / 1_000_000);
        } finally {
            try {
                registered.close();
            } catch (Exception e) {
                LOG.debug("Withdrawing the cancellation of a batch copy failed", e);
            }
        }
    }

    /** Resolves the requests and asks the tier, once, which of the sources it holds intact. */
    Plan plan(List<FileCopy> requests, PathResolver resolver) throws IOException {
        return plan(requests, resolver, Cancellation.NONE);
    }

    /**
     * As above; once {@code cancellation} is cancelled, copies not checked yet are not read (a
     * copy this process has not checked before is read in full: seconds per GB), and the plan
     * counts them as not held, which the cancelled execution never gets to.
     */
    Plan plan(List<FileCopy> requests, PathResolver resolver, Cancellation cancellation) throws IOException {
        List<ObjectPath> sources = new ArrayList<>(requests.size());
        List<ObjectKey> keys = new ArrayList<>(requests.size());
        for (FileCopy request : requests) {
            ObjectPath source = resolver.resolve(request.source());
            sources.add(source);
            keys.add(new ObjectKey(source.bucket(), source.key()));
        }
        Map<ObjectKey, IntactCopy> held = runtime.config().localEnabled()
                ? runtime.tier().intactCopies(keys, runtime.transferPool(), cancellation::isCancelled) : Map.of();
        cancellation.check("Restore of " + requests.size() + " files");
        List<Transfer> transfers = new ArrayList<>(requests.size());
        for (int i = 0; i < requests.size(); i++) {
            Path destination = localPath(requests.get(i).destination());
            Files.createDirectories(destination.toAbsolutePath().getParent());
            transfers.add(new Transfer(sources.get(i), destination, held.get(keys.get(i))));
        }
        return new Plan(transfers);
    }

    /** Carries out a plan; {@code tasks} collects the transfers started. */
    void execute(Plan plan, Cancellation cancellation, List<CompletableFuture<Void>> tasks) throws IOException {
        S3Access store = runtime.store().cancellable(cancellation);
        List<Transfer> fromTier = plan.transfers().stream().filter(t -> t.copy() != null).toList();
        Map<Transfer, CompletableFuture<Boolean>> placed = new IdentityHashMap<>();
        fromTier.forEach(t -> placed.put(t, new CompletableFuture<>()));
        // A link is a few system calls (a copy, across devices, a file's bytes). Its helpers start
        // before the downloads, so that they do not queue behind them.
        Runnable links = CursorWork.start(fromTier.size(), runtime.transferPool(), i -> {
            Transfer t = fromTier.get(i);
            try {
                placed.get(t).complete(linkIntactCopy(t));
            } catch (Throwable e) {
                placed.get(t).completeExceptionally(e);
            }
        });
        CompletableFuture<?>[] all;
        // The first transfer that fails for good fails the restore: the others stop (their retries
        // too) instead of each spending its own retry budget, minutes under throttling, while the
        // restore can no longer succeed. Failures caused by that stop are not reported.
        java.util.concurrent.atomic.AtomicReference<IOException> firstFailure = new java.util.concurrent.atomic.AtomicReference<>();
        List<IOException> otherFailures = java.util.Collections.synchronizedList(new ArrayList<>());
        synchronized (tasks) {
            for (Transfer t : plan.transfers()) {
                CompletableFuture<Void> task = t.copy() != null
                        ? placed.get(t).thenCompose(ok -> ok ? CompletableFuture.completedFuture(null) : fromS3Shared(store, t))
                        : fromS3Shared(store, t);
                tasks.add(task.exceptionally(failure -> {
                    IOException io = RangedDownload.unwrap(failure);
                    IOException named = new IOException(
                            "Restoring " + t.source() + " to " + t.destination() + " failed: " + io.getMessage(), io);
                    if (!(io instanceof Cancellation.CancelledException)) {
                        if (!cancellation.isCancelled() && firstFailure.compareAndSet(null, named)) {
                            cancellation.cancel("restoring " + t.source() + " failed");
                        } else if (firstFailure.get() != null && otherFailures.size() < 10) {
                            otherFailures.add(named);
                        }
                    }
                    throw new UncheckedIOException(named);
                }));
            }
            all = tasks.toArray(new CompletableFuture[0]);
        }
        links.run(); // this thread's share, which waits anyway
        CompletableFuture<Void> settled = CompletableFuture.allOf(all);
        try {
            try {
                settled.get();
            } catch (InterruptedException interrupted) {
                // a caller that cancels by interrupt alone (not through the registry): the transfers
                // stop as after a cancel, and are waited for, so that none writes after the return
                cancellation.cancel("the thread restoring " + plan.transfers().size() + " files was interrupted");
                settled.handle((ok, failure) -> null).join();
                Thread.currentThread().interrupt();
                java.io.InterruptedIOException e = new java.io.InterruptedIOException("Restore of "
                        + plan.transfers().size() + " files was interrupted");
                e.initCause(interrupted);
                throw e;
            } catch (java.util.concurrent.ExecutionException failure) {
                throw new CompletionException(failure.getCause());
            }
        } catch (CompletionException | UncheckedIOException e) {
            // allOf waited for every transfer to stop
            IOException failed = firstFailure.get();
            if (failed != null) {
                otherFailures.forEach(failed::addSuppressed);
                throw failed;
            }
            if (cancellation.isCancelled()) {
                cancellation.check("Restore of " + plan.transfers().size() + " files");
            }
            throw RangedDownload.unwrap(e);
        }
    }

    /**
     * Hard-links (or, across devices, copies) the tier's copy into place; true when the file in
     * place is the one the tier checked. False when the copy vanished or changed since (evicted
     * or replaced by another process): the caller downloads it instead.
     */
    private boolean linkIntactCopy(Transfer t) {
        Path copy = t.copy().entry().data();
        try {
            if (!linkOrCopy(copy, t.destination(), t.copy())) {
                LOG.info("The local-tier copy of {} changed or vanished after its check; downloading it", t.source());
                Files.deleteIfExists(t.destination());
                return false;
            }
            long size = t.copy().entry().size();
            runtime.store().statistics().bytesServedFromLocalTier.add(size);
            runtime.store().statistics().restoreBytesFromLocalTier.add(size);
            return true;
        } catch (NoSuchFileException vanished) {
            LOG.info("The local-tier copy of {} vanished after its check; downloading it", t.source());
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * From S3, or, while another restore of this process downloads the same object, from the copy
     * that download leaves in the tier ({@link SharedDownloads}).
     */
    private CompletableFuture<Void> fromS3Shared(S3Access store, Transfer t) {
        if (!runtime.config().localEnabled()) {
            return fromS3(store, t); // no copy to share
        }
        ObjectKey key = new ObjectKey(t.source().bucket(), t.source().key());
        // After one wait, a restore that finds no copy downloads at once: waiting again (behind a
        // download that keeps no copy either: the object larger than the tier, the tier full)
        // would turn k restores of one object into k downloads one after another.
        return runtime.sharedDownloads().run(key, store.cancellation(), () -> fromS3(store, t),
                () -> CompletableFuture.supplyAsync(() -> {
                            try {
                                store.cancellation().check("Restore of " + t.source());
                            } catch (IOException cancelled) {
                                throw new UncheckedIOException(cancelled);
                            }
                            return runtime.tier().getIntact(key.bucket(), key.key())
                                    .map(copy -> linkIntactCopy(new Transfer(t.source(), t.destination(), copy)))
                                    .orElse(false);
                        }, runtime.transferPool())
                        .thenCompose(linked -> linked ? CompletableFuture.completedFuture(null) : fromS3(store, t)));
    }

    /**
     * Downloads one file without asking S3 for its size first: the first range's GET says it
     * (and the CRC32C recorded at upload), and only then is the file's place chosen: a staging
     * file in the tier, which keeps a copy, or straight the destination when the tier is off or
     * too small for it. Should writing into the tier fail, the file is downloaded again straight
     * to its destination without keeping a copy.
     */
    private CompletableFuture<Void> fromS3(S3Access store, Transfer t) {
        return fromS3(store, t, 0);
    }

    /** {@code repeated}: how many downloads of this file came in corrupt ({@link CorruptDownloadException#repeat}). */
    private CompletableFuture<Void> fromS3(S3Access store, Transfer t, int repeated) {
        LocalTier tier = runtime.tier();
        S3TieredConfig config = runtime.config();
        ObjectPath source = t.source();
        Path destination = t.destination();
        long startedAt = System.nanoTime();
        long ticket = tier.readTicket(source.bucket(), source.key()); // before S3 says which version is read
        AtomicReference<ObjectInfo> described = new AtomicReference<>();
        AtomicReference<Path> chosen = new AtomicReference<>();
        Function<ObjectInfo, Path> targetFor = info -> {
            described.set(info);
            Path target = destination;
            if (config.localEnabled() && tier.fits(info.size())) {
                try {
                    target = tier.newStagingFile();
                } catch (RuntimeException e) {
                    LOG.warn("No staging file in the local tier ({}) for {}: {}; downloading it without keeping a copy",
                            tier.root(), source, e.toString());
                }
            }
            chosen.set(target);
            return target;
        };
        return RangedDownload.startWithoutHead(store, source.bucket(), source.key(), targetFor, config.downloadPartSize(),
                        config.readReopenAttempts(), runtime.transferPool())
                .thenApply(d -> {
                    requireRecordedCrc(source, d.info(), d.crc32c());
                    return d;
                })
                .whenComplete((d, failure) -> {
                    if (failure != null && chosen.get() != null) {
                        deleteQuietly(chosen.get());
                    } else if (failure == null && LOG.isDebugEnabled()) {
                        LOG.debug("Downloaded {} ({} bytes) in {} ms", source, d.info().size(),
                                (System.nanoTime() - startedAt) / 1_000_000);
                    }
                })
                .thenAccept(d -> {
                    if (!d.target().equals(destination)) {
                        placeAndKeep(source, d.info(), d.target(), destination, d.crc32c(), ticket);
                    }
                    // counted once in place: a failed link is downloaded again and counted then
                    store.statistics().restoreBytesFromS3.add(d.info().size());
                })
                .exceptionallyCompose(failure -> {
                    IOException io = RangedDownload.unwrap(failure);
                    if (CorruptDownloadException.repeat(io, repeated, config.readReopenAttempts(), store)) {
                        return fromS3(store, t, repeated + 1);
                    }
                    Path staged = chosen.get();
                    ObjectInfo info = described.get();
                    if (store.cancellation().isCancelled() || io instanceof S3OperationException
                            || io instanceof CorruptDownloadException
                            || io instanceof FileNotFoundException || io instanceof RangedDownload.ObjectChangedException
                            || io instanceof RangedDownload.BrokenBodyException
                            || staged == null || staged.equals(destination) || info == null) {
                        return CompletableFuture.failedFuture(failure); // S3's answer, or the cancel
                    }
                    // The tier's disk may be full or broken: restore without keeping a copy.
                    LOG.warn("Downloading {} into the local tier ({}) failed: {}; downloading it straight"
                            + " to {} without keeping a copy", source, tier.root(), io.toString(), destination);
                    if (tier.isVolumeFull(io) && onTheTiersVolume(destination)) {
                        makeRoom(source, info.size()); // RocksDB's directory is usually on the same volume
                    }
                    return downloadInPlaceMakingRoom(store, source, info, destination, repeated);
                });
    }

    private static void requireRecordedCrc(ObjectPath op, ObjectInfo info, int crc) {
        if (info.crc32c() != null && crc != info.crc32c()) {
            throw new UncheckedIOException(new CorruptDownloadException("CRC32C mismatch downloading " + op + ": got "
                    + Crc32c.toHex(crc) + ", its upload recorded " + Crc32c.toHex(info.crc32c())));
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // best effort
        }
    }

    /**
     * As {@link #downloadInPlace}, once more after evicting copies of the tier when the volume
     * was full: the tier and RocksDB's directory usually share it, and copies are a cache while
     * the restore is not (a checkpoint's write makes room the same way).
     */
    private CompletableFuture<Void> downloadInPlaceMakingRoom(S3Access store, ObjectPath source, ObjectInfo info,
            Path destination, int repeated) {
        return downloadInPlace(store, source, info, destination, repeated).exceptionallyCompose(failure -> {
            IOException io = RangedDownload.unwrap(failure);
            if (!store.cancellation().isCancelled() && runtime.config().localEnabled()
                    && io instanceof RangedDownload.LocalWriteException && runtime.tier().isVolumeFull(io)
                    && onTheTiersVolume(destination) && makeRoom(source, info.size())) {
                return downloadInPlace(store, source, info, destination, repeated);
            }
            return CompletableFuture.failedFuture(failure);
        });
    }

    /** Whether evicting copies of the tier frees room where {@code destination} is written. */
    private boolean onTheTiersVolume(Path destination) {
        try {
            return Files.getFileStore(destination.toAbsolutePath().getParent())
                    .equals(Files.getFileStore(runtime.tier().root()));
        } catch (IOException | RuntimeException unknown) {
            return false;
        }
    }

    /** Evicts copies of the tier for {@code bytes}; true when any were evicted. */
    private boolean makeRoom(ObjectPath source, long bytes) {
        try {
            return runtime.tier().evictForFullVolume(bytes) > 0;
        } catch (IOException | RuntimeException e) {
            LOG.warn("Could not evict local-tier copies to make room for restoring {}: {}", source, e.toString());
            return false;
        }
    }

    /** {@code repeated}: corrupt downloads of this file so far, in the tier or here: one budget for both. */
    private CompletableFuture<Void> downloadInPlace(S3Access store, ObjectPath source, ObjectInfo info, Path destination,
            int repeated) {
        try {
            // A new file, never the one at the path: that may be a hard link to the tier's copy
            // (placeAndKeep linked it before its commit failed), which a download in place would
            // truncate and rewrite under the copy's sidecar.
            Files.deleteIfExists(destination);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return download(store, source, info, destination)
                .thenAccept(crc -> store.statistics().restoreBytesFromS3.add(info.size()))
                .exceptionallyCompose(failure -> CorruptDownloadException.repeat(RangedDownload.unwrap(failure), repeated,
                        runtime.config().readReopenAttempts(), store)
                        ? downloadInPlace(store, source, info, destination, repeated + 1)
                        : CompletableFuture.failedFuture(failure));
    }

    /** Link first, then commit: the restore does not depend on the copy surviving an eviction. */
    private void placeAndKeep(ObjectPath source, ObjectInfo info, Path staged, Path destination, int crc, long ticket) {
        try {
            linkOrCopy(staged, destination, null);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(staged);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new UncheckedIOException(e);
        }
        try {
            // not kept when this host wrote, deleted or began rewriting the object meanwhile
            runtime.tier().commitRead(source.bucket(), source.key(), staged, info.size(), crc, ticket);
        } catch (IOException | RuntimeException e) {
            // The restored file is in place; only the local copy for next time is missing (and the
            // restore must not download it again over the link it shares with the copy).
            LOG.warn("Restored {} but could not keep its local-tier copy: {}", source, e.toString());
        } finally {
            try {
                Files.deleteIfExists(staged);
            } catch (IOException ignored) {
                // committed (moved) or gone
            }
        }
    }

    /** A verified download into {@code target}: the CRC32C of its bytes, which matched the recorded one. */
    private CompletableFuture<Integer> download(S3Access store, ObjectPath op, ObjectInfo info, Path target) {
        S3TieredConfig config = runtime.config();
        long startedAt = System.nanoTime();
        return RangedDownload.start(store, op.bucket(), op.key(), info, target,
                        config.downloadPartSize(), config.readReopenAttempts(), runtime.transferPool())
                .thenApply(crc -> {
                    requireRecordedCrc(op, info, crc);
                    return crc;
                })
                .whenComplete((ok, failure) -> {
                    if (failure == null && LOG.isDebugEnabled()) {
                        LOG.debug("Downloaded {} ({} bytes) in {} ms", op, info.size(), (System.nanoTime() - startedAt) / 1_000_000);
                    }
                    if (failure != null) {
                        try {
                            Files.deleteIfExists(target);
                        } catch (IOException ignored) {
                            // best effort
                        }
                    }
                });
    }

    /**
     * Hard-links {@code source} at {@code destination}, or copies it where links are impossible.
     * With {@code checked} given, returns whether the file placed is the one that was checked: a
     * link must be that very file; a copy must have been made while the path held it.
     */
    static boolean linkOrCopy(Path source, Path destination, IntactCopy checked) throws IOException {
        Files.deleteIfExists(destination);
        try {
            Files.createLink(destination, source);
            return checked == null || checked.isTheCheckedFile(destination);
        } catch (NoSuchFileException e) {
            throw e;
        } catch (FileSystemException | UnsupportedOperationException e) {
            // Another device, or no hard links here.
            LOG.debug("Copying {} to {} instead of linking: {}", source, destination, e.toString());
            if (checked != null && !checked.isTheCheckedFile(source)) {
                return false;
            }
            Files.copy(source, destination, StandardCopyOption.REPLACE_EXISTING);
            return checked == null || checked.isTheCheckedFile(source);
        }
    }

    private static Path localPath(org.apache.flink.core.fs.Path p) {
        return p.toUri().getScheme() == null ? Paths.get(p.toUri().getPath()) : Paths.get(p.toUri());
    }
}
