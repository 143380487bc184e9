package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
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
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Where the tier's files are and what the sidecar holds. Under {@code <root>/v1/}:
 *
 * <pre>
 *   objects/&lt;2 hex&gt;/&lt;sha256(bucket/key)&gt;        the data: the object's bytes
 *   objects/&lt;2 hex&gt;/&lt;sha256(bucket/key)&gt;.meta   the sidecar: bucket, key, size, crc32c
 *                                               (java.util.Properties); its mtime is the last access
 *   staging/&lt;uuid&gt;.tmp                          files being written; they enter objects/ by rename
 *   evict.lock                                  the file lock eviction holds
 * </pre>
 *
 * Every file enters {@code objects/} by an atomic rename from {@code staging/} on the same volume,
 * so no reader ever sees a partly written data file or sidecar.
 */
final class TierLayout {

    private static final Logger LOG = LoggerFactory.getLogger(TierLayout.class);
    private static final String LAYOUT = "v1";
    static final String META_SUFFIX = ".meta";

    private final Path root;
    private final Path objects;
    private final Path staging;
    private final Path lockFile;

    TierLayout(Path root) throws IOException {
        this.root = root.toAbsolutePath().normalize();
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
    }

    Path root() {
        return root;
    }

    Path lockFile() {
        return lockFile;
    }

    Path dataPath(String bucket, String key) {
        String hash = sha256(bucket + "/" + key);
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
        try (Reader r = Files.newBufferedReader(meta, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | IllegalArgumentException e) {
            throw new SidecarUnreadableException(meta, e.toString());
        }
        if (!bucket.equals(p.getProperty("bucket")) || !key.equals(p.getProperty("key"))) {
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
        p.setProperty("bucket", entry.bucket());
        p.setProperty("key", entry.key());
        p.setProperty("size", Long.toString(entry.size()));
        p.setProperty("crc32c", Crc32c.toHex(entry.crc32c()));
        Path metaTmp = newStagingFile();
        try (var w = Files.newBufferedWriter(metaTmp, StandardCharsets.UTF_8)) {
            p.store(w, null);
        }
        try {
            move(metaTmp, entry.meta());
        } catch (IOException e) {
            Files.deleteIfExists(metaTmp);
            throw e;
        }
    }

    /** Every copy with a sidecar; a sidecar without data is removed on the way. */
    List<ScannedCopy> scan() throws IOException {
        List<ScannedCopy> copies = new ArrayList<>();
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(objects)) {
            for (Path shard : shards) {
                try (DirectoryStream<Path> files = Files.newDirectoryStream(shard, "*" + META_SUFFIX)) {
                    for (Path meta : files) {
                        Path data = shard.resolve(meta.getFileName().toString().replace(META_SUFFIX, ""));
                        try {
                            long size = Files.size(data);
                            long access = Files.getLastModifiedTime(meta).toMillis();
                            copies.add(new ScannedCopy(data, meta, size, access));
                        } catch (NoSuchFileException gone) {
                            Files.deleteIfExists(meta);
                        }
                    }
                } catch (NoSuchFileException | NotDirectoryException ignored) {
                    // a shard removed meanwhile
                }
            }
        }
        return copies;
    }

    /**
     * Removes what a crash (of this or another process sharing the directory) left behind: staging
     * files, and data files without a sidecar, both older than {@code cutoffMillis}. Younger ones
     * may belong to a commit running right now in another process.
     */
    void removeLeftovers(long cutoffMillis) {
        removeOlderThan(staging, null, cutoffMillis);
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(objects)) {
            for (Path shard : shards) {
                removeOlderThan(shard, f -> !f.getFileName().toString().endsWith(META_SUFFIX)
                        && !Files.exists(metaPath(f)), cutoffMillis);
            }
        } catch (IOException e) {
            LOG.debug("Could not look for leftovers in {}", objects, e);
        }
    }

    private static void removeOlderThan(Path dir, java.util.function.Predicate<Path> which, long cutoffMillis) {
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(f -> which == null || which.test(f)).forEach(f -> {
                try {
                    if (Files.getLastModifiedTime(f).toMillis() < cutoffMillis) {
                        Files.deleteIfExists(f);
                    }
                } catch (IOException ignored) {
                    // removed by another process meanwhile
                }
            });
        } catch (IOException e) {
            LOG.debug("Could not clean {}", dir, e);
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

    /** A copy found by {@link #scan()}: sizes and last access, for the eviction. */
    record ScannedCopy(Path data, Path meta, long size, long lastAccessMillis) {}

    /** A sidecar that cannot be parsed: its copy cannot be trusted and is dropped. */
    static final class SidecarUnreadableException extends IOException {
        SidecarUnreadableException(Path meta, String why) {
            super("Unreadable local-tier sidecar " + meta + ": " + why);
        }
    }
}
