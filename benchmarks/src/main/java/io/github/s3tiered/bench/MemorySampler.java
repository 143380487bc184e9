package io.github.s3tiered.bench;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;

/**
 * Samples the JVM's live heap (each heap pool's usage after its last collection, summed) and its
 * direct buffers every 100 ms, keeping the peaks: what a run held, garbage left out.
 */
final class MemorySampler implements AutoCloseable {

    private final Thread thread;
    private volatile boolean stop;
    private volatile long peakHeap;
    private volatile long peakDirect;

    MemorySampler() {
        thread = new Thread(this::sample, "memory-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void sample() {
        while (!stop) {
            long heap = 0;
            for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
                MemoryUsage afterGc = pool.getType() == MemoryType.HEAP ? pool.getCollectionUsage() : null;
                if (afterGc != null) {
                    heap += afterGc.getUsed();
                }
            }
            long direct = 0;
            for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
                if (pool.getName().equals("direct")) {
                    direct += pool.getMemoryUsed();
                }
            }
            peakHeap = Math.max(peakHeap, heap);
            peakDirect = Math.max(peakDirect, direct);
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    long peakHeapBytes() {
        return peakHeap;
    }

    long peakDirectBytes() {
        return peakDirect;
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        thread.join();
    }
}
