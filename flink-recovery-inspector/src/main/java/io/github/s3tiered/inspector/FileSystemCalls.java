package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The only way the inspector touches a file system, so that every call is counted: the count is
 * the cost of an inspection on S3, which the storage's guard must keep small.
 */
final class FileSystemCalls {

    private final AtomicLong listStatus = new AtomicLong();
    private final AtomicLong getFileStatus = new AtomicLong();
    private final AtomicLong open = new AtomicLong();
    private final AtomicLong checksumLookups = new AtomicLong();
    private final AtomicLong delete = new AtomicLong();

    /** The entries of a directory, or null when it does not exist. */
    FileStatus[] listStatus(Path dir) throws IOException {
        listStatus.incrementAndGet();
        try {
            return dir.getFileSystem().listStatus(dir);
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    /** The status of a path, or null when it does not exist. */
    FileStatus getFileStatus(Path path) throws IOException {
        getFileStatus.incrementAndGet();
        try {
            return path.getFileSystem().getFileStatus(path);
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    FSDataInputStream open(Path file) throws IOException {
        open.incrementAndGet();
        return file.getFileSystem().open(file);
    }

    boolean delete(Path path, boolean recursive) throws IOException {
        delete.incrementAndGet();
        FileSystem fs = path.getFileSystem();
        return fs.delete(path, recursive);
    }

    void countChecksumLookup() {
        checksumLookups.incrementAndGet();
    }

    RequestCount snapshot() {
        return new RequestCount(listStatus.get(), getFileStatus.get(), open.get(), checksumLookups.get(), delete.get());
    }
}
