package io.github.s3tiered.backend;

import io.github.s3tiered.bridge.BridgeContract;

import org.apache.flink.runtime.metrics.MetricNames;
import org.apache.flink.runtime.state.StateBackend.CustomInitializationMetrics;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The restore durations RocksDB reports for each keyed operator subtask ({@code
 * downloadStateDurationMs}, {@code restoreStateDurationMs}): logged in one line per subtask and
 * kept for the demo and benchmarks running in the same JVM.
 */
public final class RestoreTimings {

    private static final Logger LOG = LoggerFactory.getLogger(RestoreTimings.class);
    private static final int KEEP = 1000;
    private static final List<Restore> RECENT = new CopyOnWriteArrayList<>();

    /** One subtask's restore: the metrics RocksDB reported, in milliseconds. */
    public record Restore(String operator, int subtask, int attempt, long atMillis, Map<String, Long> metrics) {
        public long downloadMs() {
            return metrics.getOrDefault(MetricNames.DOWNLOAD_STATE_DURATION, 0L);
        }

        public long restoreMs() {
            return metrics.getOrDefault(MetricNames.RESTORE_STATE_DURATION, 0L);
        }
    }

    /*
     * The file system's figures of restored bytes. 2.x's batch copy counts restores on their own;
     * on 1.20 RocksDB streams each file through open(), so there the figures are all the file
     * system's reads, which on a TaskManager are restores (the JobManager reads _metadata).
     */
    private static final String RESTORED_FROM_LOCAL_TIER = EmbeddedRocksDB.RESTORES_THROUGH_BATCH_COPY
            ? BridgeContract.RESTORE_BYTES_FROM_LOCAL_TIER : BridgeContract.BYTES_SERVED_FROM_LOCAL_TIER;
    private static final String RESTORED_FROM_S3 = EmbeddedRocksDB.RESTORES_THROUGH_BATCH_COPY
            ? BridgeContract.RESTORE_BYTES_FROM_S3 : BridgeContract.BYTES_DOWNLOADED;

    private RestoreTimings() {}

    /** Restores recorded in this JVM since {@code sinceMillis}. */
    public static List<Restore> since(long sinceMillis) {
        List<Restore> out = new ArrayList<>();
        for (Restore r : RECENT) {
            if (r.atMillis() >= sinceMillis) {
                out.add(r);
            }
        }
        return out;
    }

    static Capture capture(CustomInitializationMetrics delegate) {
        return new Capture(delegate);
    }

    /** Forwards the metrics to Flink and keeps a copy. */
    static final class Capture implements CustomInitializationMetrics {
        private final CustomInitializationMetrics delegate;
        private final Map<String, Long> values = new ConcurrentHashMap<>();

        private Capture(CustomInitializationMetrics delegate) {
            this.delegate = delegate;
        }

        @Override
        public void addMetric(String name, long value) {
            values.merge(name, value, Long::sum);
            delegate.addMetric(name, value);
        }

        void report(String operator, int subtask, int attempt, Map<String, Long> transfer) {
            if (values.isEmpty()) {
                return; // nothing was restored
            }
            Restore r = new Restore(operator, subtask, attempt, System.currentTimeMillis(), Map.copyOf(values));
            RECENT.add(r);
            while (RECENT.size() > KEEP) {
                RECENT.remove(0);
            }
            LOG.info("Restored keyed state of {} (subtask {}, attempt {}): download {} ms, restore {} ms; "
                            + "this TaskManager so far restored {} bytes from the local tier and {} bytes from S3",
                    operator, subtask, attempt, r.downloadMs(), r.restoreMs(),
                    transfer.getOrDefault(RESTORED_FROM_LOCAL_TIER, 0L), transfer.getOrDefault(RESTORED_FROM_S3, 0L));
        }
    }
}
