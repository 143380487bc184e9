package io.github.s3tiered.checkpoint;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;

import java.io.IOException;

/**
 * A {@code _metadata} stream whose bytes go through to another stream; the subclass decides how it
 * is finalized and closed.
 */
abstract class ForwardingMetadataOutputStream extends CheckpointMetadataOutputStream {

    private final FSDataOutputStream out;

    ForwardingMetadataOutputStream(FSDataOutputStream out) {
        this.out = out;
    }

    /** The stream the bytes go to. */
    final FSDataOutputStream out() {
        return out;
    }

    @Override
    public void write(int b) throws IOException {
        out.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
    }

    @Override
    public long getPos() throws IOException {
        return out.getPos();
    }

    @Override
    public void flush() throws IOException {
        out.flush();
    }

    @Override
    public void sync() throws IOException {
        out.sync();
    }
}
