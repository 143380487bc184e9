package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/** The lib jar holds what Flink's lib/ needs and nothing of the plugin: no S3, tier or file-system class. */
class LibJarContentsITCase {

    static Path libJar() {
        String jar = System.getProperty("s3tiered.lib.jar");
        assertThat(jar).as("system property s3tiered.lib.jar (set by failsafe)").isNotNull();
        Path p = Path.of(jar);
        assertThat(p).exists();
        return p;
    }

    @Test
    void theLibJarHoldsStorageBackendInspectorAndBridgeOnly() throws IOException {
        List<String> misplaced = new ArrayList<>();
        List<String> packages = List.of("io/github/s3tiered/checkpoint/", "io/github/s3tiered/backend/", "io/github/s3tiered/preupload/",
                "io/github/s3tiered/inspector/", "io/github/s3tiered/bridge/");
        try (JarFile jar = new JarFile(libJar().toFile())) {
            for (JarEntry e : Collections.list(jar.entries())) {
                String name = e.getName();
                if (name.endsWith(".class") && packages.stream().noneMatch(name::startsWith)) {
                    misplaced.add(name);
                }
                if (name.startsWith("io/github/s3tiered/inspector/cli/")) {
                    misplaced.add(name + " (the command line runs from its launcher)");
                }
                if (name.equals("META-INF/services/org.apache.flink.core.fs.FileSystemFactory")) {
                    misplaced.add(name + " (a second factory for the scheme: the file system is the plugin's)");
                }
            }
            assertThat(jar.getEntry("io/github/s3tiered/checkpoint/TieredCheckpointStorageFactory.class")).isNotNull();
            assertThat(jar.getEntry("io/github/s3tiered/backend/TieredRocksDBStateBackendFactory.class")).isNotNull();
            assertThat(jar.getEntry("io/github/s3tiered/bridge/S3TieredBridge.class")).isNotNull();
        }
        assertThat(misplaced).isEmpty();
    }
}
