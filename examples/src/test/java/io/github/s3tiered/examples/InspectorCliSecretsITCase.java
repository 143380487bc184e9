package io.github.s3tiered.examples;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.cli.RecoveryInspector;
import io.github.s3tiered.testing.LoopbackPorts;
import io.github.s3tiered.testing.S3ServerExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The recovery inspector's command line, run as its own process as {@code recovery-inspector.sh}
 * runs it, verbose (INFO logs and stack traces), never prints the S3 secret key: not when S3 cannot
 * be reached, not when S3 rejects the signature, not when the configuration comes from a
 * {@code config.yaml}, not in a usage error. Each run must print what it is about (the endpoint,
 * the logged file-system settings, the S3 error), so that the absence of the secret means
 * something.
 */
class InspectorCliSecretsITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    static final String SECRET = "S3cretCanary" + UUID.randomUUID().toString().replace("-", "");
    static final String ACCESS_KEY = "AKIDCANARY" + UUID.randomUUID().toString().substring(0, 8).toUpperCase();

    @TempDir Path work;

    record Run(int exit, String output) {}

    /** {@code RecoveryInspector.main} in a new JVM with this test's class path; stdout and stderr together. */
    Run inspector(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), RecoveryInspector.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true);
        pb.environment().remove("FLINK_CONF_DIR");
        pb.environment().remove("FLINK_PLUGINS_DIR");
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("recovery-inspector did not end: " + output);
        }
        return new Run(p.exitValue(), output);
    }

    private String localTier() throws IOException {
        return Files.createDirectories(work.resolve("tier-" + UUID.randomUUID())).toString();
    }

    private static int closedPort() {
        return LoopbackPorts.next(); // outside the ephemeral range: no outgoing connection holds it meanwhile
    }

    private static void assertNoSecret(Run run, String secret) {
        List<String> lines = run.output().lines().filter(l -> l.contains(secret)).map(l -> l.replace(secret, "<SECRET>")).toList();
        assertThat(lines).as("output lines holding the secret key (shown as <SECRET>)").isEmpty();
    }

    @Test
    void anUnreachableEndpointGivenWithDashD() throws Exception {
        String endpoint = "http://127.0.0.1:" + closedPort();
        Run run = inspector("validate", "--verbose", "s3tiered://" + S3.server().bucket() + "/job/chk-1",
                "-D", "s3.endpoint=" + endpoint,
                "-D", "s3.access-key=" + ACCESS_KEY,
                "-D", "s3.secret-key=" + SECRET,
                "-D", "s3tiered.retry.max-attempts=1",
                "-D", "s3tiered.local.dir=" + localTier());

        assertThat(run.exit()).as(run.output()).isEqualTo(2);
        assertThat(run.output()).as("the error and the logged settings")
                .contains(endpoint)
                .contains("S3ClientSettings{")
                .contains("static(" + ACCESS_KEY.substring(0, 4) + "****)");
        assertNoSecret(run, SECRET);
    }

    @Test
    void anUnreachableEndpointGivenInConfigYaml() throws Exception {
        String endpoint = "http://127.0.0.1:" + closedPort();
        Path conf = Files.createDirectories(work.resolve("conf"));
        Files.writeString(conf.resolve("config.yaml"), String.join("\n",
                "s3.endpoint: " + endpoint,
                "s3.access-key: " + ACCESS_KEY,
                "s3.secret-key: " + SECRET,
                "s3tiered.retry.max-attempts: 1",
                "s3tiered.local.dir: " + localTier(),
                ""));
        Run run = inspector("list", "--verbose", "--flink-conf-dir", conf.toString(),
                "s3tiered://" + S3.server().bucket() + "/job");

        assertThat(run.exit()).as(run.output()).isEqualTo(2);
        assertThat(run.output()).as("Flink's configuration lines, the error and the logged settings")
                .contains("s3.secret-key")
                .contains(endpoint)
                .contains("S3ClientSettings{");
        assertNoSecret(run, SECRET);
    }

    @Test
    void aSecretThatS3Rejects() throws Exception {
        Run run = inspector("validate", "--verbose", "s3tiered://" + S3.server().bucket() + "/job/chk-1",
                "-D", "s3.endpoint=" + S3.server().endpoint(),
                "-D", "s3.access-key=" + S3.server().accessKey(),
                "-D", "s3.secret-key=" + SECRET, // not the server's
                "-D", "s3.path.style.access=true",
                "-D", "s3tiered.local.dir=" + localTier());

        assertThat(run.exit()).as(run.output()).isEqualTo(2);
        assertThat(run.output()).as("S3's answer").contains(S3.server().endpoint()).contains("403");
        assertNoSecret(run, SECRET);
        assertNoSecret(run, S3.server().secretKey());
    }

    @Test
    void aUsageError() throws Exception {
        Run run = inspector("validate", "-D", "s3.secret-key=" + SECRET, "--no-such-option", "s3tiered://bucket/job/chk-1");

        assertThat(run.exit()).as(run.output()).isEqualTo(2);
        assertThat(run.output()).contains("--no-such-option");
        assertNoSecret(run, SECRET);
    }
}
