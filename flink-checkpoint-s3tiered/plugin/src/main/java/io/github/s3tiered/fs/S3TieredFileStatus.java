package io.github.s3tiered.fs;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;

/** A file (object) or a directory (key prefix) of the S3 tier. */
record S3TieredFileStatus(Path path, long len, long modificationTime, boolean dir) implements FileStatus {

    static final long BLOCK_SIZE = 64L * 1024 * 1024;

    static S3TieredFileStatus file(Path path, long len, long modificationTime) {
        return new S3TieredFileStatus(path, len, modificationTime, false);
    }

    static S3TieredFileStatus directory(Path path) {
        return new S3TieredFileStatus(path, 0, 0, true);
    }

    @Override
    public long getLen() {
        return len;
    }

    @Override
    public long getBlockSize() {
        return BLOCK_SIZE;
    }

    @Override
    public short getReplication() {
        return 1;
    }

    @Override
    public long getModificationTime() {
        return modificationTime;
    }

    @Override
    public long getAccessTime() {
        return 0;
    }

    @Override
    public boolean isDir() {
        return dir;
    }

    @Override
    public Path getPath() {
        return path;
    }
}
