package io.github.s3tiered.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.InMemoryObjectStore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * The window over the file system's read streams: short reads come from it (few reads of the file),
 * whatever the mix of short, long, single-byte reads, seeks and skips it returns the file's bytes at
 * the right positions, and a read of an S3 object in small steps still checks its CRC32C and keeps
 * its local copy.
 */
class WindowedInputStreamTest extends FakeS3FileSystemTest {

    private static final int SIZE = 3 * WindowedInputStream.WINDOW_SIZE + 1234;

    @TempDir
    Path dir;

    private WindowedInputStream windowed(CountingChannel channel, LongAdder served) throws IOException {
        return new WindowedInputStream(new LocalFileInputStream(channel, channel.size(), served, "s3://b/k"), channel.size(),
                "the local copy of s3://b/k");
    }

    @Test
    void shortReadsOfAWholeFileReadItInWindowSizedBlocks() throws IOException {
        byte[] content = write(SIZE);
        CountingChannel channel = open();
        LongAdder served = new LongAdder();
        byte[] read = new byte[SIZE];
        try (WindowedInputStream in = windowed(channel, served);
                DataInputStream data = new DataInputStream(in)) {
            for (int i = 0; i + 4 <= SIZE; i += 4) { // as a DataInputView reads an int
                int v = data.readInt();
                read[i] = (byte) (v >>> 24);
                read[i + 1] = (byte) (v >>> 16);
                read[i + 2] = (byte) (v >>> 8);
                read[i + 3] = (byte) v;
            }
            for (int i = SIZE - SIZE % 4; i < SIZE; i++) {
                read[i] = (byte) in.read();
            }
            assertThat(in.read()).isEqualTo(-1);
            assertThat(in.read(new byte[10], 0, 10)).isEqualTo(-1);
        }
        assertThat(read).isEqualTo(content);
        assertThat(served.sum()).isEqualTo(SIZE);
        // one read per window and one at the end of the file; a read per call would be SIZE / 4
        assertThat(channel.reads.get()).isLessThanOrEqualTo(SIZE / WindowedInputStream.WINDOW_SIZE + 3);
    }

    @Test
    void longReadsGoStraightToTheFileWithoutAWindow() throws IOException {
        byte[] content = write(SIZE);
        CountingChannel channel = open();
        try (WindowedInputStream in = windowed(channel, new LongAdder())) {
            byte[] block = new byte[2 * WindowedInputStream.WINDOW_SIZE];
            int n = in.read(block, 0, block.length);
            assertThat(n).isPositive();
            assertThat(Arrays.copyOf(block, n)).isEqualTo(Arrays.copyOf(content, n));
            assertThat(channel.bytesRead.get()).isEqualTo(n); // nothing read ahead
            assertThat(in.getPos()).isEqualTo(n);
        }
    }

    @Test
    void randomMixesOfReadsSeeksAndSkipsReturnTheFilesBytes() throws IOException {
        byte[] content = write(SIZE);
        Random random = new Random(42);
        for (int round = 0; round < 20; round++) {
            try (WindowedInputStream in = windowed(open(), new LongAdder())) {
                long expectedPos = 0;
                for (int step = 0; step < 300; step++) {
                    int op = random.nextInt(10);
                    if (op == 0) {
                        expectedPos = random.nextInt(SIZE + 10); // also beyond the end
                        in.seek(expectedPos);
                    } else if (op == 1) {
                        // a seek back or forward within a few bytes: inside the window
                        expectedPos = Math.max(0, Math.min(SIZE, expectedPos + random.nextInt(200) - 100));
                        in.seek(expectedPos);
                    } else if (op == 2) {
                        long want = random.nextInt(5000);
                        long skipped = in.skip(want);
                        assertThat(skipped).isEqualTo(Math.max(0, Math.min(SIZE, expectedPos + want) - expectedPos));
                        expectedPos += skipped;
                    } else if (op == 3) {
                        int b = in.read();
                        assertThat(b).isEqualTo(expectedPos < SIZE ? content[(int) expectedPos] & 0xff : -1);
                        expectedPos += b < 0 ? 0 : 1;
                    } else {
                        int len = op == 4 ? WindowedInputStream.WINDOW_SIZE + random.nextInt(1000) : random.nextInt(3000);
                        byte[] into = new byte[len + 7];
                        int n = in.read(into, 7, len);
                        if (expectedPos >= SIZE) {
                            assertThat(n).isEqualTo(len == 0 ? 0 : -1);
                        } else {
                            assertThat(n).isBetween(Math.min(len, 1), len);
                            assertThat(Arrays.copyOfRange(into, 7, 7 + n))
                                    .isEqualTo(Arrays.copyOfRange(content, (int) expectedPos, (int) expectedPos + n));
                            expectedPos += n;
                        }
                    }
                    assertThat(in.getPos()).isEqualTo(expectedPos);
                    assertThat(in.available()).isEqualTo((int) Math.max(0, SIZE - expectedPos));
                }
            }
        }
    }

    @Test
    void aClosedStreamFailsEvenWhereItsWindowHoldsTheBytes() throws IOException {
        write(SIZE);
        WindowedInputStream in = windowed(open(), new LongAdder());
        assertThat(in.read()).isNotNegative();
        in.close();
        assertThatThrownBy(in::read).isInstanceOf(IOException.class).hasMessageContaining("s3://b/k").hasMessageContaining("closed");
        assertThatThrownBy(() -> in.read(new byte[4], 0, 4)).isInstanceOf(IOException.class).hasMessageContaining("closed");
        in.close(); // idempotent
    }

    /**
     * A local copy cut while a stream reads it (by hand, by a disk repair): the stream fails at the
     * cut instead of ending there, where a caller that copies until the end (Flink 1.20's RocksDB
     * download) would take the short file for the whole one.
     */
    @Test
    void aLocalCopyTruncatedWhileReadFailsInsteadOfEndingEarly() throws IOException {
        byte[] content = FakeS3FileSystems.bytes(SIZE, 5);
        try (org.apache.flink.core.fs.FSDataOutputStream out = fs.create(FakeS3FileSystems.path("job/chk-2/state"),
                org.apache.flink.core.fs.FileSystem.WriteMode.NO_OVERWRITE)) {
            out.write(content);
        }
        Path copy = fs.localTier().getVerified(FakeS3FileSystems.BUCKET, "job/chk-2/state").orElseThrow().data();
        try (org.apache.flink.core.fs.FSDataInputStream in = fs.open(FakeS3FileSystems.path("job/chk-2/state"))) {
            assertThat(in.read()).isEqualTo(content[0] & 0xff);
            try (FileChannel cut = FileChannel.open(copy, StandardOpenOption.WRITE)) {
                cut.truncate(2L * WindowedInputStream.WINDOW_SIZE);
            }
            assertThatThrownBy(in::readAllBytes).isInstanceOf(java.io.EOFException.class)
                    .hasMessageContaining("job/chk-2/state").hasMessageContaining("truncated");
        }
    }

    @Test
    void anS3ObjectReadInSmallStepsIsCheckedAndItsLocalCopyKept() throws IOException {
        byte[] content = FakeS3FileSystems.bytes(SIZE, 3);
        store.putRaw(FakeS3FileSystems.BUCKET, "job/chk-1/state", content, InMemoryObjectStore.crc32c(content));

        assertThat(readInts(fs.open(FakeS3FileSystems.path("job/chk-1/state")))).isEqualTo(content);
        assertThat(store.calls("GetObject")).hasSize(1);

        long servedBefore = stats.bytesServedFromLocalTier.sum();
        assertThat(readInts(fs.open(FakeS3FileSystems.path("job/chk-1/state")))).isEqualTo(content);
        assertThat(store.calls("GetObject")).hasSize(1); // the second read came from the copy
        assertThat(stats.bytesServedFromLocalTier.sum() - servedBefore).isEqualTo(SIZE);
    }

    @Test
    void anS3ObjectWhoseBytesDoNotMatchItsChecksumFailsASmallStepReadAndIsNotKept() throws IOException {
        streamingReads();
        byte[] content = FakeS3FileSystems.bytes(SIZE, 4);
        int recorded = InMemoryObjectStore.crc32c(content);
        content[SIZE / 2] ^= 1; // damaged in S3 after its upload
        store.putRaw(FakeS3FileSystems.BUCKET, "job/chk-1/state", content, recorded);

        assertThatThrownBy(() -> readInts(fs.open(FakeS3FileSystems.path("job/chk-1/state"))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("CRC32C mismatch reading s3://" + FakeS3FileSystems.BUCKET + "/job/chk-1/state");
        assertThatThrownBy(() -> readInts(fs.open(FakeS3FileSystems.path("job/chk-1/state"))))
                .isInstanceOf(IOException.class).hasMessageContaining("CRC32C mismatch");
        assertThat(store.calls("GetObject")).hasSize(2); // no copy was kept of the damaged bytes

        // a caller that goes on after the failure gets it again, never the damaged bytes
        org.apache.flink.core.fs.FSDataInputStream in = fs.open(FakeS3FileSystems.path("job/chk-1/state"));
        DataInputStream data = new DataInputStream(in);
        assertThatThrownBy(() -> {
            while (true) {
                data.readInt();
            }
        }).hasMessageContaining("CRC32C mismatch");
        assertThatThrownBy(in::read).hasMessageContaining("CRC32C mismatch");
        assertThatThrownBy(() -> in.read(new byte[100], 0, 100)).hasMessageContaining("CRC32C mismatch");
        in.seek(0);
        assertThatThrownBy(() -> in.read(new byte[100], 0, 100)).hasMessageContaining("CRC32C mismatch");
        in.close();
    }

    @Test
    void aReadOutsideTheCallersArrayFailsBeforeReadingAnything() throws IOException {
        write(SIZE);
        CountingChannel channel = open();
        try (WindowedInputStream in = windowed(channel, new LongAdder())) {
            assertThatThrownBy(() -> in.read(new byte[10], 5, 6)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> in.read(new byte[10], 0, -1)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThat(channel.reads.get()).isZero();
        }
    }

    /** Reads a whole stream as a DataInputView does: an int at a time, then the odd bytes. */
    private static byte[] readInts(org.apache.flink.core.fs.FSDataInputStream stream) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (DataInputStream data = new DataInputStream(stream)) {
            while (true) {
                int avail = stream.available();
                if (avail >= 4) {
                    int v = data.readInt();
                    out.write(v >>> 24);
                    out.write(v >>> 16);
                    out.write(v >>> 8);
                    out.write(v);
                } else {
                    int b = data.read();
                    if (b < 0) {
                        return out.toByteArray();
                    }
                    out.write(b);
                }
            }
        }
    }

    private byte[] write(int size) throws IOException {
        byte[] content = new byte[size];
        new Random(7).nextBytes(content);
        Files.write(dir.resolve("copy"), content);
        return content;
    }

    private CountingChannel open() throws IOException {
        return new CountingChannel(FileChannel.open(dir.resolve("copy"), StandardOpenOption.READ));
    }

    /** A file channel that counts its positional reads. */
    private static final class CountingChannel extends FileChannel {
        private final FileChannel delegate;
        final AtomicInteger reads = new AtomicInteger();
        final java.util.concurrent.atomic.AtomicLong bytesRead = new java.util.concurrent.atomic.AtomicLong();

        CountingChannel(FileChannel delegate) {
            this.delegate = delegate;
        }

        @Override
        public int read(ByteBuffer dst, long position) throws IOException {
            reads.incrementAndGet();
            int n = delegate.read(dst, position);
            bytesRead.addAndGet(Math.max(0, n));
            return n;
        }

        @Override
        public long size() throws IOException {
            return delegate.size();
        }

        @Override
        protected void implCloseChannel() throws IOException {
            delegate.close();
        }

        // not used by the stream
        @Override
        public int read(ByteBuffer dst) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int write(ByteBuffer src) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long position() {
            throw new UnsupportedOperationException();
        }

        @Override
        public FileChannel position(long newPosition) {
            throw new UnsupportedOperationException();
        }

        @Override
        public FileChannel truncate(long size) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void force(boolean metaData) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long transferTo(long position, long count, WritableByteChannel target) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long transferFrom(ReadableByteChannel src, long position, long count) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int write(ByteBuffer src, long position) {
            throw new UnsupportedOperationException();
        }

        @Override
        public MappedByteBuffer map(MapMode mode, long position, long size) {
            throw new UnsupportedOperationException();
        }

        @Override
        public FileLock lock(long position, long size, boolean shared) {
            throw new UnsupportedOperationException();
        }

        @Override
        public FileLock tryLock(long position, long size, boolean shared) {
            throw new UnsupportedOperationException();
        }
    }
}
