package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.function.Predicate;

/**
 * Where the tier's files are and what the sidecar holds. Under {@code <root>/v1/}:
 *
 * <pre>
 *   objects/&lt;2 hex&gt;/&lt;sha256([store\n]bucket/key)&gt;        the data: the object's bytes; its
 *                                               mtime is set when it is renamed in (see LocalTier)
 *   objects/&lt;2 hex&gt;/&lt;sha256([store\n]bucket/key)&gt;.meta   the sidecar: [store,] bucket, key,
 *                                               size, crc32c (java.util.Properties); its mtime is
 *                                               the last access
 *   staging/&lt;uuid&gt;.tmp                          files being written; they enter objects/ by rename
 *   evict.lock                                  the file lock eviction holds
 * </pre>
 *
 * Every file enters {@code objects/} by an atomic rename from {@code staging/} on the same volume,
 * so no reader ever sees a partly written data file or sidecar. {@link #scan} sums the size of
 * every file in {@code objects/} and {@code staging/}: the budget counts all of them.
 */
final class TierLayout {

    private static final Logger LOG = LoggerFactory.getLogger(TierLayout.class);
    private static final String LAYOUT = "v1";
    static final String META_SUFFIX = ".meta";

    private final Path root;
    /** The S3 service ({@code host:port}), empty for AWS; part of every copy's name and sidecar. */
    private final String store;
    private final Path objects;
    private final Path staging;
    private final Path lockFile;
    private final Path lockKey;

    TierLayout(Path root, String store) throws IOException {
        this.root = root.toAbsolutePath().normalize();
        this.store = store;
        this.objects = this.root.resolve(LAYOUT).resolve("objects");
        this.staging = this.root.resolve(LAYOUT).resolve("staging");
        this.lockFile = this.root.resolve(LAYOUT).resolve("evict.lock");
        try {
            Files.createDirectories(objects);
            Files.createDirectories(staging);
        } catch (IOException e) {
            throw new IOException("Cannot create the local tier directory " + this.root
                    + " (s3tiered.local.dir): " + e.getMessage(), e);
        }
        if (!Files.isWritable(this.root)) {
            throw new IOException("The local tier directory " + this.root + " (s3tiered.local.dir) is not writable");
        }
        Path layout = this.root.resolve(LAYOUT);
        Path real;
        try {
            real = layout.toRealPath();
        } catch (IOException e) {
            real = layout;
        }
        this.lockKey = real;
    }

    /**
     * The tier's directory as the file system knows it, links resolved: two tiers of one JVM that
     * reach it through different paths (a symbolic link) share one lock, as the file lock, held per
     * JVM, would otherwise fail for the second ({@code OverlappingFileLockException}).
     */
    Path lockKey() {
        return lockKey;
    }

    Path root() {
        return root;
    }

    Path lockFile() {
        return lockFile;
    }

    Path dataPath(String bucket, String key) {
        String hash = sha256(store.isEmpty() ? bucket + "/" + key : store + "\n" + bucket + "/" + key);
        return objects.resolve(hash.substring(0, 2)).resolve(hash);
    }

    static Path metaPath(Path data) {
        return data.resolveSibling(data.getFileName() + META_SUFFIX);
    }

    /** A new, unique staging file path on the tier's volume (so the commit is a rename). */
    Path newStagingFile() {
        if (!Files.isDirectory(staging)) {
            // An operator may wipe the tier under a running process (a full disk, a new volume):
            // recreate the layout instead of failing every checkpoint from then on.
            try {
                Files.createDirectories(staging);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot create the local tier's staging directory " + staging
                        + " (s3tiered.local.dir)", e);
            }
        }
        return staging.resolve(UUID.randomUUID() + ".tmp");
    }

    /** What a sidecar says, or empty when it is missing or names another object (a hash collision). */
    Optional<TierEntry> readSidecar(String bucket, String key) throws SidecarUnreadableException {
        Path data = dataPath(bucket, key);
        Path meta = metaPath(data);
        Properties p = new Properties();
        // java.io streams, not NIO channels: an interrupt of the reading thread (Flink cancelling a
        // restore) would close a channel, and the copy would be taken for unreadable and dropped
        try (Reader r = new InputStreamReader(new FileInputStream(meta.toFile()), StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (FileNotFoundException e) {
            if (Files.notExists(meta)) {
                return Optional.empty();
            }
            throw new SidecarUnreadableException(meta, e.toString(), HostSideReadFailure.is(e));
        } catch (IOException e) {
            throw new SidecarUnreadableException(meta, e.toString(), HostSideReadFailure.is(e));
        } catch (IllegalArgumentException e) {
            throw new SidecarUnreadableException(meta, e.toString(), false);
        }
        if (!store.equals(p.getProperty("store", "")) || !bucket.equals(p.getProperty("bucket")) || !key.equals(p.getProperty("key"))) {
            return Optional.empty();
        }
        try {
            long size = Long.parseLong(p.getProperty("size"));
            Integer crc = Crc32c.fromHex(p.getProperty("crc32c"));
            if (crc == null) {
                throw new NumberFormatException("no crc32c");
            }
            return Optional.of(new TierEntry(bucket, key, data, meta, size, crc));
        } catch (NumberFormatException | NullPointerException e) {
            throw new SidecarUnreadableException(meta, "size or crc32c missing or malformed");
        }
    }

    /** Writes the sidecar of a data file already in place: into staging, then renamed next to it. */
    void writeSidecar(TierEntry entry) throws IOException {
        Properties p = new Properties();
        if (!store.isEmpty()) {
            p.setProperty("store", store);
        }
        p.setProperty("bucket", entry.bucket());
        p.setProperty("key", entry.key());
        p.setProperty("size", Long.toString(entry.size()));
        p.setProperty("crc32c", Crc32c.toHex(entry.crc32c()));
        Path metaTmp = newStagingFile();
        try {
            // not interruptible either: a commit at the end of a cancelled upload keeps its copy
            try (var w = new OutputStreamWriter(new FileOutputStream(metaTmp.toFile()), StandardCharsets.UTF_8)) {
                p.store(w, null);
            }
            move(metaTmp, entry.meta());
        } catch (IOException e) {
            Files.deleteIfExists(metaTmp); // a full disk leaves no partial sidecar behind either
            throw e;
        }
    }

    /**
     * Every file of the tier, for the budget: the copies with a sidecar, and the bytes of every
     * other file (staging files, data files without sidecar), so that no byte on disk goes
     * uncounted. On the way it removes what a crash left and no live process can still be
     * writing: a sidecar whose data is gone, a data file without sidecar last modified before
     * {@code orphanCutoffMillis}, a staging file last modified before {@code stagingCutoffMillis}.
     */
    Scan scan(long orphanCutoffMillis, long stagingCutoffMillis) throws IOException {
        List<ScannedCopy> copies = new ArrayList<>();
        long otherBytes = 0;
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(objects)) {
            for (Path shard : shards) {
                otherBytes += scanShard(shard, orphanCutoffMillis, copies);
            }
        }
        otherBytes += countOrRemoveStaging(stagingCutoffMillis);
        return new Scan(copies, otherBytes);
    }

    /** Adds the shard's copies to {@code copies}; returns the bytes of its data files without sidecar. */
    private static long scanShard(Path shard, long orphanCutoffMillis, List<ScannedCopy> copies) throws IOException {
        Set<String> names = new HashSet<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(shard)) {
            files.forEach(f -> names.add(f.getFileName().toString()));
        } catch (NoSuchFileException | NotDirectoryException removedMeanwhile) {
            return 0;
        }
        long orphanBytes = 0;
        for (String name : names) {
            Path file = shard.resolve(name);
            if (name.endsWith(META_SUFFIX)) {
                Path data = shard.resolve(name.substring(0, name.length() - META_SUFFIX.length()));
                BasicFileAttributes meta;
                try {
                    meta = Files.readAttributes(file, BasicFileAttributes.class);
                } catch (NoSuchFileException evictedMeanwhile) {
                    orphanBytes += countOrRemove(data, orphanCutoffMillis, f -> !Files.exists(metaPath(f)));
                    continue;
                }
                try {
                    copies.add(new ScannedCopy(data, file, Files.size(data) + meta.size(), meta.lastModifiedTime().toMillis()));
                } catch (NoSuchFileException gone) {
                    Files.deleteIfExists(file); // its data was removed by hand: nothing to serve
                }
            } else if (!names.contains(name + META_SUFFIX)) {
                orphanBytes += countOrRemove(file, orphanCutoffMillis, f -> !Files.exists(metaPath(f)));
            }
        }
        return orphanBytes;
    }

    private long countOrRemoveStaging(long cutoffMillis) throws IOException {
        long bytes = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(staging)) {
            for (Path f : files) {
                bytes += countOrRemove(f, cutoffMillis, x -> true);
            }
        } catch (NoSuchFileException wiped) {
            // recreated by the next newStagingFile()
        }
        return bytes;
    }

    /**
     * The size of a leftover candidate, or 0 after removing it when it is older than the cutoff
     * and {@code stillLeftover} (checked last, just before the removal) holds.
     */
    private static long countOrRemove(Path file, long cutoffMillis, Predicate<Path> stillLeftover) {
        try {
            BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
            if (!attrs.isRegularFile()) {
                return 0;
            }
            if (attrs.lastModifiedTime().toMillis() < cutoffMillis && stillLeftover.test(file)) {
                Files.deleteIfExists(file);
                LOG.info("Removed {} ({} bytes), left behind by a crash in the local tier", file, attrs.size());
                return 0;
            }
            return attrs.size();
        } catch (NoSuchFileException gone) {
            return 0; // renamed in, or removed by another process meanwhile
        } catch (IOException e) {
            LOG.warn("Could not inspect or remove {} in the local tier: {}", file, e.toString());
            return Files.exists(file) ? file.toFile().length() : 0;
        }
    }

    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new UncheckedIOException(new IOException("SHA-256 unavailable", e));
        }
    }

    /**
     * A copy found by {@link #scan}: the bytes of its data and sidecar (what evicting it frees)
     * and its last access, for the eviction.
     */
    record ScannedCopy(Path data, Path meta, long bytes, long lastAccessMillis) {}

    /** What {@link #scan} found: the copies, and the bytes of every other file. */
    record Scan(List<ScannedCopy> copies, long otherBytes) {
        long totalBytes() {
            return otherBytes + copies.stream().mapToLong(ScannedCopy::bytes).sum();
        }
    }

    /** A sidecar that cannot be parsed: its copy cannot be trusted and is dropped. */
    static final class SidecarUnreadableException extends IOException {
        /** Not read for a reason of this host ({@link HostSideReadFailure}): the sidecar may well be intact. */
        final boolean hostSide;

        SidecarUnreadableException(Path meta, String why) {
            this(meta, why, false);
        }

        SidecarUnreadableException(Path meta, String why, boolean hostSide) {
            super("Unreadable local-tier sidecar " + meta + ": " + why);
            this.hostSide = hostSide;
        }
    }
}
