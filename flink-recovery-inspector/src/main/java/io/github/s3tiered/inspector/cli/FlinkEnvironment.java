package io.github.s3tiered.inspector.cli;

import org.apache.flink.configuration.ConfigConstants;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.core.plugin.PluginUtils;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.util.Map;

/**
 * Flink's configuration and file systems, set up as a TaskManager would: config.yaml, then -D
 * entries, then {@code FileSystem.initialize} with the plugins of the Flink installation
 * ({@code --flink-home}, {@code $FLINK_PLUGINS_DIR}, {@code $FLINK_HOME}).
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
        Dir conf = options.flinkConfDir != null ? new Dir(options.flinkConfDir, "--flink-conf-dir")
                : inFlinkHome(options, "conf", ConfigConstants.ENV_FLINK_CONF_DIR);
        if (conf == null) {
            return dynamic;
        }
        String confDir = conf.path();
        if (!new File(confDir).isDirectory()) {
            throw new InspectorFailure("Flink configuration directory " + confDir + " does not exist (from " + conf.source() + ")");
        }
        try {
            return GlobalConfiguration.loadConfiguration(confDir, dynamic);
        } catch (RuntimeException e) {
            throw new InspectorFailure("Cannot read the Flink configuration in " + confDir + ": " + e.getMessage(), e);
        }
    }

    static void initializeFileSystems(Configuration conf, CommonOptions options) {
        Dir plugins = inFlinkHome(options, "plugins", ConfigConstants.ENV_FLINK_PLUGINS_DIR);
        try {
            PluginManager manager;
            if (plugins == null) {
                manager = PluginUtils.createPluginManagerFromRootFolder(conf); // Flink's default: ./plugins
            } else if (!new File(plugins.path()).isDirectory()) {
                throw new InspectorFailure("Flink plugins directory " + plugins.path() + " does not exist (from "
                        + plugins.source() + ")");
            } else {
                manager = new DefaultPluginManager(new DirectoryBasedPluginFinder(java.nio.file.Path.of(plugins.path()))
                        .findPlugins(), CoreOptions.getPluginParentFirstLoaderPatterns(conf));
            }
            FileSystem.initialize(conf, manager);
        } catch (IOException | RuntimeException e) {
            if (e instanceof InspectorFailure f) {
                throw f;
            }
            throw new InspectorFailure("Cannot initialize Flink's file systems (plugins from "
                    + (plugins == null ? "./plugins" : plugins.path() + ", from " + plugins.source()) + "): " + e.getMessage(), e);
        }
    }

    /** A directory and where the user named it. */
    record Dir(String path, String source) {}

    /**
     * {@code <flink home>/<name>}: of {@code --flink-home} over {@code $<env>}, of
     * {@code $FLINK_HOME} under it; null when none is set.
     */
    static Dir inFlinkHome(CommonOptions options, String name, String env) {
        if (options.flinkHome != null) {
            return new Dir(new File(options.flinkHome, name).getPath(), Launcher.FLINK_HOME_OPTION + " " + options.flinkHome);
        }
        String fromEnv = System.getenv(env);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return new Dir(fromEnv, "$" + env);
        }
        String home = System.getenv("FLINK_HOME");
        if (home != null && !home.isBlank()) {
            return new Dir(new File(home, name).getPath(), "$FLINK_HOME " + home);
        }
        return null;
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
        // from the path's parts: Flink's Path(String) of a URI's text encodes its escapes again ("my%2520dir")
        return new Path("file", null, java.nio.file.Path.of(arg).toAbsolutePath().normalize().toString());
    }
}
