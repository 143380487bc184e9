package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Local-disk copies of S3 objects, addressed by bucket and key.
 *
 * <p>Each copy is a data file plus a small sidecar with bucket, key, size and CRC32C; the sidecar
 * is written last and removed first, so a copy without one is never served. Every file enters by
 * an atomic rename of a uniquely named staging file, which makes the directory safe to share
 * between processes (several TaskManagers on one host) and to reuse after a restart. A copy is
 * served only after its size and CRC32C are checked; a mismatch drops it.
 *
 * <p>A process remembers the copies it wrote or verified, by size, modification time and inode;
 * while those are unchanged it serves them without reading them twice. Any change (a rewrite, a
 * truncation, a replacement by another process) brings the full check back, and a new process
 * checks every copy on first use.
 *
 * <p>The byte budget is enforced by least-recently-used eviction (the sidecar's modification
 * time is the last access). Eviction holds a file lock, so processes sharing the directory do not
 * evict at the same time; each re-scans the directory, so it counts the others' copies too.
 */
public final class LocalTier {

    private static final Logger LOG = LoggerFactory.getLogger(LocalTier.class);
    private static final String LAYOUT = "v1";
    private static final String META_SUFFIX = ".meta";
    private static final long STALE_STAGING_MILLIS = TimeUnit.HOURS.toMillis(6);
    /** Eviction goes down to this share of the budget, so it does not run on every commit. */
    private static final double LOW_WATERMARK = 0.9;
    private static final ConcurrentHashMap<Path, Object> JVM_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final Path objects;
    private final Path staging;
    private final Path lockFile;
    private final long maxBytes;
    private final AtomicLong usedBytes = new AtomicLong();
    /** Bytes committed by this process since the last scan; a scan also counts other processes. */
    private final AtomicLong addedSinceScan = new AtomicLong();
    private final TierStatistics stats = new TierStatistics();
    private final ConcurrentHashMap<Path, FileIdentity> verified = new ConcurrentHashMap<>();

    /** What must stay the same for a copy checked once to need no second check. */
    private record FileIdentity(long size, long modifiedNanos, Object fileKey) {
        static FileIdentity of(Path p) throws IOException {
            var attrs = Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class);
            return new FileIdentity(attrs.size(), attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS), attrs.fileKey());
        }
    }

    public LocalTier(Path root, long maxBytes) throws IOException {
        this.root = root.toAbsolutePath().normalize();
        this.objects = this.root.resolve(LAYOUT).resolve("objects");
        this.staging = this.root.resolve(LAYOUT).resolve("staging");
        this.lockFile = this.root.resolve(LAYOUT).resolve("evict.lock");
        this.maxBytes = maxBytes;
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
        removeStaleStagingFiles();
        usedBytes.set(scan().stream().mapToLong(ScannedCopy::size).sum());
        evictIfOverBudget();
    }

    public Path root() {
        return root;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** Bytes held, as of this process's last scan plus its own changes since. */
    public long usedBytes() {
        return usedBytes.get();
    }

    public TierStatistics statistics() {
        return stats;
    }

    /** A new, unique staging file path on the tier's volume (so the commit is a rename). */
    public Path newStagingFile() {
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

    /** Whether a file of this size can be kept at all. */
    public boolean fits(long size) {
        return size <= maxBytes;
    }

    /**
     * The copy of an object after checking its size and CRC32C, with its access time updated;
     * empty when there is none or it was damaged (then it is dropped).
     */
    public Optional<TierEntry> getVerified(String bucket, String key) {
        Optional<TierEntry> entry = lookup(bucket, key);
        if (entry.isEmpty()) {
            stats.misses.increment();
            return Optional.empty();
        }
        TierEntry e = entry.get();
        try {
            FileIdentity identity = FileIdentity.of(e.data());
            if (identity.size() != e.size()) {
                reject(e, "size " + identity.size() + " instead of " + e.size());
                return Optional.empty();
            }
            if (!identity.equals(verified.get(e.data()))) {
                int actualCrc = Crc32c.ofFile(e.data());
                if (actualCrc != e.crc32c()) {
                    reject(e, "CRC32C " + Crc32c.toHex(actualCrc) + " instead of " + Crc32c.toHex(e.crc32c()));
                    return Optional.empty();
                }
                stats.fullChecks.increment();
                verified.put(e.data(), identity);
            }
            touch(e.meta());
            stats.hits.increment();
            return entry;
        } catch (NoSuchFileException gone) {
            stats.misses.increment();
            return Optional.empty(); // evicted meanwhile, maybe by another process
        } catch (IOException io) {
            reject(e, io.toString());
            return Optional.empty();
        }
    }

    private void reject(TierEntry e, String why) {
        LOG.warn("Dropping damaged local-tier copy of s3://{}/{} ({}): {}; reading from S3 instead",
                e.bucket(), e.key(), e.data(), why);
        stats.corruptionsDetected.increment();
        drop(e.bucket(), e.key());
    }

    /** The recorded copy, without verifying its content. */
    Optional<TierEntry> lookup(String bucket, String key) {
        Path data = dataPath(bucket, key);
        Path meta = metaPath(data);
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(meta, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("Unreadable local-tier sidecar {}: {}; dropping the copy", meta, e.toString());
            drop(bucket, key);
            return Optional.empty();
        }
        if (!bucket.equals(p.getProperty("bucket")) || !key.equals(p.getProperty("key"))) {
            return Optional.empty(); // a hash collision, or a foreign file
        }
        try {
            long size = Long.parseLong(p.getProperty("size"));
            Integer crc = Crc32c.fromHex(p.getProperty("crc32c"));
            if (crc == null) {
                throw new NumberFormatException("crc32c");
            }
            return Optional.of(new TierEntry(bucket, key, data, meta, size, crc));
        } catch (NumberFormatException | NullPointerException e) {
            drop(bucket, key);
            return Optional.empty();
        }
    }

    /**
     * Moves a staged file (from {@link #newStagingFile()}, or any file on the same volume) into
     * the tier as the copy of {@code bucket/key}. A file too large for the budget is deleted.
     */
    public void commit(String bucket, String key, Path stagedFile, long size, int crc32c) throws IOException {
        if (!fits(size)) {
            Files.deleteIfExists(stagedFile);
            return;
        }
        Path data = dataPath(bucket, key);
        Path meta = metaPath(data);
        Files.createDirectories(data.getParent());
        long previous = lookup(bucket, key).map(TierEntry::size).orElse(0L);
        // Sidecar first out, last in: readers never pair a sidecar with the wrong data.
        Files.deleteIfExists(meta);
        verified.remove(data);
        move(stagedFile, data);
        try {
            // The caller computed the CRC32C from the bytes it wrote into this very file.
            verified.put(data, FileIdentity.of(data));
        } catch (NoSuchFileException evicted) {
            // Another process sharing the directory evicted or dropped it right after the move:
            // the copy is simply not kept.
            return;
        }
        Properties p = new Properties();
        p.setProperty("bucket", bucket);
        p.setProperty("key", key);
        p.setProperty("size", Long.toString(size));
        p.setProperty("crc32c", Crc32c.toHex(crc32c));
        Path metaTmp = newStagingFile();
        try (var w = Files.newBufferedWriter(metaTmp, StandardCharsets.UTF_8)) {
            p.store(w, null);
        }
        try {
            move(metaTmp, meta);
        } catch (NoSuchFileException evicted) {
            // its directory went with a concurrent eviction: readers drop data without a sidecar
            Files.deleteIfExists(metaTmp);
            verified.remove(data);
            return;
        }
        usedBytes.addAndGet(size - previous);
        addedSinceScan.addAndGet(size);
        stats.bytesCommitted.add(size);
        // Other processes sharing the directory add copies this process does not count: re-scan
        // after a tenth of the budget was added here, or when over budget by its own count.
        if (usedBytes.get() > maxBytes || addedSinceScan.get() > maxBytes / 10) {
            evictIfOverBudget();
        }
    }

    /**
     * Drops the copy of an object when its recorded size or CRC32C differ from what S3 holds now
     * (the CRC32C is compared only when S3 has one, {@code durableCrc32c} not null):
     * the object was replaced or altered after this host kept its copy, and the copy must not mask
     * that. Only the sidecar is read, not the data. Returns true when a copy was dropped.
     */
    public boolean dropIfStale(String bucket, String key, long durableSize, Integer durableCrc32c) {
        Optional<TierEntry> entry = lookup(bucket, key);
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

    /** Removes the copy of an object, if any. */
    public void drop(String bucket, String key) {
        Path data = dataPath(bucket, key);
        Path meta = metaPath(data);
        verified.remove(data);
        try {
            Files.deleteIfExists(meta);
            long size = Files.exists(data) ? Files.size(data) : 0;
            if (Files.deleteIfExists(data)) {
                usedBytes.addAndGet(-size);
            }
        } catch (IOException e) {
            LOG.warn("Could not remove the local-tier copy {} of s3://{}/{}: {}", data, bucket, key, e.toString());
        }
    }

    /** Scans the directory and evicts least recently used copies until under the low watermark. */
    public void evictIfOverBudget() throws IOException {
        Object jvmLock = JVM_LOCKS.computeIfAbsent(root, r -> new Object());
        synchronized (jvmLock) {
            try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock ignored = ch.lock()) {
                List<ScannedCopy> copies = scan();
                long total = copies.stream().mapToLong(ScannedCopy::size).sum();
                addedSinceScan.set(0);
                if (total > maxBytes) {
                    long target = (long) (maxBytes * LOW_WATERMARK);
                    copies.sort(Comparator.comparingLong(ScannedCopy::lastAccessMillis));
                    int evicted = 0;
                    for (ScannedCopy c : copies) {
                        if (total <= target) {
                            break;
                        }
                        Files.deleteIfExists(c.meta());
                        verified.remove(c.data());
                        Files.deleteIfExists(c.data());
                        total -= c.size();
                        evicted++;
                    }
                    stats.evictions.add(evicted);
                    LOG.info("Local tier {}: evicted {} least recently used copies, {} bytes held of a {} byte budget",
                            root, evicted, total, maxBytes);
                }
                usedBytes.set(total);
            }
        }
    }

    private List<ScannedCopy> scan() throws IOException {
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
                            // removed meanwhile, or a sidecar left without data: cleaned below
                            Files.deleteIfExists(meta);
                        }
                    }
                } catch (NoSuchFileException | java.nio.file.NotDirectoryException ignored) {
                    // a shard removed meanwhile
                }
            }
        }
        return copies;
    }

    private void removeStaleStagingFiles() {
        long cutoff = System.currentTimeMillis() - STALE_STAGING_MILLIS;
        try (Stream<Path> files = Files.list(staging)) {
            files.forEach(f -> {
                try {
                    if (Files.getLastModifiedTime(f).toMillis() < cutoff) {
                        Files.deleteIfExists(f);
                    }
                } catch (IOException ignored) {
                    // in use or removed by another process
                }
            });
        } catch (IOException e) {
            LOG.debug("Could not clean staging directory {}", staging, e);
        }
    }

    private static void touch(Path meta) {
        try {
            Files.setLastModifiedTime(meta, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException ignored) {
            // evicted meanwhile: the access time only steers eviction
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    Path dataPath(String bucket, String key) {
        String hash = sha256(bucket + "/" + key);
        return objects.resolve(hash.substring(0, 2)).resolve(hash);
    }

    private static Path metaPath(Path data) {
        return data.resolveSibling(data.getFileName() + META_SUFFIX);
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new UncheckedIOException(new IOException("SHA-256 unavailable", e));
        }
    }

    private record ScannedCopy(Path data, Path meta, long size, long lastAccessMillis) {}
}
