package io.github.s3tiered.bench;

import org.apache.flink.api.connector.sink2.SinkWriter;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;

/**
 * What each key of {@link StateHeavyJob} held at its last visit, collected in this JVM (the
 * benchmark's MiniCluster runs here), and the check against what an exact state holds. A replay
 * after a restore reports a key again; the last report counts, as the last state does.
 */
final class FinalStates {

    private static final Map<Long, long[]> REPORTED = new ConcurrentHashMap<>();

    private FinalStates() {}

    static void clear() {
        REPORTED.clear();
    }

    /** Order-free digest of one payload: ListState order depends on which source subtask came first. */
    static long digest(byte[] payload) {
        CRC32 crc = new CRC32();
        crc.update(payload);
        return crc.getValue();
    }

    /** "exact", or what is wrong: keys missing, or the first key whose count or payloads differ. */
    static String check(long keys, int visits, int payloadBytes) {
        long missing = 0;
        String firstWrong = null;
        long wrong = 0;
        for (long key = 0; key < keys; key++) {
            long[] r = REPORTED.get(key);
            if (r == null) {
                missing++;
                continue;
            }
            long digest = 0;
            for (int v = 0; v < visits; v++) {
                digest += digest(StateHeavyJob.payload(key + v * keys, payloadBytes));
            }
            if (r[1] != visits || r[2] != digest) {
                wrong++;
                if (firstWrong == null) {
                    firstWrong = "key " + key + " holds " + r[1] + " payloads (expected " + visits + ")"
                            + (r[2] != digest ? " with other bytes" : "");
                }
            }
        }
        if (missing == 0 && wrong == 0) {
            return "exact";
        }
        return "NOT exact: " + missing + " keys missing, " + wrong + " wrong" + (firstWrong == null ? "" : "; " + firstWrong);
    }

    /** What the sink's writer does with a report ({@link CollectSink}: its API differs between Flink lines). */
    static SinkWriter<long[]> writer() {
        return new SinkWriter<>() {
            @Override
            public void write(long[] report, Context context) {
                REPORTED.put(report[0], report);
            }

            @Override
            public void flush(boolean endOfInput) {}

            @Override
            public void close() {}
        };
    }
}
