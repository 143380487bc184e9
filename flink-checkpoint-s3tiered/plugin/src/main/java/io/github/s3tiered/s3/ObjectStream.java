package io.github.s3tiered.s3;

import java.io.InputStream;

/** The body of a GET. {@link #abort()} drops the connection instead of draining the rest. */
public abstract class ObjectStream extends InputStream {

    /**
     * Drops the connection. Safe from another thread while a read is blocked: the read then fails
     * (how Flink's cancellation gets a stalled read to return).
     */
    public abstract void abort();
}
