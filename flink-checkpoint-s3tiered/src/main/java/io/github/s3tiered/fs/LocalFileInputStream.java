package io.github.s3tiered.fs;

import org.apache.flink.core.fs.FSDataInputStream;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.atomic.LongAdder;

/** A seekable stream over a local-tier copy; counts the bytes it serves. */
final class LocalFileInputStream extends FSDataInputStream {

    private final FileChannel channel;
    private final LongAdder servedBytes;
    private long pos;

    LocalFileInputStream(FileChannel channel, LongAdder servedBytes) {
        this.channel = channel;
        this.servedBytes = servedBytes;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        int n = channel.read(ByteBuffer.wrap(b, off, len), pos);
        if (n > 0) {
            pos += n;
            servedBytes.add(n);
        }
        return n;
    }

    @Override
    public void seek(long desired) throws IOException {
        if (desired < 0) {
            throw new IOException("Cannot seek to negative position " + desired);
        }
        pos = desired;
    }

    @Override
    public long getPos() {
        return pos;
    }

    @Override
    public long skip(long n) throws IOException {
        long target = Math.max(pos, Math.min(channel.size(), pos + n));
        long skipped = target - pos;
        pos = target;
        return skipped;
    }

    @Override
    public int available() throws IOException {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, channel.size() - pos));
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
