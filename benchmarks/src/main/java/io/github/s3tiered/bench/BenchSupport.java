package io.github.s3tiered.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;

/** Argument parsing and clean-up shared by the benchmark programs. */
final class BenchSupport {

    private BenchSupport() {}

    /** The value after {@code name}, or {@code def}. */
    static String arg(String[] args, String name, String def) {
        int i = Arrays.asList(args).indexOf(name);
        return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
    }

    static long longArg(String[] args, String name, long def) {
        return Long.parseLong(arg(args, name, Long.toString(def)));
    }

    /** Best effort: benchmarks work in temporary directories. */
    static void deleteRecursively(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (Exception ignored) {
            // a temporary directory left behind
        }
    }
}
