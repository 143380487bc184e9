package io.github.s3tiered.inspector.cli;

import org.apache.flink.configuration.ConfigConstants;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.PluginUtils;

import java.io.File;
import java.net.URI;
import java.util.Map;

/**
 * Flink's configuration and file systems, set up as a TaskManager would: config.yaml, then -D
 * entries, then {@code FileSystem.initialize} with the plugins in {@code $FLINK_PLUGINS_DIR}.
 */
final class FlinkEnvironment {

    private FlinkEnvironment() {}

    static Configuration load(CommonOptions options) {
        Configuration dynamic = new Configuration();
        for (Map.Entry<String, String> e : options.properties.entrySet()) {
            if (e.getKey().isBlank()) {
                throw new InspectorFailure("Bad -D option '" + e.getKey() + "=" + e.getValue() + "': expected -D key=value");
            }
            dynamic.setString(e.getKey().trim(), e.getValue());
        }
        String confDir = options.flinkConfDir != null ? options.flinkConfDir : System.getenv(ConfigConstants.ENV_FLINK_CONF_DIR);
        if (confDir == null || confDir.isBlank()) {
            return dynamic;
        }
        if (!new File(confDir).isDirectory()) {
            throw new InspectorFailure("Flink configuration directory " + confDir + " does not exist"
                    + (options.flinkConfDir == null ? " (from $" + ConfigConstants.ENV_FLINK_CONF_DIR + ")" : ""));
        }
        try {
            return GlobalConfiguration.loadConfiguration(confDir, dynamic);
        } catch (RuntimeException e) {
            throw new InspectorFailure("Cannot read the Flink configuration in " + confDir + ": " + e.getMessage(), e);
        }
    }

    static void initializeFileSystems(Configuration conf) {
        try {
            FileSystem.initialize(conf, PluginUtils.createPluginManagerFromRootFolder(conf));
        } catch (RuntimeException e) {
            throw new InspectorFailure("Cannot initialize Flink's file systems (plugins from $"
                    + ConfigConstants.ENV_FLINK_PLUGINS_DIR + "=" + System.getenv(ConfigConstants.ENV_FLINK_PLUGINS_DIR)
                    + "): " + e.getMessage(), e);
        }
    }

    /** A user's path: a URI with a scheme as given, anything else a local path made absolute. */
    static Path path(String arg) {
        URI uri;
        try {
            uri = new Path(arg).toUri();
        } catch (IllegalArgumentException e) {
            throw new InspectorFailure("Bad path '" + arg + "': " + e.getMessage(), e);
        }
        if (uri.getScheme() != null && uri.getScheme().length() > 1) {
            return new Path(arg);
        }
        return new Path(java.nio.file.Path.of(arg).toAbsolutePath().normalize().toUri().toString());
    }
}
