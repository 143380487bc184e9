package io.github.s3tiered.inspector.cli;

import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;

/** Options every subcommand takes (a picocli mixin). */
public final class CommonOptions {

    @Option(names = Launcher.FLINK_HOME_OPTION, paramLabel = "DIR",
            description = "The Flink installation whose lib/ (classes), plugins/ and conf/ the inspector uses"
                    + " (default: $FLINK_HOME; its plugins/ and conf/ then only where $FLINK_PLUGINS_DIR and $FLINK_CONF_DIR"
                    + " are not set).")
    String flinkHome;

    @Option(names = "--flink-conf-dir", paramLabel = "DIR",
            description = "Flink configuration directory holding config.yaml (or flink-conf.yaml on Flink 1.20)"
                    + " (default: the conf/ of --flink-home, else $FLINK_CONF_DIR, else the conf/ of $FLINK_HOME).")
    String flinkConfDir;

    @Option(names = "-D", paramLabel = "key=value", mapFallbackValue = "",
            description = "A Flink configuration entry, over the configuration file (repeatable), e.g. -D s3tiered.endpoint=http://...")
    Map<String, String> properties = new LinkedHashMap<>();

    @Option(names = "--job-classpath", split = ":", paramLabel = "JAR",
            description = "The job's jar(s) or class directories (':'-separated, repeatable): deep validation then decodes state"
                    + " of the job's own types, and a class it cannot find counts as damage. Without it, such state is not"
                    + " decoded, and a deep validation is UNKNOWN unless checksums recorded at upload prove its files.")
    java.util.List<String> jobClasspath = new java.util.ArrayList<>();

    @Option(names = "--json", description = "Print JSON (schema in the module's README) instead of a table.")
    boolean json;

    @Option(names = {"-v", "--verbose"}, description = "Print stack traces of errors and INFO logs.")
    boolean verbose;

    @Option(names = {"-q", "--quiet"}, description = "No progress messages on stderr.")
    boolean quiet;
}
