package io.github.s3tiered.inspector.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** How the runnable jar finds the Flink it runs on, and what it refuses. */
class LauncherTest {

    @TempDir
    Path home;

    final String line = Launcher.buildProperties().getProperty("flink.line");

    @Test
    void theBuildRecordedItsFlinkLine() {
        assertThat(line).as("flink.line in recovery-inspector.properties").matches("\\d+\\.\\d+");
        assertThat(Launcher.buildProperties().getProperty("version")).doesNotContain("${");
    }

    @Test
    void flinksJarsFromTheHomeGivenByOptionOverTheEnvironment() throws Exception {
        Files.createDirectories(home.resolve("lib"));
        Files.createFile(home.resolve("lib").resolve("flink-dist-" + line + ".1.jar"));
        Files.createFile(home.resolve("lib").resolve("log4j-core-2.24.3.jar"));
        Files.createFile(home.resolve("lib").resolve("flink-checkpoint-s3tiered-lib-0.1.0-flink" + line + "-lib.jar"));
        String[] args = {"validate", "--flink-home=" + home, "s3tiered://b/chk-1"};

        try (URLClassLoader loader = (URLClassLoader) Launcher.flinkClassLoader(args, "/no/such/env/home")) {
            assertThat(Arrays.stream(loader.getURLs()).map(u -> Path.of(u.getPath()).getFileName().toString()))
                    .contains("flink-dist-" + line + ".1.jar", "log4j-core-2.24.3.jar")
                    // the inspector comes from the launcher's own jar, not from an older copy in lib/
                    .noneMatch(n -> n.startsWith("flink-checkpoint-s3tiered-"));
            assertThat(loader.getParent()).isSameAs(ClassLoader.getPlatformClassLoader());
        }
    }

    @Test
    void aFlinkOfAnotherLineIsRefusedNamingBoth() throws Exception {
        Files.createDirectories(home.resolve("lib"));
        Files.createFile(home.resolve("lib").resolve("flink-core-1.19.1.jar"));

        assertThatThrownBy(() -> Launcher.flinkClassLoader(new String[] {"list", "x"}, home.toString()))
                .hasMessageContaining("built for Flink " + line)
                .hasMessageContaining("flink-core-1.19.1.jar is Flink 1.19");
    }

    @Test
    void noHomeNoLibAndNoFlinkJarAreEachSaid() throws Exception {
        assertThatThrownBy(() -> Launcher.flinkClassLoader(new String[] {"list", "x"}, null))
                .hasMessageContaining("--flink-home").hasMessageContaining("FLINK_HOME");
        assertThatThrownBy(() -> Launcher.flinkClassLoader(new String[] {"list", "--flink-home", home.toString(), "x"}, null))
                .hasMessageContaining(home.toString()).hasMessageContaining("(from --flink-home)").hasMessageContaining("lib/");
        Files.createDirectories(home.resolve("lib"));
        assertThatThrownBy(() -> Launcher.flinkClassLoader(new String[] {"list", "x"}, home.toString()))
                .hasMessageContaining("(from $FLINK_HOME)").hasMessageContaining("no flink-dist or flink-core jar");
    }
}
