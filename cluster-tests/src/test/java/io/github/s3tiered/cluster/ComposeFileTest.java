package io.github.s3tiered.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.runtime.util.bash.FlinkConfigLoader;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * {@code docker/compose.yaml} read with a real YAML parser (no Docker engine needed): pinned images,
 * the jars mounted where Flink loads them, and FLINK_PROPERTIES equal to {@code
 * docker/flink-conf.yaml}, the configuration the cluster test uses. Where a {@code docker-compose}
 * (Debian package {@code docker-compose}) or {@code docker compose} binary exists, compose itself
 * validates and interpolates the file too.
 */
class ComposeFileTest {

    static final List<String> FLINK_SERVICES = List.of("jobmanager", "taskmanager");
    static final String PLUGIN_DIR = "/opt/flink/plugins/s3tiered/";
    static final String LIB_DIR = "/opt/flink/lib/";

    final Path docker = FlinkConfigSource.dockerDir();
    final Path composeFile = docker.resolve("compose.yaml");
    final FlinkConfigSource source = FlinkConfigSource.load();

    @SuppressWarnings("unchecked")
    Map<String, Object> compose() throws IOException {
        return (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(Files.readString(composeFile, StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> services(Map<String, Object> compose) {
        return (Map<String, Object>) compose.get("services");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> service(Map<String, Object> compose, String name) {
        Map<String, Object> s = (Map<String, Object>) services(compose).get(name);
        assertThat(s).as("service %s", name).isNotNull();
        return s;
    }

    @Test
    void everyImageIsPinnedToARelease() throws IOException {
        Map<String, Object> compose = compose();
        assertThat(services(compose)).containsKeys("minio", "create-bucket", "jobmanager", "taskmanager");
        services(compose).forEach((name, s) -> {
            String image = String.valueOf(((Map<?, ?>) s).get("image"));
            int colon = image.lastIndexOf(':');
            assertThat(colon).as("%s: image %s has a tag", name, image).isPositive();
            String repo = image.substring(0, colon);
            String tag = image.substring(colon + 1);
            switch (repo) {
                case "quay.io/minio/minio", "quay.io/minio/mc" -> assertThat(tag).as("%s: %s", name, image)
                        .matches("RELEASE\\.\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}Z");
                case "flink" -> assertThat(tag).as("%s: %s (Flink 2.3, the official scheme)", name, image)
                        .matches(OFFICIAL_FLINK_TAG);
                case "s3tiered-flink" -> assertThat(tag).as("%s: %s (the project's image, built from docker/Dockerfile)", name, image)
                        .isEqualTo(System.getProperty("s3tiered.version", "0.2.0"));
                default -> throw new AssertionError(name + ": unexpected image " + image);
            }
        });
    }

    /** Official Flink image tags: {@code <version>-scala_2.12-java17}, patch version pinned. */
    static final String OFFICIAL_FLINK_TAG = "2\\.3\\.\\d+-scala_2\\.12-java17";

    /** The Dockerfile's instructions, one per line (continuations joined), comments dropped. */
    static List<String> dockerfileInstructions(Path dockerfile) throws IOException {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(dockerfile, StandardCharsets.UTF_8)) {
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("#")) {
                continue;
            }
            if (t.endsWith("\\")) {
                current.append(t, 0, t.length() - 1).append(' ');
                continue;
            }
            out.add(current.append(t).toString());
            current.setLength(0);
        }
        return out;
    }

    @Test
    void flinkServicesRunTheImageWithTheBuiltJarsWhereFlinkLoadsThem() throws IOException {
        String version = System.getProperty("s3tiered.version", "0.2.0");
        String plugin = "flink-checkpoint-s3tiered/plugin/target/flink-checkpoint-s3tiered-${S3TIERED_VERSION}-flink2.3-plugin.jar";
        String lib = "flink-checkpoint-s3tiered/lib/target/flink-checkpoint-s3tiered-${S3TIERED_VERSION}-flink2.3-lib.jar";
        String inspector = "flink-recovery-inspector/target/flink-recovery-inspector-${S3TIERED_VERSION}-flink2.3-cli.jar";
        Map<String, Object> compose = compose();
        for (String name : FLINK_SERVICES) {
            Map<?, ?> build = (Map<?, ?>) service(compose, name).get("build");
            assertThat(build).as("%s builds the project's image", name).isNotNull();
            assertThat(docker.resolve(String.valueOf(build.get("context"))).normalize()).as("%s: build context", name)
                    .isEqualTo(FlinkConfigSource.repoRoot().toAbsolutePath().normalize());
            assertThat(String.valueOf(build.get("dockerfile"))).isEqualTo("docker/Dockerfile");
            assertThat(String.valueOf(service(compose, name).get("volumes"))).as("%s mounts no jar", name).doesNotContain(".jar");
        }

        List<String> instructions = dockerfileInstructions(docker.resolve("Dockerfile"));
        assertThat(instructions.get(0)).as("the first instruction").startsWith("FROM flink:");
        assertThat(instructions.get(0).substring("FROM flink:".length())).matches(OFFICIAL_FLINK_TAG);
        assertThat(instructions).contains("ARG S3TIERED_VERSION=" + version);
        List<String> copies = instructions.stream().filter(i -> i.startsWith("COPY ")).toList();
        assertThat(copies).as("COPY instructions").hasSize(4);
        assertThat(copies).anySatisfy(c -> assertThat(c).endsWith(plugin + " " + PLUGIN_DIR))
                .anySatisfy(c -> assertThat(c).endsWith(lib + " " + LIB_DIR))
                .anySatisfy(c -> assertThat(c).endsWith(inspector + " /opt/flink/opt/"))
                .anySatisfy(c -> assertThat(c).endsWith(" recovery-inspector.sh /opt/flink/bin/recovery-inspector"));
        // the launcher in the image finds the jar where the image puts it
        assertThat(Files.readString(FlinkConfigSource.repoRoot().resolve("recovery-inspector.sh")))
                .contains("${FLINK_HOME:+\"$FLINK_HOME\"/opt}", "\"$place\"/flink-recovery-inspector-*-cli.jar");
        assertThat(Files.isExecutable(FlinkConfigSource.repoRoot().resolve("recovery-inspector.sh"))).isTrue();
        // what the image copies is what the build makes, and the build context lets it through
        String ignore = Files.readString(FlinkConfigSource.repoRoot().resolve(".dockerignore"), StandardCharsets.UTF_8);
        assertThat(ignore).contains("!recovery-inspector.sh");
        for (String jar : List.of(plugin, lib, inspector)) {
            String built = jar.replace("${S3TIERED_VERSION}", version);
            assertThat(Files.isRegularFile(FlinkConfigSource.repoRoot().resolve(built))).as("%s is built", built).isTrue();
            assertThat(ignore).contains("!" + jar.replace("${S3TIERED_VERSION}", "*"));
        }
    }

    @Test
    void flinkPropertiesAreTheConfigurationSource() throws IOException {
        Map<String, String> expected = source.entries();
        assertThat(expected).as("entries of %s", source.file())
                .containsKeys("execution.checkpointing.storage", "state.backend.type", "execution.checkpointing.dir",
                        "s3.endpoint", "s3tiered.local.dir");
        // The image's entrypoint removes all whitespace from FLINK_PROPERTIES lines: values must have none.
        expected.forEach((k, v) -> assertThat(v).as("value of %s in %s", k, source.file()).doesNotContainPattern("\\s"));

        Map<String, Object> compose = compose();
        for (String name : FLINK_SERVICES) {
            Map<?, ?> env = (Map<?, ?>) service(compose, name).get("environment");
            String properties = String.valueOf(env.get("FLINK_PROPERTIES"));
            assertThat(properties).as("%s FLINK_PROPERTIES has no comments", name).doesNotContain("#");
            assertThat(FlinkConfigSource.parseFlinkProperties(properties)).as("%s FLINK_PROPERTIES", name)
                    .containsExactlyEntriesOf(expected);
        }
    }

    /**
     * Flink's own view: the configuration the image builds from FLINK_PROPERTIES (its entrypoint
     * applies them with BashJavaUtils UPDATE_AND_GET_FLINK_CONFIGURATION) holds the same values as
     * the config.yaml the cluster test writes from the source, for every key of the source.
     */
    @Test
    void flinkReadsTheSameConfigurationInBothDeployments(@TempDir Path tmp) throws Exception {
        Map<String, String> values = FlinkConfigSource.parseEnvFile(docker.resolve(".env"));
        assertThat(values.keySet()).as("docker/.env gives every placeholder a value").containsAll(source.placeholders());

        Path testConf = Files.createDirectories(tmp.resolve("cluster-test-conf"));
        Files.writeString(testConf.resolve("config.yaml"), source.render(values));
        Configuration asClusterTest = GlobalConfiguration.loadConfiguration(testConf.toString());

        Path imageConf = Files.createDirectories(tmp.resolve("image-conf"));
        Files.writeString(imageConf.resolve("config.yaml"), "jobmanager.rpc.address: localhost\n");
        List<String> args = new ArrayList<>(List.of("--configDir", imageConf.toString()));
        Map<?, ?> env = (Map<?, ?>) service(compose(), "taskmanager").get("environment");
        String interpolated = FlinkConfigSource.substitute(String.valueOf(env.get("FLINK_PROPERTIES")), values);
        FlinkConfigSource.parseFlinkProperties(interpolated).forEach((k, v) -> args.add("-D" + k + "=" + v));
        List<String> written = FlinkConfigLoader.loadAndModifyConfiguration(args.toArray(new String[0]));
        Files.writeString(imageConf.resolve("config.yaml"), String.join("\n", written) + "\n");
        Configuration asImage = GlobalConfiguration.loadConfiguration(imageConf.toString());

        for (String key : source.entries().keySet()) {
            assertThat(asImage.toMap().get(key)).as("'%s' as the image reads it", key)
                    .isNotNull()
                    .isEqualTo(asClusterTest.toMap().get(key));
        }
    }

    @Test
    void submitScriptIsValidBash() throws Exception {
        Path script = docker.resolve("submit-example.sh");
        assertThat(Files.isExecutable(script)).as("%s is executable", script).isTrue();
        Result r = run(List.of("bash", "-n", script.toString()));
        assertThat(r.exit()).as("bash -n %s: %s", script, r.errors()).isZero();
    }

    /** Compose's own parser, where installed: validates the file and interpolates docker/.env. */
    @Test
    void composeValidatesAndInterpolatesTheFile() throws Exception {
        Optional<List<String>> composeCommand = composeCommand();
        assumeTrue(composeCommand.isPresent(), "no docker-compose or 'docker compose' on this machine");
        List<String> cmd = new ArrayList<>(composeCommand.get());
        cmd.addAll(List.of("-f", composeFile.toString(), "config"));
        Result r = run(cmd);
        assertThat(r.exit()).as("%s: %s", cmd, r.errors()).isZero();

        @SuppressWarnings("unchecked")
        Map<String, Object> resolved = (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions())).load(r.output());
        Map<String, String> values = FlinkConfigSource.parseEnvFile(docker.resolve(".env"));
        Map<String, String> expected = FlinkConfigSource.parseFlatYaml(source.render(values), "rendered source");
        for (String name : FLINK_SERVICES) {
            Map<?, ?> env = (Map<?, ?>) service(resolved, name).get("environment");
            assertThat(FlinkConfigSource.parseFlinkProperties(String.valueOf(env.get("FLINK_PROPERTIES"))))
                    .as("%s FLINK_PROPERTIES after compose's interpolation", name)
                    .containsExactlyEntriesOf(expected);
        }
    }

    static Optional<List<String>> composeCommand() {
        for (List<String> candidate : List.of(List.of("docker-compose"), List.of("docker", "compose"))) {
            if (onPath(candidate.get(0))) {
                List<String> version = new ArrayList<>(candidate);
                version.add("version");
                try {
                    if (run(version).exit() == 0) {
                        return Optional.of(candidate);
                    }
                } catch (Exception e) {
                    // not usable
                }
            }
        }
        return Optional.empty();
    }

    static boolean onPath(String binary) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, binary))) {
                return true;
            }
        }
        return false;
    }

    record Result(int exit, String output, String errors) {}

    /** Runs a command; {@code output} is its stdout, {@code errors} its stderr. */
    static Result run(List<String> cmd) throws IOException, InterruptedException {
        Path err = Files.createTempFile("cluster-tests-", ".stderr");
        try {
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(cmd + " did not end within 60 s");
            }
            return new Result(p.exitValue(), out, Files.readString(err));
        } finally {
            Files.deleteIfExists(err);
        }
    }
}
