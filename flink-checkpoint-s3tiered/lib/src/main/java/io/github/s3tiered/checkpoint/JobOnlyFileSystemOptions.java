package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.OptionValues;
import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The file system's options a job sets itself ({@code flink run -D} on a session cluster, SQL
 * {@code SET}, a session job's configuration, a {@code Configuration} in code): Flink configures
 * file systems once per process from the cluster's configuration, so they have no effect, while
 * the storage's own options set the same way do. Told apart by what the file system says its
 * process's configuration holds.
 */
final class JobOnlyFileSystemOptions {

    private static final Logger LOG = LoggerFactory.getLogger(JobOnlyFileSystemOptions.class);
    /** key=value pairs warned about in this process: the storage is built for the job and for each task. */
    private static final Set<String> WARNED = ConcurrentHashMap.newKeySet();

    private JobOnlyFileSystemOptions() {}

    /** Logs each of the job's file-system options that the file system does not run with, once per process. */
    static void warnAbout(Map<String, String> jobConfig, Path checkpointDirectory) {
        if (jobConfig.keySet().stream().noneMatch(k -> k.startsWith("s3.") || k.startsWith("s3tiered."))) {
            return; // nothing to compare (a storage built in code): the file system is not even asked
        }
        S3TieredBridge.Description d;
        try {
            java.util.Optional<S3TieredBridge> bridge = S3TieredBridge.of(checkpointDirectory);
            if (bridge.isEmpty()) {
                return;
            }
            d = bridge.get().describe();
        } catch (java.io.IOException | RuntimeException e) {
            LOG.debug("Could not ask the s3tiered:// file system for its options: {}", e.toString());
            return;
        }
        for (String message : differing(jobConfig, d)) {
            if (WARNED.add(message)) {
                LOG.warn(message);
            }
        }
    }

    /** One message per key of the file system whose value in the job's configuration is not the process's. */
    static List<String> differing(Map<String, String> jobConfig, S3TieredBridge.Description d) {
        List<String> messages = new ArrayList<>();
        if (d.optionKeys() == null || d.clusterOptions() == null) {
            return messages; // a plugin jar older than 0.3.0 does not say
        }
        for (Map.Entry<String, String> e : new TreeMap<>(jobConfig).entrySet()) {
            String key = e.getKey();
            if (!d.optionKeys().contains(key)) {
                continue;
            }
            String shown = OptionValues.shown(key, e.getValue());
            String cluster = d.clusterOptions().get(key);
            if (Objects.equals(shown, cluster)) {
                continue;
            }
            boolean secret = OptionValues.isSecret(key) || key.contains("access"); // credentials: never their values
            messages.add(key + (secret ? "" : ": '" + e.getValue() + "'") + " in the job's configuration has no effect:"
                    + " the s3tiered:// file system reads its options once per process from the cluster's configuration"
                    + " file, which " + (cluster == null ? "does not set it" : secret ? "sets another value"
                            : "sets '" + cluster + "'") + "; set it there (on every JobManager and TaskManager)");
        }
        return messages;
    }
}
