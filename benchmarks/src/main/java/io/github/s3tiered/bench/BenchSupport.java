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

    /**
     * Sends java.util.logging records (the AWS SDK v1 of the presto plugin prints its deprecation
     * banner and warnings there) to SLF4J, hence to the benchmark's log file instead of the terminal.
     */
    static void julToLogFile() {
        java.util.logging.LogManager.getLogManager().reset();
        java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
        root.setLevel(java.util.logging.Level.INFO);
        root.addHandler(new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord record) {
                org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(
                        record.getLoggerName() == null ? "jul" : record.getLoggerName());
                String message = new java.util.logging.SimpleFormatter().formatMessage(record);
                if (record.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()) {
                    log.warn(message, record.getThrown());
                } else {
                    log.info(message, record.getThrown());
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        });
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
