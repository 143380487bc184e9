package io.github.s3tiered.checkpoint;

import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;

/**
 * A {@code _metadata} stream that keeps a copy of the bytes it passes on (a few KiB to MiB), for
 * what the subclass does with them when the checkpoint is finalized; closing it closes (discards)
 * the stream it wraps.
 */
abstract class CopyingMetadataOutputStream extends ForwardingMetadataOutputStream {

    /** The stream the bytes go to, which the subclass finalizes. */
    final CheckpointMetadataOutputStream out;
    private final ByteArrayOutputStream copy = new ByteArrayOutputStream();

    CopyingMetadataOutputStream(CheckpointMetadataOutputStream out) {
        super(out);
        this.out = out;
    }

    @Override
    public void write(int b) throws IOException {
        super.write(b);
        copy.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        super.write(b, off, len);
        copy.write(b, off, len);
    }

    /** The bytes written so far. */
    final byte[] bytes() {
        return copy.toByteArray();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
