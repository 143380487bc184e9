package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The local file system under the scheme {@code gappy://}, with listings that behave like those of
 * some S3-compatible stores (S3Proxy's filesystem backend among them) while other objects are
 * written or deleted: they leave out objects that exist, or whole directories' content, and say
 * nothing about it, while a direct status call (a HEAD) answers correctly. Registered for tests
 * through {@code META-INF/services}; what is left out is set through the static methods and undone
 * by {@link #reset()}.
 */
public final class ListingGapsFileSystem extends FileSystem {

    public static final String SCHEME = "gappy";

    /** Left out of every listing of their directory. */
    private static final Set<String> HIDDEN = ConcurrentHashMap.newKeySet();
    /** Left out of the first listing of their directory only. */
    private static final Set<String> HIDDEN_ONCE = ConcurrentHashMap.newKeySet();
    /** Directories whose listings show nothing (and say they are complete). */
    private static final Set<String> EMPTY_LISTINGS = ConcurrentHashMap.newKeySet();
    /** Sizes a listing shows instead of the real ones. */
    private static final Map<String, Long> LISTED_SIZES = new ConcurrentHashMap<>();
    /** Paths whose status call fails as a throttled S3 does. */
    private static final Set<String> UNREADABLE_STATUS = ConcurrentHashMap.newKeySet();
    /** Files whose delete fails as S3's does for a role without s3:DeleteObject. */
    private static final Set<String> UNDELETABLE = ConcurrentHashMap.newKeySet();
    /** Files whose reads fail as a throttled S3's do. */
    private static final Set<String> UNREADABLE_FILES = ConcurrentHashMap.newKeySet();
    /** Directories whose listing fails as a throttled S3's does, with the attempts counted. */
    private static final Map<String, AtomicInteger> UNREADABLE_LISTINGS = new ConcurrentHashMap<>();
    /** Directories whose listing a read of a {@code _metadata} waits for (up to 10 s) to have started. */
    private static final Map<String, CountDownLatch> LISTING_BEFORE_METADATA = new ConcurrentHashMap<>();
    /** Set when a {@code _metadata} was read before such a listing started. */
    private static volatile boolean metadataReadFirst;
    /** Run once, when the directory is next listed: what a running job does meanwhile. */
    private static final Map<String, Runnable> ON_LISTING = new ConcurrentHashMap<>();

    public static void onListing(java.nio.file.Path dir, Runnable action) {
        ON_LISTING.put(PathKey.of(path(dir)), action);
    }

    private final LocalFileSystem local = LocalFileSystem.getSharedInstance();

    public static Path path(java.nio.file.Path p) {
        return new Path(SCHEME, null, p.toAbsolutePath().toUri().getPath());
    }

    public static void hide(java.nio.file.Path p) {
        HIDDEN.add(PathKey.of(path(p)));
    }

    public static void hideOnce(java.nio.file.Path p) {
        HIDDEN_ONCE.add(PathKey.of(path(p)));
    }

    public static void listEmpty(java.nio.file.Path dir) {
        EMPTY_LISTINGS.add(PathKey.of(path(dir)));
    }

    public static void listWithSize(java.nio.file.Path p, long size) {
        LISTED_SIZES.put(PathKey.of(path(p)), size);
    }

    public static void failStatus(java.nio.file.Path p) {
        UNREADABLE_STATUS.add(PathKey.of(path(p)));
    }

    public static void failDelete(java.nio.file.Path p) {
        UNDELETABLE.add(PathKey.of(path(p)));
    }

    public static void failReads(java.nio.file.Path p) {
        UNREADABLE_FILES.add(PathKey.of(path(p)));
    }

    public static void failListing(java.nio.file.Path dir) {
        UNREADABLE_LISTINGS.put(PathKey.of(path(dir)), new AtomicInteger());
    }

    /** How often a listing set to fail by {@link #failListing} was asked for. */
    public static int listingAttempts(java.nio.file.Path dir) {
        return UNREADABLE_LISTINGS.get(PathKey.of(path(dir))).get();
    }

    /**
     * From now on, a read of a {@code _metadata} waits up to 10 s for a listing of {@code dir} to
     * start: {@link #metadataReadBeforeListing()} tells whether one was read without it.
     */
    public static void expectListingBeforeMetadataRead(java.nio.file.Path dir) {
        LISTING_BEFORE_METADATA.put(PathKey.of(path(dir)), new CountDownLatch(1));
    }

    public static boolean metadataReadBeforeListing() {
        return metadataReadFirst;
    }

    public static void reset() {
        UNREADABLE_LISTINGS.clear();
        LISTING_BEFORE_METADATA.clear();
        metadataReadFirst = false;
        HIDDEN.clear();
        HIDDEN_ONCE.clear();
        EMPTY_LISTINGS.clear();
        LISTED_SIZES.clear();
        UNREADABLE_STATUS.clear();
        UNREADABLE_FILES.clear();
        UNDELETABLE.clear();
        ON_LISTING.clear();
    }

    private static Path toLocal(Path p) {
        return new Path("file", null, p.toUri().getPath());
    }

    private static Path fromLocal(Path p) {
        return new Path(SCHEME, null, p.toUri().getPath());
    }

    @Override
    public FileStatus[] listStatus(Path f) throws IOException {
        Runnable meanwhile = ON_LISTING.remove(PathKey.of(f));
        if (meanwhile != null) {
            meanwhile.run();
        }
        CountDownLatch started = LISTING_BEFORE_METADATA.get(PathKey.of(f));
        if (started != null) {
            started.countDown();
        }
        AtomicInteger failing = UNREADABLE_LISTINGS.get(PathKey.of(f));
        if (failing != null) {
            failing.incrementAndGet();
            throw new IOException("503 Slow Down (LIST " + f + ")");
        }
        FileStatus[] real = local.listStatus(toLocal(f));
        if (real == null || EMPTY_LISTINGS.contains(PathKey.of(f))) {
            return real == null ? null : new FileStatus[0];
        }
        List<FileStatus> out = new ArrayList<>();
        for (FileStatus s : real) {
            Path p = fromLocal(s.getPath());
            String key = PathKey.of(p);
            if (HIDDEN.contains(key) || HIDDEN_ONCE.remove(key)) {
                continue;
            }
            out.add(new Status(p, LISTED_SIZES.getOrDefault(key, s.getLen()), s.getModificationTime(), s.isDir()));
        }
        return out.toArray(new FileStatus[0]);
    }

    @Override
    public FileStatus getFileStatus(Path f) throws IOException {
        if (UNREADABLE_STATUS.contains(PathKey.of(f))) {
            throw new IOException("503 Slow Down (HEAD " + f + ")");
        }
        FileStatus s = local.getFileStatus(toLocal(f));
        return new Status(fromLocal(s.getPath()), s.getLen(), s.getModificationTime(), s.isDir());
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
        failIfUnreadable(f);
        awaitListingsBeforeMetadata(f);
        return local.open(toLocal(f), bufferSize);
    }

    @Override
    public FSDataInputStream open(Path f) throws IOException {
        failIfUnreadable(f);
        awaitListingsBeforeMetadata(f);
        return local.open(toLocal(f));
    }

    private static void failIfUnreadable(Path f) throws IOException {
        if (UNREADABLE_FILES.contains(PathKey.of(f))) {
            throw new IOException("503 Slow Down (GET " + f + ")");
        }
    }

    private static void awaitListingsBeforeMetadata(Path f) throws IOException {
        if (!"_metadata".equals(f.getName())) {
            return;
        }
        try {
            for (CountDownLatch started : LISTING_BEFORE_METADATA.values()) {
                if (!started.await(10, TimeUnit.SECONDS)) {
                    metadataReadFirst = true;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted");
        }
    }

    @Override
    public boolean delete(Path f, boolean recursive) throws IOException {
        if (UNDELETABLE.contains(PathKey.of(f))) {
            throw new IOException("403 AccessDenied (DELETE " + f + ")");
        }
        return local.delete(toLocal(f), recursive);
    }

    @Override
    public boolean mkdirs(Path f) throws IOException {
        return local.mkdirs(toLocal(f));
    }

    @Override
    public FSDataOutputStream create(Path f, WriteMode overwriteMode) throws IOException {
        return local.create(toLocal(f), overwriteMode);
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        return local.rename(toLocal(src), toLocal(dst));
    }

    @Override
    public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len) {
        return new BlockLocation[0];
    }

    @Override
    public Path getWorkingDirectory() {
        return fromLocal(local.getWorkingDirectory());
    }

    @Override
    public Path getHomeDirectory() {
        return fromLocal(local.getHomeDirectory());
    }

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public boolean isDistributedFS() {
        return false;
    }

    private record Status(Path getPath, long getLen, long getModificationTime, boolean isDir) implements FileStatus {

        @Override
        public long getBlockSize() {
            return getLen;
        }

        @Override
        public short getReplication() {
            return 1;
        }

        @Override
        public long getAccessTime() {
            return 0;
        }
    }

    /** Registered in {@code META-INF/services/org.apache.flink.core.fs.FileSystemFactory} of the tests. */
    public static final class Factory implements FileSystemFactory {

        @Override
        public String getScheme() {
            return SCHEME;
        }

        @Override
        public FileSystem create(URI fsUri) {
            return new ListingGapsFileSystem();
        }
    }
}
