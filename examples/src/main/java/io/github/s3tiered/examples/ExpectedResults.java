package io.github.s3tiered.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** What a failure-free run gives for each key, and the check of a run's result files against it. */
public final class ExpectedResults {

    private ExpectedResults() {}

    /** Per key: {@code count,sum,fingerprint}. */
    public static Map<Long, String> compute(long records, int keys) {
        long[] count = new long[keys];
        long[] sum = new long[keys];
        long[] fingerprint = new long[keys];
        for (long i = 0; i < records; i++) {
            int k = (int) (i % keys);
            count[k]++;
            sum[k] += RecoveryJob.valueOf(i);
            fingerprint[k] += RecoveryJob.fingerprintOf(i);
        }
        Map<Long, String> m = new HashMap<>();
        for (int k = 0; k < keys; k++) {
            if (count[k] > 0) {
                m.put((long) k, count[k] + "," + sum[k] + "," + fingerprint[k]);
            }
        }
        return m;
    }

    /** The outcome of a check: exact when nothing is missing, wrong or unexpected. */
    public record Verification(int keysExpected, int keysMatched, List<String> problems) {
        public boolean exact() {
            return problems.isEmpty() && keysMatched == keysExpected;
        }

        @Override
        public String toString() {
            return exact()
                    ? "exact: all " + keysExpected + " keys match a failure-free run"
                    : "NOT exact: " + keysMatched + " of " + keysExpected + " keys match; " + problems.size()
                            + " problems, first: " + problems.subList(0, Math.min(5, problems.size()));
        }
    }

    public static Verification verify(Path outputDir, long records, int keys) throws IOException {
        Map<Long, String> expected = compute(records, keys);
        Map<Long, String> actual = new HashMap<>();
        List<String> problems = new ArrayList<>();
        try (Stream<Path> files = Files.list(outputDir)) {
            for (Path f : files.filter(p -> p.getFileName().toString().startsWith("results-")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    int comma = line.indexOf(',');
                    long key = Long.parseLong(line.substring(0, comma));
                    String value = line.substring(comma + 1);
                    String previous = actual.put(key, value);
                    if (previous != null && !previous.equals(value)) {
                        problems.add("key " + key + " emitted twice with different state: " + previous + " / " + value);
                    }
                }
            }
        }
        int matched = 0;
        for (Map.Entry<Long, String> e : expected.entrySet()) {
            String got = actual.get(e.getKey());
            if (got == null) {
                problems.add("key " + e.getKey() + " missing");
            } else if (!got.equals(e.getValue())) {
                problems.add("key " + e.getKey() + ": expected count,sum,fingerprint " + e.getValue() + " but got " + got);
            } else {
                matched++;
            }
        }
        for (Long k : actual.keySet()) {
            if (!expected.containsKey(k)) {
                problems.add("unexpected key " + k);
            }
        }
        return new Verification(expected.size(), matched, problems);
    }
}
