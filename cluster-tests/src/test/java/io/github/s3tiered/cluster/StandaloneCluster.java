package io.github.s3tiered.cluster;

import io.github.s3tiered.testing.LoopbackPorts;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A standalone Flink session cluster made of separate JVMs, started the way Flink's own scripts
 * ({@code jobmanager.sh}, {@code taskmanager.sh}) start them: memory flags from {@code
 * BashJavaUtils}, {@code lib/*} as class path, {@code FLINK_PLUGINS_DIR} for {@code plugins/}, and
 * {@code --configDir} pointing at a {@code conf/} with {@link #CONFIG_FILE}.
 *
 * <p>The distribution ({@code lib/}, {@code plugins/}) is shared; each cluster has its own
 * directory with {@code conf/}, {@code log/} and {@code tmp/}. The configuration file is the rendered
 * configuration source followed by this cluster's addresses, free loopback ports and directories.
 */
final class StandaloneCluster implements AutoCloseable {

    static final String JOB_MANAGER_CLASS = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
    static final String TASK_MANAGER_CLASS = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";
    static final String BASH_JAVA_UTILS_CLASS = "org.apache.flink.runtime.util.bash.BashJavaUtils";
    static final String BASH_JAVA_UTILS_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:";

    /**
     * The configuration file a user of this Flink line edits: Flink 2.x reads only {@code
     * config.yaml}; the 1.20 line's tests write {@code flink-conf.yaml}, the file 1.20 users know
     * (1.20 reads {@code flink-conf.yaml} when it exists, else {@code config.yaml}: only one is written).
     */
    static final String CONFIG_FILE = System.getProperty("flink.conf.file", "config.yaml");

    /** What Flink's default config.yaml passes to every JVM on Java 17 (env.java.default-opts.all). */
    static final String JAVA_17_OPTS = String.join(" ",
            "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
            "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
            "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.text=ALL-UNNAMED",
            "--add-opens=java.base/java.time=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

    /** One JVM of the cluster. */
    record Node(String name, Process process, Path log, Path out) {
        long pid() {
            return process.pid();
        }

        String logText() {
            try {
                return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private final Path flinkHome;
    private final Path dir;
    private final Path confDir;
    private final Path logDir;
    private final Map<String, String> deployment;
    private final int restPort;
    private final List<Node> nodes = new ArrayList<>();
    private List<String> tmJvmParams;
    private List<String> tmDynamicConfigs;
    private int taskManagerCount;

    private StandaloneCluster(Path flinkHome, Path dir, String renderedSource) throws IOException {
        this.flinkHome = flinkHome.toAbsolutePath().normalize();
        this.dir = dir.toAbsolutePath().normalize();
        this.confDir = this.dir.resolve("conf");
        this.logDir = this.dir.resolve("log");
        Files.createDirectories(confDir);
        Files.createDirectories(logDir);
        Files.createDirectories(this.dir.resolve("tmp"));
        Files.createDirectories(this.dir.resolve("web"));
        this.restPort = LoopbackPorts.next();
        this.deployment = new LinkedHashMap<>();
        deployment.put("jobmanager.rpc.address", "127.0.0.1");
        deployment.put("jobmanager.bind-host", "127.0.0.1");
        deployment.put("jobmanager.rpc.port", String.valueOf(LoopbackPorts.next()));
        deployment.put("rest.address", "127.0.0.1");
        deployment.put("rest.bind-address", "127.0.0.1");
        deployment.put("rest.port", String.valueOf(restPort));
        deployment.put("blob.server.port", String.valueOf(LoopbackPorts.next()));
        deployment.put("taskmanager.host", "127.0.0.1");
        deployment.put("taskmanager.bind-host", "127.0.0.1");
        deployment.put("taskmanager.rpc.port", "0"); // any free port, as many TaskManagers as needed
        deployment.put("io.tmp.dirs", this.dir.resolve("tmp").toString());
        deployment.put("web.tmpdir", this.dir.resolve("web").toString());
        deployment.put("env.java.opts.all", JAVA_17_OPTS);
        writeConfig(renderedSource);
    }

    /**
     * A cluster in {@code dir} with the given configuration source text (placeholders already
     * resolved); nothing runs yet.
     */
    static StandaloneCluster create(Path flinkHome, Path dir, String renderedSource) {
        try {
            return new StandaloneCluster(flinkHome, dir, renderedSource);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeConfig(String renderedSource) throws IOException {
        Map<String, String> shared = FlinkConfigSource.parseFlatYaml(renderedSource, "the configuration source");
        for (String key : deployment.keySet()) {
            if (shared.containsKey(key)) {
                throw new IllegalStateException("The configuration source sets '" + key
                        + "', which each deployment sets itself (address, port or directory)");
            }
        }
        StringBuilder yaml = new StringBuilder(renderedSource);
        if (!renderedSource.endsWith("\n")) {
            yaml.append('\n');
        }
        yaml.append("\n# This deployment (cluster-tests): loopback addresses, free ports, directories\n");
        deployment.forEach((k, v) -> yaml.append(k).append(": ").append(v).append('\n'));
        Files.writeString(confDir.resolve(CONFIG_FILE), yaml.toString(), StandardCharsets.UTF_8);
        Files.writeString(confDir.resolve("log4j.properties"), String.join("\n",
                "monitorInterval = 30",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = MainAppender",
                "logger.pekko.name = org.apache.pekko",
                "logger.pekko.level = INFO",
                "logger.netty.name = org.apache.flink.shaded.netty4.io.netty",
                "logger.netty.level = WARN",
                "appender.main.name = MainAppender",
                "appender.main.type = File",
                // append: Flink's RPC class loader opens a second logger context on the same file
                "appender.main.append = true",
                "appender.main.fileName = ${sys:log.file}",
                "appender.main.layout.type = PatternLayout",
                "appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n",
                ""), StandardCharsets.UTF_8);
    }

    Path dir() {
        return dir;
    }

    Path configFile() {
        return confDir.resolve(CONFIG_FILE);
    }

    String restUrl() {
        return "http://127.0.0.1:" + restPort;
    }

    List<Node> nodes() {
        return List.copyOf(nodes);
    }

    Node startJobManager() {
        List<String> params = bashJavaUtils("GET_JM_RESOURCE_PARAMS");
        return launch("jobmanager", JOB_MANAGER_CLASS, split(params.get(0)), split(params.get(1)));
    }

    Node startTaskManager() {
        if (tmJvmParams == null) {
            List<String> params = bashJavaUtils("GET_TM_RESOURCE_PARAMS");
            tmJvmParams = split(params.get(0));
            tmDynamicConfigs = split(params.get(1));
        }
        return launch("taskmanager-" + (++taskManagerCount), TASK_MANAGER_CLASS, tmJvmParams, tmDynamicConfigs);
    }

    /** {@code kill -9}: the JVM gets no chance to clean up. */
    void kill(Node node) {
        node.process().destroyForcibly();
        try {
            if (!node.process().waitFor(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException(node.name() + " (pid " + node.pid() + ") survived SIGKILL for 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Stops every JVM of the cluster: SIGTERM (Flink shuts down), SIGKILL after 20 s. */
    void stop() {
        for (Node n : nodes) {
            n.process().destroy();
        }
        for (Node n : nodes) {
            try {
                if (!n.process().waitFor(20, TimeUnit.SECONDS)) {
                    n.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                n.process().destroyForcibly();
            }
        }
    }

    @Override
    public void close() {
        for (Node n : nodes) {
            n.process().destroyForcibly();
        }
        stop();
    }

    /** The end of every node's log and stdout, for failure messages. */
    String diagnostics() {
        StringBuilder sb = new StringBuilder();
        for (Node n : nodes) {
            sb.append("\n===== ").append(n.name()).append(" (pid ").append(n.pid()).append(", ")
                    .append(n.process().isAlive() ? "alive" : "exited " + n.process().exitValue()).append(") ")
                    .append(n.log()).append('\n');
            sb.append(tail(n.log(), 3000)).append(tail(n.out(), 1500));
        }
        return sb.toString();
    }

    private static String tail(Path file, int chars) {
        try {
            if (!Files.exists(file)) {
                return "";
            }
            String s = Files.readString(file, StandardCharsets.UTF_8);
            return s.length() > chars ? "..." + s.substring(s.length() - chars) : s;
        } catch (IOException e) {
            return "(" + e + ")";
        }
    }

    private Node launch(String name, String mainClass, List<String> jvmParams, List<String> dynamicConfigs) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaBinary());
        cmd.addAll(jvmParams);
        cmd.addAll(split(JAVA_17_OPTS));
        Path log = logDir.resolve(name + ".log");
        Path out = logDir.resolve(name + ".out");
        cmd.add("-Dlog.file=" + log);
        cmd.add("-Dlog4j.configuration=file:" + confDir.resolve("log4j.properties"));
        cmd.add("-Dlog4j.configurationFile=file:" + confDir.resolve("log4j.properties"));
        cmd.add("-classpath");
        cmd.add(flinkHome.resolve("lib") + "/*");
        cmd.add(mainClass);
        cmd.add("--configDir");
        cmd.add(confDir.toString());
        cmd.addAll(dynamicConfigs);
        try {
            Files.writeString(out, String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
            ProcessBuilder pb = new ProcessBuilder(cmd)
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()));
            environment(pb.environment());
            Node node = new Node(name, ChildProcesses.register(pb.start()), log, out);
            nodes.add(node);
            return node;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start " + name, e);
        }
    }

    private void environment(Map<String, String> env) {
        env.put("FLINK_HOME", flinkHome.toString());
        env.put("FLINK_CONF_DIR", confDir.toString());
        env.put("FLINK_LIB_DIR", flinkHome.resolve("lib").toString());
        env.put("FLINK_PLUGINS_DIR", flinkHome.resolve("plugins").toString());
        env.put("FLINK_LOG_DIR", logDir.toString());
        env.remove("HADOOP_CLASSPATH");
    }

    /** Runs BashJavaUtils as Flink's scripts do; returns its two result lines (JVM params, dynamic configs). */
    private List<String> bashJavaUtils(String command) {
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-Xmx128m"));
        cmd.addAll(split(JAVA_17_OPTS));
        cmd.addAll(List.of("-classpath", flinkHome.resolve("lib") + "/*", BASH_JAVA_UTILS_CLASS, command,
                "--configDir", confDir.toString()));
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
            environment(pb.environment());
            Process p = ChildProcesses.register(pb.start());
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("BashJavaUtils " + command + " failed: " + output);
            }
            List<String> results = output.lines()
                    .filter(l -> l.startsWith(BASH_JAVA_UTILS_PREFIX))
                    .map(l -> l.substring(BASH_JAVA_UTILS_PREFIX.length()))
                    .collect(Collectors.toList());
            if (results.size() < 2) {
                throw new IllegalStateException("BashJavaUtils " + command + " gave no parameters: " + output);
            }
            return results.subList(results.size() - 2, results.size());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static List<String> split(String s) {
        return Arrays.stream(s.trim().split("\\s+")).filter(t -> !t.isEmpty()).collect(Collectors.toList());
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
