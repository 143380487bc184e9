package io.github.s3tiered.tier;

import java.util.concurrent.atomic.LongAdder;

/** Counters of the local tier in this process. */
public final class TierStatistics {
    public final LongAdder hits = new LongAdder();
    public final LongAdder misses = new LongAdder();
    public final LongAdder corruptionsDetected = new LongAdder();
    public final LongAdder evictions = new LongAdder();
    public final LongAdder bytesCommitted = new LongAdder();
}
