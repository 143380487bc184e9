package io.github.s3tiered.tier;

import java.util.concurrent.atomic.LongAdder;

/** Counters of the local tier in this process. */
public final class TierStatistics {
    public final LongAdder hits = new LongAdder();
    public final LongAdder misses = new LongAdder();
    public final LongAdder corruptionsDetected = new LongAdder();
    /** Copies read in full to check their CRC32C (first use in this process, or changed since). */
    public final LongAdder fullChecks = new LongAdder();
    public final LongAdder evictions = new LongAdder();
    public final LongAdder bytesCommitted = new LongAdder();
    /** Copies dropped because S3 holds other content for their object (see {@link LocalTier#dropIfStale}). */
    public final LongAdder staleCopiesDropped = new LongAdder();
    /**
     * Copies read from S3 and not kept: the object was written, deleted or rewritten on this host
     * while it was read (see {@link LocalTier#commitRead}).
     */
    public final LongAdder staleReadsNotKept = new LongAdder();
}
