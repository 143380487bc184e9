package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.bridge.OptionValues;
import io.github.s3tiered.bridge.S3TieredBridge;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

class JobOnlyFileSystemOptionsTest {

    private static final S3TieredBridge.Description PLUGIN = new S3TieredBridge.Description(1, Set.of(),
            Set.of("s3tiered.local.max-bytes", "s3tiered.endpoint", "s3.endpoint", "s3tiered.secret-key", "s3.secret-key"),
            Map.of("s3.endpoint", "http://minio:9000", "s3tiered.local.max-bytes", "50gb",
                    "s3.secret-key", OptionValues.shown("s3.secret-key", "cluster-secret")));

    @Test
    void theJobsOwnFileSystemOptionsAreNamedAsWithoutEffectTheClustersAndTheStoragesPass() {
        List<String> messages = JobOnlyFileSystemOptions.differing(Map.of(
                "s3.endpoint", "http://minio:9000", // the cluster's, merged into the job's configuration
                "s3tiered.local.max-bytes", "10gb", // the job's -D
                "s3tiered.endpoint", "http://other:9000",
                "s3.secret-key", "job-secret",
                "s3tiered.verification.enabled", "false", // the storage's: applies
                "parallelism.default", "4"), PLUGIN);

        assertThat(messages).containsExactly(
                "s3.secret-key in the job's configuration has no effect: the s3tiered:// file system reads its options once"
                        + " per process from the cluster's configuration file, which sets another value; set it there (on every"
                        + " JobManager and TaskManager)",
                "s3tiered.endpoint: 'http://other:9000' in the job's configuration has no effect: the s3tiered:// file system"
                        + " reads its options once per process from the cluster's configuration file, which does not set it;"
                        + " set it there (on every JobManager and TaskManager)",
                "s3tiered.local.max-bytes: '10gb' in the job's configuration has no effect: the s3tiered:// file system reads"
                        + " its options once per process from the cluster's configuration file, which sets '50gb'; set it there"
                        + " (on every JobManager and TaskManager)");
        assertThat(String.join("\n", messages)).doesNotContain("job-secret").doesNotContain("cluster-secret");
    }

    @Test
    void aPluginJarThatDoesNotSayLeavesItUnchecked() {
        assertThat(JobOnlyFileSystemOptions.differing(Map.of("s3tiered.endpoint", "http://other:9000"),
                new S3TieredBridge.Description(1, Set.of(), null, null))).isEmpty();
    }
}
