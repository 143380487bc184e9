package io.github.s3tiered.fs;

import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.ObjectListing;
import io.github.s3tiered.s3.ObjectStore;
import io.github.s3tiered.s3.S3Statistics;
import io.github.s3tiered.tier.LocalTier;
import io.github.s3tiered.tier.TierEntry;

import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.EntropyInjectingFileSystem;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.ICloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The {@code s3tiered://<bucket>/} file system: S3 is the durable tier and the source of truth for
 * metadata (status, listings); the local tier serves reads of files written or read before on this
 * host. Directories are key prefixes: {@link #mkdirs} creates nothing, and {@link #rename} is
 * refused because S3 cannot rename atomically.
 */
public final class S3TieredFileSystem extends FileSystem implements EntropyInjectingFileSystem, PathsCopyingFileSystem {

    private static final char[] ENTROPY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz".toCharArray();

    private final URI uri;
    private final S3TieredRuntime runtime;
    private final SecureRandom random = new SecureRandom();

    S3TieredFileSystem(URI uri, S3TieredRuntime runtime) {
        this.uri = uri;
        this.runtime = runtime;
    }

    /** Request counters of the S3 client shared by this file system. */
    public S3Statistics s3Statistics() {
        return runtime.store().statistics();
    }

    /**
     * This process's transfer figures, with JDK types only so that code outside the plugin class
     * loader (the state backend's metrics) can read them.
     */
    public java.util.Map<String, Long> metricsSnapshot() {
        S3Statistics s = s3Statistics();
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        long uploads = s.uploads.sum();
        m.put("bytesUploaded", s.bytesUploaded.sum());
        m.put("uploads", uploads);
        m.put("uploadLatencyAvgMs", uploads == 0 ? 0 : s.uploadNanos.sum() / uploads / 1_000_000);
        m.put("retries", s.retries.sum());
        m.put("throttledRetries", s.throttledRetries.sum());
        m.put("restoreBytesFromLocalTier", s.restoreBytesFromLocalTier.sum());
        m.put("restoreBytesFromS3", s.restoreBytesFromS3.sum());
        m.put("bytesServedFromLocalTier", s.bytesServedFromLocalTier.sum());
        m.put("bytesDownloaded", s.bytesDownloaded.sum());
        m.put("localTierUsedBytes", runtime.tier().usedBytes());
        m.put("localTierCorruptionsDetected", runtime.tier().statistics().corruptionsDetected.sum());
        m.put("localTierStaleCopiesDropped", runtime.tier().statistics().staleCopiesDropped.sum());
        m.put("requests", s.totalRequests());
        return m;
    }

    /**
     * The CRC32C this file system recorded when it uploaded the file (object metadata), as an
     * unsigned 32-bit value; empty for objects written by other tools. One HEAD; a local copy whose
     * size or checksum differs from the object's is dropped. JDK types only, so that the recovery
     * inspector can call it across Flink's plugin class loader.
     */
    public java.util.OptionalLong recordedCrc32c(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        ObjectInfo info = store().head(op.bucket(), op.key())
                .orElseThrow(() -> new FileNotFoundException("No such file: " + op + " (S3 endpoint " + store().endpointDescription() + ")"));
        runtime.tier().dropIfStale(op.bucket(), op.key(), info.size(), info.crc32c());
        return info.crc32c() == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(Integer.toUnsignedLong(info.crc32c()));
    }

    /** Index of the object's length in the result of {@link #readDurable}. */
    public static final int DURABLE_LENGTH = 0;
    /** Index of the CRC32C of the bytes read (unsigned 32-bit value). */
    public static final int DURABLE_CRC32C = 1;
    /** Index of the CRC32C recorded at upload, or -1 when the object carries none. */
    public static final int DURABLE_RECORDED_CRC32C = 2;
    /** Index of 1 when a local-tier copy differing from the object was dropped, else 0. */
    public static final int DURABLE_STALE_COPY_DROPPED = 3;

    /**
     * Copies the object as S3 holds it into {@code sink}, never from the local tier: what a host
     * without any local copy would restore. One HEAD (size and recorded CRC32C) and one streaming
     * GET. The content is not judged here: the caller compares the CRC32C of the bytes with the
     * recorded one. A local copy that differs from the object (another size, or another checksum
     * than the one recorded, or than the bytes when none is recorded) is dropped and counted.
     *
     * <p>JDK types only, for the recovery inspector in another class loader: a missing object is a
     * {@link FileNotFoundException}; any other {@link IOException} means S3 could not be read
     * (throttled, timed out, unreachable, denied), never that the content is wrong.
     *
     * @return {length, CRC32C of the bytes, recorded CRC32C or -1, 1 if a stale local copy was dropped}
     */
    public long[] readDurable(Path path, java.io.OutputStream sink) throws IOException {
        ObjectPath op = objectPath(path);
        ObjectInfo info = store().head(op.bucket(), op.key())
                .orElseThrow(() -> new FileNotFoundException("No such file: " + op + " (S3 endpoint " + store().endpointDescription() + ")"));
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        long length = 0;
        byte[] buffer = new byte[256 * 1024];
        try (S3InputStream in = new S3InputStream(store(), op.bucket(), op.key(), info.size(), null,
                runtime.config().readReopenAttempts(), null)) {
            int n;
            while ((n = in.read(buffer, 0, buffer.length)) != -1) {
                crc.update(buffer, 0, n);
                sink.write(buffer, 0, n);
                length += n;
            }
        }
        int actual = (int) crc.getValue();
        boolean dropped = runtime.tier().dropIfStale(op.bucket(), op.key(), info.size(),
                info.crc32c() != null ? info.crc32c() : actual);
        return new long[] {length, Integer.toUnsignedLong(actual),
                info.crc32c() == null ? -1 : Integer.toUnsignedLong(info.crc32c()), dropped ? 1 : 0};
    }

    public LocalTier localTier() {
        return runtime.tier();
    }

    S3TieredRuntime runtime() {
        return runtime;
    }

    @Override
    public Path getWorkingDirectory() {
        return new Path(uri);
    }

    @Override
    public Path getHomeDirectory() {
        return new Path(uri);
    }

    @Override
    public URI getUri() {
        return uri;
    }

    @Override
    public boolean isDistributedFS() {
        return true;
    }

    private ObjectPath objectPath(Path path) throws IOException {
        return ObjectPath.of(path.isAbsolute() ? path : new Path(getWorkingDirectory(), path), uri);
    }

    // ------------------------------------------------------------------ metadata (from S3)

    @Override
    public FileStatus getFileStatus(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        if (op.isRoot()) {
            return S3TieredFileStatus.directory(op.toPath());
        }
        Optional<ObjectInfo> info = store().head(op.bucket(), op.key());
        if (info.isPresent()) {
            return S3TieredFileStatus.file(op.toPath(), info.get().size(), info.get().lastModifiedMillis());
        }
        if (store().hasAnyUnder(op.bucket(), op.childPrefix())) {
            return S3TieredFileStatus.directory(op.toPath());
        }
        throw new FileNotFoundException("No such file or directory: " + op + " (S3 endpoint " + store().endpointDescription() + ")");
    }

    @Override
    public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len) {
        return new BlockLocation[] {new SingleBlockLocation(file.getLen())};
    }

    /**
     * The entries one level below a directory. S3 has no empty directories, so a directory that
     * holds nothing (or was only "created" with {@link #mkdirs}) lists as empty.
     */
    @Override
    public FileStatus[] listStatus(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        ObjectListing listing = store().listDirectory(op.bucket(), op.childPrefix());
        if (listing.isEmpty() && !op.isRoot()) {
            Optional<ObjectInfo> file = store().head(op.bucket(), op.key());
            if (file.isPresent()) {
                return new FileStatus[] {S3TieredFileStatus.file(op.toPath(), file.get().size(), file.get().lastModifiedMillis())};
            }
        }
        List<FileStatus> result = new ArrayList<>();
        for (ObjectInfo o : listing.objects()) {
            if (o.key().equals(op.childPrefix())) {
                continue; // a directory marker object left by another tool
            }
            result.add(S3TieredFileStatus.file(new ObjectPath(op.bucket(), o.key()).toPath(), o.size(), o.lastModifiedMillis()));
        }
        for (String prefix : listing.commonPrefixes()) {
            result.add(S3TieredFileStatus.directory(new ObjectPath(op.bucket(), prefix.substring(0, prefix.length() - 1)).toPath()));
        }
        return result.toArray(new FileStatus[0]);
    }

    @Override
    public boolean exists(Path path) throws IOException {
        try {
            getFileStatus(path);
            return true;
        } catch (FileNotFoundException e) {
            return false;
        }
    }

    /**
     * Deletes the object and its local copy; with {@code recursive}, also everything under the
     * path. A non-recursive delete is one request (S3 deletes are idempotent), as Flink deletes
     * checkpoint files one by one.
     */
    @Override
    public boolean delete(Path path, boolean recursive) throws IOException {
        ObjectPath op = objectPath(path);
        if (op.isRoot()) {
            throw new IOException("Refusing to delete the whole bucket " + op + ": delete a directory inside it");
        }
        if (!recursive) {
            store().deleteObject(op.bucket(), op.key());
            runtime.tier().drop(op.bucket(), op.key());
            return true;
        }
        List<String> keys = new ArrayList<>();
        for (ObjectInfo o : store().listRecursive(op.bucket(), op.childPrefix())) {
            keys.add(o.key());
        }
        keys.add(op.key());
        store().deleteObjects(op.bucket(), keys);
        for (String k : keys) {
            runtime.tier().drop(op.bucket(), k);
        }
        return true;
    }

    /** S3 has no directories: nothing to create. */
    @Override
    public boolean mkdirs(Path path) throws IOException {
        objectPath(path); // validates the path
        return true;
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        throw new IOException("s3tiered:// cannot rename " + src + " to " + dst
                + ": S3 has no atomic rename. Write the file at its final path instead.");
    }

    // ------------------------------------------------------------------ data

    @Override
    public FSDataOutputStream create(Path path, WriteMode overwriteMode) throws IOException {
        ObjectPath op = objectPath(path);
        if (op.isRoot()) {
            throw new IOException("Cannot write a file at the bucket root " + op);
        }
        if (overwriteMode == WriteMode.NO_OVERWRITE && !isRandomName(path) && store().head(op.bucket(), op.key()).isPresent()) {
            throw new FileAlreadyExistsException(op.toString(), null, "exists and the write mode is NO_OVERWRITE");
        }
        return new TieredOutputStream(runtime, op);
    }

    private static final java.util.regex.Pattern RANDOM_NAME =
            java.util.regex.Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    /**
     * Flink names every checkpoint data file with a random UUID: such a name cannot already exist,
     * so NO_OVERWRITE needs no HEAD for it, one request less per file (latency, and S3's request
     * rate per prefix). Named files ({@code _metadata}) keep the check. It cannot move to
     * {@code close()}: Flink deletes the path after a failed close, which would delete the file
     * that was there.
     */
    static boolean isRandomName(Path path) {
        return RANDOM_NAME.matcher(path.getName()).matches();
    }

    @Override
    public FSDataInputStream open(Path path, int bufferSize) throws IOException {
        return open(path);
    }

    @Override
    public FSDataInputStream open(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        LocalTier tier = runtime.tier();
        // A verified local copy first; else one streaming GET, copied into the tier as it is read.
        Optional<FSDataInputStream> local = openLocalCopy(op);
        if (local.isPresent()) {
            return local.get();
        }
        ObjectInfo info =
                store().head(op.bucket(), op.key())
                        .orElseThrow(() -> new FileNotFoundException("No such file: " + op + " (S3 endpoint "
                                + store().endpointDescription() + ")"));
        S3TieredConfig config = runtime.config();
        boolean keepCopy = config.localEnabled() && config.cacheOnRead() && tier.fits(info.size());
        return new S3InputStream(store(), op.bucket(), op.key(), info.size(), info.crc32c(), config.readReopenAttempts(),
                keepCopy ? tier : null);
    }

    private Optional<FSDataInputStream> openLocalCopy(ObjectPath op) throws IOException {
        Optional<TierEntry> entry = runtime.tier().getVerified(op.bucket(), op.key());
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        try {
            FileChannel ch = FileChannel.open(entry.get().data(), StandardOpenOption.READ);
            return Optional.of(new LocalFileInputStream(ch, s3Statistics().bytesServedFromLocalTier));
        } catch (NoSuchFileException evicted) {
            return Optional.empty();
        }
    }

    // ------------------------------------------------------------------ batch copy (restore)

    /** Copies s3tiered:// files to the local file system; anything else is left to Flink. */
    @Override
    public boolean canCopyPaths(Path source, Path destination) {
        String srcScheme = source.toUri().getScheme();
        String dstScheme = destination.toUri().getScheme();
        return (srcScheme == null || S3TieredFileSystemFactory.SCHEME.equals(srcScheme))
                && (dstScheme == null || "file".equals(dstScheme));
    }

    /**
     * Restores a batch of files: local-tier copies are hard-linked into place (copied across
     * devices), the others downloaded in parallel with ranged GETs and kept in the tier.
     */
    @Override
    public void copyFiles(List<CopyRequest> requests, ICloseableRegistry closeableRegistry) throws IOException {
        new BatchDownload(runtime).copy(requests, this::objectPath, closeableRegistry);
    }

    // ------------------------------------------------------------------ entropy

    @Override
    public String getEntropyInjectionKey() {
        return runtime.config().entropyKey();
    }

    @Override
    public String generateEntropy() {
        char[] c = new char[runtime.config().entropyLength()];
        for (int i = 0; i < c.length; i++) {
            c[i] = ENTROPY_CHARS[random.nextInt(ENTROPY_CHARS.length)];
        }
        return new String(c);
    }

    private ObjectStore store() {
        return runtime.store();
    }

    @Override
    public String toString() {
        return "S3TieredFileSystem{" + uri + ", " + runtime.config().client().endpointDescription()
                + ", local tier " + runtime.tier().root() + "}";
    }

    private record SingleBlockLocation(long length) implements BlockLocation {
        @Override
        public String[] getHosts() {
            return new String[] {"localhost"};
        }

        @Override
        public long getOffset() {
            return 0;
        }

        @Override
        public long getLength() {
            return length;
        }

        @Override
        public int compareTo(BlockLocation o) {
            return Long.compare(getOffset(), o.getOffset());
        }
    }
}
