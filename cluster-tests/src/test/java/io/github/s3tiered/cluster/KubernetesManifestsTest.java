package io.github.s3tiered.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.configuration.MemorySize;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code FlinkDeployment} examples of {@code docker/kubernetes/}, read with a YAML parser (no
 * Kubernetes needed): they carry the configuration of {@code docker/flink-conf.yaml}, which the
 * cluster test runs (one source, no drift), with each deployment's own values where that file has
 * placeholders, the S3 keys from a Secret, the memory as the operator's resources; the project's
 * image of this release; what each upgrade mode needs.
 */
class KubernetesManifestsTest {

    /** Never in a manifest: the pods get them from a Secret (the AWS SDK's default credentials). */
    static final Set<String> CREDENTIALS = Set.of("s3.access-key", "s3.secret-key");
    /** The operator sets these from spec.jobManager / spec.taskManager resource.memory. */
    static final Map<String, String> MEMORY = Map.of(
            "jobmanager.memory.process.size", "jobManager",
            "taskmanager.memory.process.size", "taskManager");
    /** What the manifests add to the source, for the operator's upgrade modes. */
    static final Set<String> ADDED = Set.of("high-availability.type", "high-availability.storageDir",
            "execution.checkpointing.savepoint-dir");

    final Path dir = FlinkConfigSource.dockerDir().resolve("kubernetes");
    final FlinkConfigSource source = FlinkConfigSource.load();

    @ParameterizedTest
    @ValueSource(strings = {"flinkdeployment-last-state.yaml", "flinkdeployment-savepoint.yaml"})
    void theFlinkConfigurationIsTheClusterTests(String file) throws IOException {
        Map<?, ?> spec = spec(file);
        @SuppressWarnings("unchecked")
        Map<Object, Object> conf = (Map<Object, Object>) spec.get("flinkConfiguration");
        assertThat(conf).as("%s: spec.flinkConfiguration", file).isNotNull();
        conf.forEach((k, v) -> assertThat(v).as("%s: value of %s (the operator's flinkConfiguration is a map of strings:"
                + " quote numbers and booleans)", file, k).isInstanceOf(String.class));

        Set<String> fromSource = new TreeSet<>();
        source.entries().forEach((key, value) -> {
            fromSource.add(key);
            if (CREDENTIALS.contains(key)) {
                assertThat(conf).as("%s: %s belongs in a Secret", file, key).doesNotContainKey(key);
            } else if (MEMORY.containsKey(key)) {
                Map<?, ?> resource = (Map<?, ?>) ((Map<?, ?>) spec.get(MEMORY.get(key))).get("resource");
                assertThat(MemorySize.parse(String.valueOf(resource.get("memory"))))
                        .as("%s: spec.%s.resource.memory for %s = %s", file, MEMORY.get(key), key, value)
                        .isEqualTo(MemorySize.parse(value));
                assertThat(conf).as("%s: %s (from the resources)", file, key).doesNotContainKey(key);
            } else if (FlinkConfigSource.PLACEHOLDER.matcher(value).find()) {
                assertThat(conf).as("%s: the deployment's own value for %s", file, key).containsKey(key);
                assertThat(String.valueOf(conf.get(key))).as("%s: %s, the deployment's own value for %s (Flink expands no ${...})",
                                file, key, value)
                        .doesNotContain("${")
                        .matches(withPlaceholdersFilled(value));
            } else {
                assertThat(conf.get(key)).as("%s: %s as in %s", file, key, source.file()).isEqualTo(value);
            }
        });
        Set<String> extra = new TreeSet<>();
        conf.keySet().forEach(k -> extra.add(String.valueOf(k)));
        extra.removeAll(fromSource);
        assertThat(extra).as("%s: entries beyond %s", file, source.file()).isSubsetOf(ADDED);

        Map<?, ?> job = (Map<?, ?>) spec.get("job");
        assertThat(String.valueOf(job.get("parallelism"))).as("%s: spec.job.parallelism", file)
                .isEqualTo(source.entries().get("parallelism.default"));
        assertThat(String.valueOf(job.get("args"))).contains("--use-cluster-config");
    }

    @ParameterizedTest
    @ValueSource(strings = {"flinkdeployment-last-state.yaml", "flinkdeployment-savepoint.yaml"})
    void theImageTheUpgradeModeAndTheVolumesFitTogether(String file) throws IOException {
        Map<String, Object> doc = load(file);
        assertThat(doc.get("apiVersion")).isEqualTo("flink.apache.org/v1beta1");
        assertThat(doc.get("kind")).isEqualTo("FlinkDeployment");
        Map<?, ?> spec = (Map<?, ?>) doc.get("spec");
        String version = System.getProperty("s3tiered.version", "0.2.0");
        assertThat(spec.get("image")).as("%s: the image docker/Dockerfile builds, of this release", file)
                .isEqualTo("s3tiered-flink:" + version);
        assertThat(String.valueOf(spec.get("flinkVersion"))).matches("v2_\\d+");

        Map<?, ?> conf = (Map<?, ?>) spec.get("flinkConfiguration");
        String upgradeMode = String.valueOf(((Map<?, ?>) spec.get("job")).get("upgradeMode"));
        assertThat(upgradeMode).isEqualTo(file.contains("last-state") ? "last-state" : "savepoint");
        if (upgradeMode.equals("last-state")) {
            assertThat(conf.get("high-availability.type")).as("%s: last-state needs HA", file).isEqualTo("kubernetes");
        }
        assertThat(String.valueOf(conf.get("high-availability.storageDir"))).startsWith("s3tiered://");
        assertThat(String.valueOf(conf.get("execution.checkpointing.savepoint-dir"))).startsWith("s3tiered://");

        Map<?, ?> container = ((List<?>) ((Map<?, ?>) ((Map<?, ?>) spec.get("podTemplate")).get("spec")).get("containers"))
                .stream().map(c -> (Map<?, ?>) c).filter(c -> "flink-main-container".equals(c.get("name"))).findFirst()
                .orElseThrow(() -> new AssertionError(file + ": no flink-main-container in the pod template"));
        Set<String> fromSecrets = new TreeSet<>();
        for (Object e : (List<?>) container.get("env")) {
            Map<?, ?> env = (Map<?, ?>) e;
            assertThat(env.get("value")).as("%s: env %s takes no literal value", file, env.get("name")).isNull();
            if (((Map<?, ?>) env.get("valueFrom")).get("secretKeyRef") != null) {
                fromSecrets.add(String.valueOf(env.get("name")));
            }
        }
        assertThat(fromSecrets).containsExactlyInAnyOrder("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
        List<String> mounts = ((List<?>) container.get("volumeMounts")).stream()
                .map(m -> String.valueOf(((Map<?, ?>) m).get("mountPath"))).toList();
        assertThat(mounts).as("%s: a volume at the local tier's directory", file).contains(String.valueOf(conf.get("s3tiered.local.dir")));
    }

    /** A regex of {@code value} in which each {@code ${NAME}} stands for a non-empty value without spaces. */
    static String withPlaceholdersFilled(String value) {
        StringBuilder regex = new StringBuilder();
        Matcher m = FlinkConfigSource.PLACEHOLDER.matcher(value);
        int at = 0;
        while (m.find()) {
            regex.append(Pattern.quote(value.substring(at, m.start()))).append("\\S+");
            at = m.end();
        }
        return regex.append(Pattern.quote(value.substring(at))).toString();
    }

    private Map<?, ?> spec(String file) throws IOException {
        return (Map<?, ?>) load(file).get("spec");
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> load(String file) throws IOException {
        return (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions()))
                .load(Files.readString(dir.resolve(file), StandardCharsets.UTF_8));
    }
}
