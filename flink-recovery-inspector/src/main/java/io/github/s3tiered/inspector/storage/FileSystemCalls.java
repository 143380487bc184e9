package io.github.s3tiered.inspector.storage;

import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.RequestCount;
import io.github.s3tiered.inspector.StorageUnreadableException;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.NoSuchFileException;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * The only way the inspector touches a file system, so that every call is counted (the count is
 * the cost of an inspection on S3, which the storage's guard must keep small) and every failure
 * falls in one of two kinds: the path does not exist ({@link FileNotFoundException}), or the
 * storage could not be read ({@link StorageUnreadableException}), which proves nothing.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class FileSystemCalls {

    private static final int READ_BUFFER = 256 * 1024;

    private final AtomicLong listStatus = new AtomicLong();
    private final AtomicLong getFileStatus = new AtomicLong();
    private final AtomicLong open = new AtomicLong();
    private final AtomicLong checksumLookups = new AtomicLong();
    private final AtomicLong delete = new AtomicLong();
    private final AtomicLong staleLocalCopiesDropped = new AtomicLong();
    private final AtomicLong storageFailures = new AtomicLong();

    /** Counts a call the storage did not answer (see {@link #storageFailures()}). */
    private StorageUnreadableException unreadable(String operation, Path path, IOException cause) {
        storageFailures.incrementAndGet();
        return new StorageUnreadableException(operation, path, cause);
    }

    /**
     * Calls that failed because the storage could not be read (each after its file system's own
     * retries): what tells a store that stopped answering from a checkpoint with a problem.
     */
    public long storageFailures() {
        return storageFailures.get();
    }

    /** The entries of a directory, or null when it does not exist. */
    public FileStatus[] listStatus(Path dir) throws IOException {
        return listStatus(dir, true);
    }

    /** Counts a listing that {@link #listStatus(Path, boolean)} then sends uncounted (on another thread). */
    void countListStatus() {
        listStatus.incrementAndGet();
    }

    FileStatus[] listStatus(Path dir, boolean count) throws IOException {
        if (count) {
            listStatus.incrementAndGet();
        }
        FileSystem fs = fileSystem(dir);
        try {
            return fs.listStatus(dir);
        } catch (FileNotFoundException | NoSuchFileException e) {
            return existingLocalDirectory(fs, dir) ? listLocalEntryByEntry(fs, dir) : null;
        } catch (IOException e) {
            throw unreadable("list", dir, e);
        }
    }

    /**
     * Flink's local file system fails the whole listing with "not found" when one entry is a
     * dangling symbolic link; the directory is there all the same, and so are its other files.
     */
    private static boolean existingLocalDirectory(FileSystem fs, Path dir) {
        return "file".equals(fs.getUri().getScheme()) && new java.io.File(dir.toUri().getPath()).isDirectory();
    }

    /** The directory's entries whose status can be read; a dangling link is a missing file. */
    private FileStatus[] listLocalEntryByEntry(FileSystem fs, Path dir) throws StorageUnreadableException {
        String[] names = new java.io.File(dir.toUri().getPath()).list();
        if (names == null) {
            throw unreadable("list", dir, new IOException("the directory cannot be listed"));
        }
        java.util.List<FileStatus> statuses = new java.util.ArrayList<>(names.length);
        for (String name : names) {
            try {
                statuses.add(fs.getFileStatus(new Path(dir, name)));
            } catch (FileNotFoundException | NoSuchFileException dangling) {
                // not a file a restore could read
            } catch (IOException e) {
                throw unreadable("list", dir, e);
            }
        }
        return statuses.toArray(new FileStatus[0]);
    }

    /** The status of a path, or null when it does not exist. */
    public FileStatus getFileStatus(Path path) throws IOException {
        getFileStatus.incrementAndGet();
        FileSystem fs = fileSystem(path);
        try {
            return fs.getFileStatus(path);
        } catch (FileNotFoundException | NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw unreadable("get the status of", path, e);
        }
    }

    /**
     * The first byte of a file as the storage durably holds it: on {@code s3tiered://} from S3 (one
     * HEAD and a GET of one byte), never from a local-tier copy, which this host may hold intact
     * while S3 does not; on any other file system through {@code open}. -1 when the file is empty,
     * null when it does not exist.
     */
    public Integer firstByte(Path file) throws IOException {
        byte[] first = firstBytes(file, 1);
        return first == null ? null : first.length == 0 ? -1 : first[0] & 0xFF;
    }

    /**
     * Up to the first {@code n} bytes of a file as the storage durably holds it (fewer when the file
     * is shorter), read as {@link #firstByte} reads; null when it does not exist.
     */
    public byte[] firstBytes(Path file, int n) throws IOException {
        open.incrementAndGet();
        FileSystem fs = fileSystem(file);
        try {
            Optional<S3TieredBridge> tiered = durableReader(file);
            if (tiered.isPresent()) {
                FirstBytesSink first = new FirstBytesSink(n);
                if (tiered.get().readDurable(file, first, n).staleLocalCopyDropped()) {
                    staleLocalCopiesDropped.incrementAndGet();
                }
                return first.bytes();
            }
            try (FSDataInputStream in = fs.open(file)) {
                return in.readNBytes(n);
            }
        } catch (FileNotFoundException | NoSuchFileException e) {
            return null;
        } catch (StorageUnreadableException e) {
            throw e;
        } catch (IOException e) {
            throw unreadable("read", file, e);
        }
    }

    /**
     * The tiered file system's bridge for a read of what S3 holds, or empty for another file system
     * (read through {@code open}). Without the bridge, {@code open()} of an {@code s3tiered://} path
     * would serve this host's local-tier copy, which S3 may no longer hold: unreadable then.
     */
    private Optional<S3TieredBridge> durableReader(Path file) throws IOException {
        Optional<S3TieredBridge> tiered = S3TieredBridge.forReads(file);
        if (tiered.isEmpty() && S3TieredBridge.isTieredPath(file)) {
            throw unreadable("read", file, new IOException("the s3tiered file system is not"
                    + " reachable through its bridge (a plugin jar older than this one, or a wrapper around it that"
                    + " hides it), so what S3 holds cannot be read apart from the local tier's copy"));
        }
        return tiered;
    }

    /** Keeps the first bytes written (a plugin jar of 0.2.0 writes the whole object whatever the limit). */
    private static final class FirstBytesSink extends OutputStream {
        private final byte[] kept;
        private int count;

        FirstBytesSink(int n) {
            kept = new byte[n];
        }

        @Override
        public void write(int b) {
            if (count < kept.length) {
                kept[count++] = (byte) b;
            }
        }

        @Override
        public void write(byte[] b, int off, int len) {
            int take = Math.min(len, kept.length - count);
            System.arraycopy(b, off, kept, count, take);
            count += take;
        }

        byte[] bytes() {
            return java.util.Arrays.copyOf(kept, count);
        }
    }

    /**
     * Copies a file as the storage durably holds it into {@code sink}: on {@code s3tiered://} from
     * S3, never from a local-tier copy (which this host may hold intact while S3 does not); on any
     * other file system through {@code open}. The CRC32C of the bytes is computed here; the
     * recorded one comes from the tiered file system, or from {@code checksums} when the caller
     * supplies its own.
     *
     * @throws FileNotFoundException when the file does not exist
     * @throws StorageUnreadableException when the storage could not be read (or {@code sink} could not be written)
     */
    public DurableRead readDurable(Path file, OutputStream sink, ChecksumSource checksums) throws IOException {
        open.incrementAndGet();
        fileSystem(file);
        try {
            Optional<S3TieredBridge> tiered = durableReader(file);
            if (tiered.isPresent()) {
                checksumLookups.incrementAndGet(); // the HEAD that finds the recorded CRC32C
                S3TieredBridge.DurableRead r = tiered.get().readDurable(file, sink);
                if (r.staleLocalCopyDropped()) {
                    staleLocalCopiesDropped.incrementAndGet();
                }
                OptionalLong recorded = checksums instanceof FileSystemChecksums ? r.recordedCrc32c() : checksums.recordedCrc32c(file);
                return new DurableRead(r.length(), r.crc32c(), recorded, true);
            }
            CRC32C crc = new CRC32C();
            long length = 0;
            byte[] buffer = new byte[READ_BUFFER];
            try (FSDataInputStream in = file.getFileSystem().open(file)) {
                int n;
                while ((n = in.read(buffer)) != -1) {
                    crc.update(buffer, 0, n);
                    sink.write(buffer, 0, n);
                    length += n;
                }
            }
            OptionalLong recorded = checksums.recordsChecksums(file) ? checksums.recordedCrc32c(file) : OptionalLong.empty();
            return new DurableRead(length, (int) crc.getValue(), recorded, !(checksums instanceof FileSystemChecksums));
        } catch (FileNotFoundException | NoSuchFileException e) {
            FileNotFoundException missing = new FileNotFoundException(e.getMessage() == null ? "No such file: " + file : e.getMessage());
            missing.initCause(e);
            throw missing;
        } catch (StorageUnreadableException e) {
            throw e;
        } catch (IOException e) {
            throw unreadable("read", file, e);
        }
    }

    /**
     * What a durable read found.
     *
     * @param recordedCrc32c the CRC32C recorded when the file was written, if any
     * @param checksumsRecordable whether the file system records checksums at all
     */
    public record DurableRead(long length, int crc32c, OptionalLong recordedCrc32c, boolean checksumsRecordable) {

        public boolean checksumMatches() {
            return recordedCrc32c.isEmpty() || recordedCrc32c.getAsLong() == Integer.toUnsignedLong(crc32c);
        }
    }

    /** On the tiered file system, lets it compare its local copy with S3 (one HEAD) and drop it if stale. */
    public void dropStaleLocalCopy(Path file) {
        try {
            Optional<S3TieredBridge> tiered = S3TieredBridge.forReads(file);
            if (tiered.isPresent()) {
                checksumLookups.incrementAndGet();
                tiered.get().recordedChecksum(file);
            }
        } catch (IOException e) {
            // gone or unreadable: there is nothing to compare the copy with; it is not used to judge
        }
    }

    public boolean delete(Path path, boolean recursive) throws IOException {
        delete.incrementAndGet();
        FileSystem fs = path.getFileSystem();
        return fs.delete(path, recursive);
    }

    /**
     * The path's file system. A scheme no file system serves, or a file system that cannot be set
     * up, is a configuration error (thrown as is), not a storage that did not answer.
     */
    private static FileSystem fileSystem(Path path) throws IOException {
        return path.getFileSystem();
    }

    public RequestCount snapshot() {
        return new RequestCount(listStatus.get(), getFileStatus.get(), open.get(), checksumLookups.get(), delete.get());
    }

    /** Local-tier copies the tiered file system dropped because S3 holds other content. */
    public long staleLocalCopiesDropped() {
        return staleLocalCopiesDropped.get();
    }
}
