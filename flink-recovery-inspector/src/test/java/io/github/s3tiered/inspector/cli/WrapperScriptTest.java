package io.github.s3tiered.inspector.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code recovery-inspector.sh}: exit code 1 means "not restorable" and nothing else, so a JVM
 * that cannot start (a Java older than 17, a bad JAVA_OPTS) or a jar that is none is an error (2),
 * never a 1 a script would take for "no state to resume".
 */
class WrapperScriptTest {

    /** At the repository's root, above this module (the 1.20 line's module, which runs these tests too, lies deeper). */
    private static final Path SCRIPT = script();

    private static Path script() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("recovery-inspector.sh"))) {
                return dir.resolve("recovery-inspector.sh");
            }
        }
        throw new IllegalStateException("no recovery-inspector.sh above " + Path.of("").toAbsolutePath());
    }

    /** The Java running this test: the one the script is to start, whatever is first on the PATH. */
    private static final String THIS_JAVA_HOME = System.getProperty("java.home");

    @TempDir
    Path dir;

    private record Run(int exit, String stderr) {}

    private Run run(Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(List.of("bash", SCRIPT.toString(), "list", "s3tiered://b/job"));
        pb.environment().remove("JAVA_OPTS");
        pb.environment().remove("JAVA_TOOL_OPTIONS");
        pb.environment().putAll(env);
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), err);
    }

    private Path jar() throws Exception {
        Path jar = dir.resolve("flink-recovery-inspector-0-flink2.3-cli.jar");
        Files.write(jar, new byte[] {'P', 'K', 3, 4});
        return jar;
    }

    @Test
    void aJavaOlderThan17IsAnError() throws Exception {
        Path bin = Files.createDirectories(dir.resolve("java11/bin"));
        Path java = Files.writeString(bin.resolve("java"), "#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));

        Run r = run(Map.of("RECOVERY_INSPECTOR_JAR", jar().toString(), "JAVA_HOME", dir.resolve("java11").toString()));

        assertThat(r.exit()).as(r.stderr()).isEqualTo(2);
        assertThat(r.stderr()).contains("needs Java 17").contains("11.0.2");
    }

    @Test
    void javaOptionsTheJvmRefusesAreAnError() throws Exception {
        Run r = run(Map.of("RECOVERY_INSPECTOR_JAR", jar().toString(), "JAVA_OPTS", "-Xmx4gg", "JAVA_HOME", THIS_JAVA_HOME));

        assertThat(r.exit()).as(r.stderr()).isEqualTo(2);
        assertThat(r.stderr()).contains("-Xmx4gg");
    }

    @Test
    void aJarThatIsNoneIsAnError() throws Exception {
        Path cut = Files.writeString(dir.resolve("cut.jar"), "<html>");

        Run r = run(Map.of("RECOVERY_INSPECTOR_JAR", cut.toString(), "JAVA_HOME", THIS_JAVA_HOME));

        assertThat(r.exit()).as(r.stderr()).isEqualTo(2);
        assertThat(r.stderr()).contains("cut.jar").contains("not a jar");
    }
}
