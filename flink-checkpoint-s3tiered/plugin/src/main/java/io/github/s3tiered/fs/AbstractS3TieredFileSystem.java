package io.github.s3tiered.fs;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.s3.EvenIfInterrupted;
import io.github.s3tiered.s3.ObjectInfo;
import io.github.s3tiered.s3.ObjectListing;
import io.github.s3tiered.s3.S3Access;
import io.github.s3tiered.s3.S3Statistics;
import io.github.s3tiered.tier.IntactCopy;
import io.github.s3tiered.tier.LocalTier;
import io.github.s3tiered.tier.ObjectKey;
import io.github.s3tiered.tier.TierEntry;

import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.EntropyInjectingFileSystem;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

/**
 * The {@code s3tiered://<bucket>/} file system: S3 is the durable tier and the source of truth for
 * metadata (status, listings); the local tier serves reads of files written or read before on this
 * host. Directories are key prefixes: {@link #mkdirs} creates nothing, and {@link #rename} is
 * refused because S3 cannot rename atomically.
 *
 * <p>Everything but what differs between Flink lines: each line's {@code S3TieredFileSystem}
 * (source set {@code src/flink2/java} here, module {@code flink-1.20/plugin} for 1.20) adds the
 * interfaces its {@link FileSystem} API has, such as 2.x's batch copy for restores.
 */
public abstract class AbstractS3TieredFileSystem extends FileSystem
        implements EntropyInjectingFileSystem, BiFunction<String, Map<String, Object>, Map<String, Object>> {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AbstractS3TieredFileSystem.class);
    private static final char[] ENTROPY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz".toCharArray();

    private final URI uri;
    private final S3TieredRuntime runtime;
    private final SecureRandom random = new SecureRandom();
    private final BridgeEndpoint bridge = new BridgeEndpoint(this);

    AbstractS3TieredFileSystem(URI uri, S3TieredRuntime runtime) {
        this.uri = uri;
        this.runtime = runtime;
    }

    /** Request counters of the S3 client shared by this file system. */
    public S3Statistics s3Statistics() {
        return runtime.store().statistics();
    }

    /**
     * The bridge: how code outside the plugin class loader (storage, backend metrics, inspector)
     * calls this file system, with JDK types only. See {@link BridgeContract}.
     */
    @Override
    public Map<String, Object> apply(String operation, Map<String, Object> arguments) {
        return bridge.call(operation, arguments);
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

    ObjectPath objectPathOf(Path path) throws IOException {
        return objectPath(path);
    }

    /** One HEAD; a missing object is a {@link FileNotFoundException} naming it and the endpoint. */
    ObjectInfo headOrNotFound(ObjectPath op) throws IOException {
        return store().head(op.bucket(), op.key())
                .orElseThrow(() -> new FileNotFoundException("No such file: " + op + " (S3 endpoint " + store().endpointDescription() + ")"));
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
        ObjectListing listing = store().listDirectory(op.bucket(), op.childPrefix(), runtime().transferPool());
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

    /**
     * A HEAD, and the listing that finds a "directory", sent together: callers mostly ask about a
     * path they are about to create, which is missing and needs both (Flink does so for every
     * checkpoint's {@code _metadata}), so one round trip instead of two. The price is a listing
     * more for a path that exists (callers here that expect a file use {@code getFileStatus}).
     * The listing goes to the transfer pool; if no thread took it by the time the HEAD answered,
     * it runs here when needed, and not at all after a file was found.
     */
    @Override
    public boolean exists(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        if (op.isRoot()) {
            return true;
        }
        // Whoever sets `taken` first lists (or, after the HEAD answered, decides no listing is needed).
        AtomicBoolean taken = new AtomicBoolean();
        CompletableFuture<Boolean> listed = new CompletableFuture<>();
        try {
            runtime().transferPool().execute(() -> {
                if (taken.compareAndSet(false, true)) {
                    try {
                        listed.complete(store().hasAnyUnder(op.bucket(), op.childPrefix()));
                    } catch (Throwable t) { // whatever it is, the caller waiting on `listed` must see it
                        listed.completeExceptionally(t);
                    }
                }
            });
        } catch (RejectedExecutionException closing) {
            // listed here after the HEAD
        }
        boolean file;
        try {
            file = store().head(op.bucket(), op.key()).isPresent();
        } catch (IOException | RuntimeException e) {
            taken.set(true);
            throw e;
        }
        if (taken.compareAndSet(false, true)) {
            // no transfer thread took the listing yet: it is not needed, or done here
            return file || store().hasAnyUnder(op.bucket(), op.childPrefix());
        }
        if (file) {
            return true;
        }
        try {
            return listed.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("Interrupted while listing s3://" + op.bucket() + "/" + op.childPrefix());
        } catch (ExecutionException e) {
            // as getFileStatus would have thrown it, with this caller's stack added
            Throwable cause = e.getCause();
            cause.addSuppressed(new Exception("exists(" + path + ") waited for this listing"));
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IOException("Listing s3://" + op.bucket() + "/" + op.childPrefix() + " failed: " + cause, cause);
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
        // streams of this process still writing there, which their writers gave up without a close
        runtime.openStreams().under(op, recursive).forEach(TieredOutputStream::abandonIfOpen);
        if (!recursive) {
            // Flink deletes a file after its stream failed, and a discarded handle's file, often on
            // the thread it has just interrupted to cancel it: the SDK would refuse the request and
            // leave the object (possibly completed by S3 as the interrupt came) behind
            EvenIfInterrupted.run(() -> {
                runtime.tier().deleted(op.bucket(), op.key());
                try {
                    store().deleteObject(op.bucket(), op.key());
                } finally {
                    runtime.tier().deleted(op.bucket(), op.key()); // failed or not, S3 may have acted
                    runtime.lateUploads().deleted(op.bucket(), op.key(), null);
                }
                return null;
            });
            return true;
        }
        List<String> keys = new ArrayList<>();
        for (ObjectInfo o : store().listRecursive(op.bucket(), op.childPrefix())) {
            keys.add(o.key());
        }
        keys.add(op.key());
        for (String k : keys) {
            runtime.tier().deleted(op.bucket(), k);
        }
        try {
            store().deleteObjects(op.bucket(), keys);
        } finally {
            for (String k : keys) {
                runtime.tier().deleted(op.bucket(), k); // failed part-way or not, S3 may have deleted them
            }
            // an upload in doubt under the prefix that no listing showed yet may land after this delete too
            runtime.lateUploads().deleted(op.bucket(), op.key(), op.childPrefix());
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
        return new TieredOutputStream(runtime, op, overwriteMode == WriteMode.OVERWRITE);
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

    /** A pre-upload's name: the SHA-256 of its content, then (this version) 16 hex digits of its own. */
    private static final java.util.regex.Pattern CONTENT_NAME =
            java.util.regex.Pattern.compile("[0-9a-f]{64}(-[0-9a-f]{16})?" + java.util.regex.Pattern.quote(PreUpload.SUFFIX));

    /**
     * Whether the name itself pins the content: a random UUID (Flink's data files, written once) or
     * a pre-upload's content hash. Other names ({@code _metadata}, a status file) may be written
     * again at the same key by another host or by hand (a savepoint copied back into place, a
     * "latest" prefix refreshed with {@code aws s3 sync}), so a local copy of them is not the
     * content by its name alone.
     */
    static boolean isNameOfFixedContent(Path path) {
        return isRandomName(path) || CONTENT_NAME.matcher(path.getName()).matches();
    }

    @Override
    public FSDataInputStream open(Path path, int bufferSize) throws IOException {
        return open(path);
    }

    @Override
    public FSDataInputStream open(Path path) throws IOException {
        ObjectPath op = objectPath(path);
        LocalTier tier = runtime.tier();
        // A verified local copy first; else a file up to read.whole-first-max-size downloaded and
        // checked before it is served; else one streaming GET, copied into the tier as it is read.
        boolean rewritten = tier.isBeingRewritten(op.bucket(), op.key()); // synced and still written here
        Optional<FSDataInputStream> local = rewritten ? Optional.empty() : openLocalCopy(op);
        if (local.isPresent() && (isNameOfFixedContent(path) || stillS3s(op, local.get()))) {
            return local.get();
        }
        long ticket = tier.readTicket(op.bucket(), op.key()); // before S3 says which version is read
        ObjectInfo info = headOrNotFound(op);
        S3TieredConfig config = runtime.config();
        boolean keepCopy = config.localEnabled() && config.cacheOnRead() && tier.fits(info.size()) && !rewritten;
        WholeFirstInputStream.Streaming streaming = () -> new WindowedInputStream(S3InputStream.ofState(store(), op.bucket(),
                op.key(), info, config.readReopenAttempts(), keepCopy ? tier : null, ticket), info.size(), op.toString());
        if (info.crc32c() != null && info.size() > 0 && info.size() <= config.readWholeFirstMaxBytes()) {
            // Readers of one file at once (a rescaled heap restore's new subtasks read key groups of
            // one old file) share a download that keeps a copy: the others read that copy.
            ObjectKey key = new ObjectKey(op.bucket(), op.key());
            return new WholeFirstInputStream(closing -> keepCopy
                    ? runtime.sharedDownloads().call(key, closing,
                            () -> WholeFirstRead.download(runtime, op, info, true, ticket, closing),
                            () -> {
                                Optional<FSDataInputStream> copy = openLocalCopy(op);
                                return copy.isPresent() ? copy
                                        : WholeFirstRead.download(runtime, op, info, true, ticket, closing);
                            })
                    : WholeFirstRead.download(runtime, op, info, false, ticket, closing),
                    streaming, info.size(), op.toString());
        }
        return streaming.open();
    }

    /**
     * Whether S3 still holds the content of this host's copy of a named object (one HEAD: its size,
     * and its recorded CRC32C where S3 has one, against the copy's). When it does not, the copy is
     * dropped and closed, and the object is read from S3: a job must not resume the previous
     * savepoint's {@code _metadata} because this host kept it (without the recovery guard, whose
     * durable read drops it too). Gone from S3, the open fails as not found. When S3 does not answer,
     * the copy is served, as before this check: what this host last knew, and a restore from the
     * local tier needs no S3 server.
     */
    private boolean stillS3s(ObjectPath op, FSDataInputStream copy) throws IOException {
        ObjectInfo info;
        try {
            info = headOrNotFound(op);
        } catch (java.io.FileNotFoundException | RuntimeException e) {
            copy.close();
            throw e;
        } catch (IOException unanswered) {
            LOG.warn("Serving this host's local-tier copy of {} without knowing whether S3 still holds it (another"
                    + " writer may have replaced it): {}", op, unanswered.getMessage());
            return true;
        }
        if (!runtime.tier().dropIfStale(op.bucket(), op.key(), info.size(), info.crc32c())) {
            return true;
        }
        copy.close();
        return false;
    }

    private Optional<FSDataInputStream> openLocalCopy(ObjectPath op) throws IOException {
        Optional<IntactCopy> intact = runtime.tier().getIntact(op.bucket(), op.key());
        if (intact.isEmpty()) {
            return Optional.empty();
        }
        TierEntry entry = intact.get().entry();
        FileChannel ch;
        try {
            ch = FileChannel.open(entry.data(), StandardOpenOption.READ);
        } catch (NoSuchFileException evicted) {
            return Optional.empty();
        }
        // opened by path: only if the path still holds the file that was checked (a copy another
        // process committed over it since is unchecked, and its sidecar may describe other bytes)
        boolean theCheckedFile = false;
        try {
            theCheckedFile = intact.get().isTheCheckedFile(entry.data());
        } finally {
            if (!theCheckedFile) {
                ch.close();
            }
        }
        if (!theCheckedFile) {
            return Optional.empty();
        }
        LocalFileInputStream copy = new LocalFileInputStream(ch, entry.size(), s3Statistics().bytesServedFromLocalTier,
                op.toString());
        return Optional.of(new WindowedInputStream(copy, entry.size(), "the local copy of " + op));
    }

    // ------------------------------------------------------------------ batch copy (restore)

    /** Whether {@link #copyFiles} takes this pair: s3tiered:// files to the local file system. */
    boolean copiesPaths(Path source, Path destination) {
        String srcScheme = source.toUri().getScheme();
        String dstScheme = destination.toUri().getScheme();
        return (srcScheme == null || BridgeContract.SCHEME.equals(srcScheme))
                && (dstScheme == null || "file".equals(dstScheme));
    }

    /**
     * Restores a batch of files: local-tier copies are hard-linked into place (copied across
     * devices), the others downloaded in parallel with ranged GETs and kept in the tier. The
     * batch is cancelled when what {@code registration} registered is closed.
     */
    void copyFiles(List<BatchDownload.FileCopy> copies, BatchDownload.CancelRegistration registration) throws IOException {
        new BatchDownload(runtime).copy(copies, this::objectPath, registration);
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

    private S3Access store() {
        return runtime.store();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + uri + ", " + runtime.config().client().endpointDescription()
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
