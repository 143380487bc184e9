package io.github.s3tiered.s3;

import java.io.InputStream;

/** The body of a GET. {@link #abort()} drops the connection instead of draining the rest. */
public abstract class ObjectStream extends InputStream {

    /**
     * Drops the connection. Safe from another thread while a read is blocked: the read then fails
     * (how Flink's cancellation gets a stalled read to return).
     */
    public abstract void abort();

    /**
     * What the response said of the whole object: its size (from {@code Content-Range} for a
     * range), last modification and recorded CRC32C; null when the response did not say (the
     * caller then asks with a HEAD).
     */
    public ObjectInfo objectInfo() {
        return null;
    }

    /**
     * Whether the server sent the whole object for the range asked for (it ignored {@code Range}):
     * the stream still passes on only the range, and a caller about to ask for the object's other
     * ranges one by one had better ask for it whole.
     */
    public boolean wholeObjectSent() {
        return false;
    }
}
