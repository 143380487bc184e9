package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.RangedDownload;
import io.github.s3tiered.tier.LocalTier;
import io.github.s3tiered.tier.TierEntry;

import org.apache.flink.core.fs.ICloseableRegistry;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Whole-file downloads: one file for {@code open()}, or a batch for {@code copyFiles()} (RocksDB
 * restore). Every step is a non-blocking stage on the shared transfer pool, so the ranges of all
 * files of a batch download in parallel.
 */
final class BatchDownload {

    private static final Logger LOG = LoggerFactory.getLogger(BatchDownload.class);

    interface PathResolver {
        ObjectPath resolve(org.apache.flink.core.fs.Path path) throws IOException;
    }

    private final S3TieredRuntime runtime;

    BatchDownload(S3TieredRuntime runtime) {
        this.runtime = runtime;
    }

    /** A verified download: the file and its CRC32C. */
    record Downloaded(Path file, int crc32c) {}

    private static CompletableFuture<Downloaded> start(S3TieredRuntime runtime, ObjectPath op, ObjectInfo info, Path target) {
        S3TieredConfig config = runtime.config();
        return RangedDownload.start(runtime.store(), op.bucket(), op.key(), info.size(), target,
                        config.downloadPartSize(), config.readReopenAttempts(), runtime.transferPool())
                .thenApply(crc -> {
                    if (info.crc32c() != null && crc.intValue() != info.crc32c()) {
                        throw new UncheckedIOException(new IOException("CRC32C mismatch downloading " + op + ": got "
                                + Crc32c.toHex(crc) + ", its upload recorded " + Crc32c.toHex(info.crc32c())));
                    }
                    return new Downloaded(target, crc);
                })
                .whenComplete((ok, failure) -> {
                    if (failure != null) {
                        try {
                            Files.deleteIfExists(target);
                        } catch (IOException ignored) {
                            // best effort
                        }
                    }
                });
    }

    void copy(List<CopyRequest> requests, PathResolver resolver, ICloseableRegistry registry) throws IOException {
        List<CompletableFuture<Void>> tasks = new ArrayList<>(requests.size());
        Closeable cancel = () -> tasks.forEach(t -> t.cancel(false));
        registry.registerCloseable(cancel);
        try {
            for (CopyRequest request : requests) {
                ObjectPath source = resolver.resolve(request.getSource());
                Path destination = localPath(request.getDestination());
                Files.createDirectories(destination.toAbsolutePath().getParent());
                tasks.add(CompletableFuture
                        .supplyAsync(() -> runtime.tier().getVerified(source.bucket(), source.key()), runtime.transferPool())
                        .thenCompose(entry -> entry.isPresent()
                                ? CompletableFuture.runAsync(() -> fromTier(entry.get(), destination), runtime.transferPool())
                                : fromS3(source, destination))
                        .exceptionally(failure -> {
                            IOException io = RangedDownload.unwrap(failure);
                            throw new UncheckedIOException(new IOException(
                                    "Restoring " + source + " to " + destination + " failed: " + io.getMessage(), io));
                        }));
            }
            CompletableFuture.allOf(tasks.toArray(new CompletableFuture[0])).join();
        } catch (CompletionException | UncheckedIOException e) {
            throw RangedDownload.unwrap(e);
        } finally {
            registry.unregisterCloseable(cancel);
        }
    }

    private void fromTier(TierEntry entry, Path destination) {
        try {
            linkOrCopy(entry.data(), destination);
            runtime.store().statistics().bytesServedFromLocalTier.add(entry.size());
            runtime.store().statistics().restoreBytesFromLocalTier.add(entry.size());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CompletableFuture<Void> fromS3(ObjectPath source, Path destination) {
        LocalTier tier = runtime.tier();
        return CompletableFuture
                .supplyAsync(() -> {
                    try {
                        return runtime.store().head(source.bucket(), source.key())
                                .orElseThrow(() -> new FileNotFoundException("No such file: " + source));
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }, runtime.transferPool())
                .thenCompose(info -> {
                    boolean keep = runtime.config().localEnabled() && tier.fits(info.size());
                    Path target = keep ? tier.newStagingFile() : destination;
                    return start(runtime, source, info, target).thenAccept(downloaded -> {
                        runtime.store().statistics().restoreBytesFromS3.add(info.size());
                        if (!keep) {
                            return;
                        }
                        try {
                            // Link first, then commit: the restore does not depend on the copy
                            // surviving an eviction.
                            linkOrCopy(downloaded.file(), destination);
                        } catch (IOException e) {
                            try {
                                Files.deleteIfExists(downloaded.file());
                            } catch (IOException suppressed) {
                                e.addSuppressed(suppressed);
                            }
                            throw new UncheckedIOException(e);
                        }
                        try {
                            tier.commit(source.bucket(), source.key(), downloaded.file(), info.size(), downloaded.crc32c());
                        } catch (IOException e) {
                            // The restored file is in place; only the local copy for next time is missing.
                            LOG.warn("Restored {} but could not keep its local-tier copy: {}", source, e.toString());
                        } finally {
                            try {
                                Files.deleteIfExists(downloaded.file());
                            } catch (IOException ignored) {
                                // committed (moved) or gone
                            }
                        }
                    });
                });
    }

    static void linkOrCopy(Path source, Path destination) throws IOException {
        Files.deleteIfExists(destination);
        try {
            Files.createLink(destination, source);
        } catch (FileSystemException | UnsupportedOperationException e) {
            // Another device, or no hard links here.
            LOG.debug("Copying {} to {} instead of linking: {}", source, destination, e.toString());
            Files.copy(source, destination, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static Path localPath(org.apache.flink.core.fs.Path p) {
        return p.toUri().getScheme() == null ? Paths.get(p.toUri().getPath()) : Paths.get(p.toUri());
    }

}
