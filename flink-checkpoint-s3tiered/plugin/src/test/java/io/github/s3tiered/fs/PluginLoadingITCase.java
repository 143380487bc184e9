package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.util.WrappingProxy;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/** The shaded plugin jar, loaded as Flink loads it from plugins/s3tiered/. */
class PluginLoadingITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    @TempDir java.nio.file.Path pluginsRoot;
    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path restoreDir;

    static java.nio.file.Path pluginJar() {
        String jar = System.getProperty("s3tiered.plugin.jar");
        assertThat(jar).as("system property s3tiered.plugin.jar (set by failsafe)").isNotNull();
        java.nio.file.Path p = java.nio.file.Path.of(jar);
        assertThat(p).exists();
        return p;
    }

    @AfterEach
    void resetFileSystems() {
        FileSystem.initialize(new Configuration(), null);
    }

    @Test
    void thePluginJarLoadsThroughFlinksPluginManagerAndWorks() throws Exception {
        java.nio.file.Path dir = Files.createDirectories(pluginsRoot.resolve("s3tiered"));
        Files.copy(pluginJar(), dir.resolve("s3tiered-plugin.jar"));
        Configuration conf = flinkConfig(S3.server(), tierDir);
        DefaultPluginManager plugins = new DefaultPluginManager(
                new DirectoryBasedPluginFinder(pluginsRoot).findPlugins(),
                CoreOptions.getPluginParentFirstLoaderPatterns(conf));
        FileSystem.initialize(conf, plugins);

        FileSystem fs = FileSystem.get(URI.create("s3tiered://" + S3.server().bucket() + "/"));

        // Flink wraps plugin file systems; the real one comes from the plugin's own class loader.
        assertThat(fs).isInstanceOf(WrappingProxy.class).isInstanceOf(PathsCopyingFileSystem.class);
        Object inner = ((WrappingProxy<?>) fs).getWrappedDelegate();
        assertThat(inner.getClass().getName()).isEqualTo(S3TieredFileSystem.class.getName());
        assertThat(inner.getClass().getClassLoader()).isNotSameAs(getClass().getClassLoader());
        assertThat(inner.getClass().getClassLoader().getClass().getName()).contains("PluginClassLoader");

        Path p = new Path("s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/plugin/data");
        byte[] data = randomBytes(7 * 1024 * 1024, 21);
        write(fs, p, data);
        assertThat(readAll(fs, p)).isEqualTo(data);
        assertThat(fs.getFileStatus(p).getLen()).isEqualTo(data.length);

        // Batch copy goes through Flink's wrapper to the plugin.
        assertThat(fs.canCopyPaths(p, new Path("data"))).isTrue();
        ((PathsCopyingFileSystem) fs).copyFiles(
                List.of(CopyRequest.of(p, new Path(restoreDir.resolve("data").toUri()), data.length)),
                new CloseableRegistry());
        assertThat(Files.readAllBytes(restoreDir.resolve("data"))).isEqualTo(data);
        assertThat(fs.delete(p, false)).isTrue();
        assertThat(fs.exists(p)).isFalse();
    }

    @Test
    void nothingButTheProjectsOwnPackagesIsLeftUnrelocated() throws IOException {
        List<String> leaked = new ArrayList<>();
        int relocatedSdkClasses = 0;
        try (JarFile jar = new JarFile(pluginJar().toFile())) {
            for (JarEntry e : java.util.Collections.list(jar.entries())) {
                String name = e.getName();
                if (name.endsWith(".class") && !name.startsWith("io/github/s3tiered/")) {
                    leaked.add(name);
                }
                if (name.startsWith("io/github/s3tiered/shaded/software/amazon/awssdk/services/s3/")) {
                    relocatedSdkClasses++;
                }
                if (name.startsWith("io/github/s3tiered/checkpoint/") || name.startsWith("io/github/s3tiered/backend/")
                        || name.startsWith("io/github/s3tiered/inspector/")) {
                    leaked.add(name + " (belongs in the lib jar)");
                }
                if (name.startsWith("META-INF/services/") && !e.isDirectory()) {
                    String content = new String(jar.getInputStream(e).readAllBytes(), StandardCharsets.UTF_8);
                    content.lines().filter(l -> !l.isBlank() && !l.startsWith("#"))
                            .filter(l -> !l.startsWith("io.github.s3tiered."))
                            .forEach(l -> leaked.add(name + ": " + l));
                    if (!name.equals("META-INF/services/org.apache.flink.core.fs.FileSystemFactory")
                            && !name.startsWith("META-INF/services/io.github.s3tiered.shaded.")) {
                        leaked.add(name);
                    }
                }
            }
            assertThat(jar.getEntry("META-INF/services/org.apache.flink.core.fs.FileSystemFactory")).isNotNull();
            assertThat(jar.getEntry("org/apache/flink/core/fs/FileSystem.class")).as("Flink is provided").isNull();
            assertThat(jar.getEntry("org/slf4j/Logger.class")).as("SLF4J comes from Flink").isNull();
        }
        assertThat(leaked).isEmpty();
        assertThat(relocatedSdkClasses).isGreaterThan(100);
    }
}
