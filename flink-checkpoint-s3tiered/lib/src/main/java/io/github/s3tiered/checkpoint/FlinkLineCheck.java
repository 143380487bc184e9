package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.runtime.util.EnvironmentInformation;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * Refuses to run on another Flink line than the lib jar was built for. The jars of one line link
 * against APIs the other lacks: without this check a 2.3 jar on 1.20 (or on 2.2, whose checkpoint
 * meta data API differs too) fails later, deep inside a restore, with a missing class or method.
 */
public final class FlinkLineCheck {

    private static final String BUILT_FOR = load();

    private FlinkLineCheck() {}

    /** The Flink line of this build, "2.3" or "1.20". */
    public static String builtFor() {
        return BUILT_FOR;
    }

    private static String load() {
        try (InputStream in = FlinkLineCheck.class.getResourceAsStream("/s3tiered-lib.properties")) {
            if (in == null) {
                throw new IllegalStateException("s3tiered-lib.properties is missing from the lib jar");
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("flink.line");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Fails naming both versions when the running Flink is not of the line this jar was built for. */
    public static void verify() {
        check(EnvironmentInformation.getVersion(), builtFor());
    }

    static void check(String running, String line) {
        if (running == null || running.isEmpty() || running.startsWith("<")) {
            return; // not a released Flink (an IDE's class path): nothing to compare
        }
        if (!running.equals(line) && !running.startsWith(line + ".")) {
            throw new IllegalConfigurationException("The s3tiered lib jar (flink-checkpoint-s3tiered-<version>-flink"
                    + line + "-lib.jar) is built for Flink " + line + " but runs on Flink " + running
                    + ": install the plugin and lib jars built for Flink " + running.replaceAll("^(\\d+\\.\\d+).*", "$1")
                    + " (flink-checkpoint-s3tiered-<version>-flink<line>-{plugin,lib}.jar; see the README's install section)");
        }
    }
}
