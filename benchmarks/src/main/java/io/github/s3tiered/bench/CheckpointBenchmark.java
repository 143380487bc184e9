package io.github.s3tiered.bench;

import io.github.s3tiered.backend.RestoreTimings;
import io.github.s3tiered.backend.TieredRocksDBStateBackendFactory;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.checkpoint.TieredCheckpointStorageFactory;
import io.github.s3tiered.examples.JobRunner;
import io.github.s3tiered.testing.FaultInjectingProxy;
import io.github.s3tiered.testing.FaultAction;
import io.github.s3tiered.testing.FaultRule;
import io.github.s3tiered.testing.NetworkProfile;
import io.github.s3tiered.testing.S3Operation;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecution;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.management.ManagementFactory;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One stateful job (RocksDB, incremental checkpoints, one injected failure) checkpointing through
 * four storages, each against its own S3Proxy, in one run: this project's storage and backend on s3tiered://,
 * Flink's file-system storage on file:// (local disk), on flink-s3-fs-presto (s3p://) and on
 * flink-s3-fs-native (s3a://). The S3 file systems are loaded as plugins. Every setup uses the
 * same embedded RocksDB backend (this project's wrapper only records the restore durations RocksDB
 * reports), so the storages are what differs. Prints a table.
 *
 * <p>With {@code --fault-rate R} (0 < R < 1), the S3 storages talk to S3 through a
 * {@link FaultInjectingProxy} that fails about that share of all requests (503 SlowDown, 500
 * InternalError, a connection reset before the response or halfway through it, a 1 s stall, each
 * a fifth of R), every storage with the same seeds; a second table then shows what each storage
 * made of it: checkpoints completed and failed, restarts, and whether the final state is exact.
 * Request bodies are not cut: S3Proxy itself then breaks the multipart upload (see the shared
 * notes), which no real S3 does.
 *
 * <p>Usage: {@code bash benchmarks/run.sh checkpoint [--keys 500000] [--visits 16] [--payload 32] [--state list|value]
 * [--interval-ms 1000] [--fail-at 0.85] [--fault-rate 0.1] [--profile loopback|wan|slow] [--only s3tiered,file]
 * [--warm-up-keys N (default a tenth of --keys)] [--same-jvm | --setup s3tiered|file|s3p|s3a|tier-lost]
 * [--s3-server filesystem|memory] [-D key=value ...]}; {@code --profile wan} puts S3 at a region's distance, {@code slow} farther away on a congested link ({@link NetworkProfile});
 * {@code --s3-server memory} runs S3Proxy with its objects in its heap ({@link BenchS3}).
 * Flink's and the file systems' logs go to the file named at the start, not to the terminal.
 *
 * <p>Each storage runs in a JVM of its own (this class again, with {@code --setup}), after the same
 * warm-up and against its own S3 server, and hands its figures back through a file; {@code
 * --same-jvm} runs them one after the other in this JVM instead.
 */
public final class CheckpointBenchmark {

    /*
     * Restored bytes by source. 2.x's batch copy counts restores apart; 1.20 streams each file
     * through open(), counted with the file system's other reads (here also the JobManager's few
     * reads of _metadata, in the same JVM).
     */
    private static final boolean BATCH_COPY = classExists("org.apache.flink.core.fs.PathsCopyingFileSystem");
    private static final String RESTORED_FROM_LOCAL_TIER = BATCH_COPY ? "restoreBytesFromLocalTier" : "bytesServedFromLocalTier";
    private static final String RESTORED_FROM_S3 = BATCH_COPY ? "restoreBytesFromS3" : "bytesDownloaded";

    private static boolean classExists(String name) {
        try {
            Class.forName(name, false, CheckpointBenchmark.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }


    private static final Logger LOG = LoggerFactory.getLogger(CheckpointBenchmark.class);

    private static final Duration TIMEOUT = Duration.ofMinutes(20);
    private static final int PARALLELISM = 2;
    /** Options from "-D key=value" arguments, given to the file systems and the job alike. */
    private static final Map<String, String> EXTRA = new LinkedHashMap<>();
    /** {@code --state}: what each visit does to its key's state. */
    private static StateHeavyJob.StateShape shape = StateHeavyJob.StateShape.LIST;

    /** One storage under test. */
    record Setup(String name, String scheme, boolean tiered, boolean tierLost) {
        Setup(String name, String scheme, boolean tiered) {
            this(name, scheme, tiered, false);
        }

        /** Names exactly one setup ({@code --setup}), unlike {@code --only}'s prefixes. */
        String id() {
            return tierLost ? "tier-lost" : scheme;
        }
    }

    /** What a storage's own JVM hands back to the one that prints the table. */
    record Outcome(Result result, String server) implements Serializable {
    }

    /** What one run measured. */
    record Result(List<Long> checkpointMillis, long checkpointedBytes, long fullStateBytes, double recordsPerSecond,
            List<Long> restoreMillis, long failureToRunningMillis, long restoredFromLocalTier, long restoredFromS3,
            long failedCheckpoints, int restarts, long faultsInjected, String finalState, String failure,
            Map<String, Long> transfer) implements Serializable {

        static Result failed(String why) {
            return new Result(List.of(), 0, 0, 0, List.of(), 0, 0, 0, 0, 0, 0, "-", why, Map.of());
        }

        /** How much a transfer figure of the s3tiered file system grew during the run. */
        long transferDelta(String name) {
            return transfer.getOrDefault(name, 0L);
        }
    }

    /** Restarts allowed and checkpoint failures tolerated in a run with faults; the same for every storage. */
    private static final int FAULT_RUN_RESTARTS = 20;
    private static final int FAULT_RUN_TOLERABLE_FAILED_CHECKPOINTS = 10;

    public static void main(String[] args) throws Exception {
        BenchSupport.julToLogFile();
        // Many small visits rather than few large ones: the job runs long enough for dozens of
        // checkpoints, and the failure comes when the state is large.
        long keys = BenchSupport.longArg(args, "--keys", 500_000);
        int visits = (int) BenchSupport.longArg(args, "--visits", 16);
        int payload = (int) BenchSupport.longArg(args, "--payload", 32);
        double failAt = Double.parseDouble(BenchSupport.arg(args, "--fail-at", "0.85"));
        long intervalMs = BenchSupport.longArg(args, "--interval-ms", 1000);
        String only = BenchSupport.arg(args, "--only", "");
        // set in a storage's own JVM, started by the one that prints the table
        String setupId = BenchSupport.arg(args, "--setup", "");
        String resultFile = BenchSupport.arg(args, "--result-file", "");
        boolean sameJvm = Arrays.asList(args).contains("--same-jvm");
        long warmUpKeys = BenchSupport.longArg(args, "--warm-up-keys", keys / 10);
        double faultRate = Double.parseDouble(BenchSupport.arg(args, "--fault-rate", "0"));
        shape = StateHeavyJob.StateShape.parse(BenchSupport.arg(args, "--state", "list"));
        if (faultRate < 0 || faultRate >= 1) {
            throw new IllegalArgumentException("--fault-rate must be in [0, 1): " + faultRate);
        }
        if (faultRate > 0 && shape == StateHeavyJob.StateShape.VALUE) {
            // before any S3 server starts; StateHeavyJob.build says why
            throw new IllegalArgumentException("--state value cannot be combined with --fault-rate: its final state is not exact");
        }
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("-D")) {
                EXTRA.put(args[i + 1].substring(0, args[i + 1].indexOf('=')), args[i + 1].substring(args[i + 1].indexOf('=') + 1));
            }
        }
        java.nio.file.Path plugins = java.nio.file.Path.of(System.getProperty("bench.plugins", "benchmarks/target/bench-plugins"));

        List<Setup> setups = new ArrayList<>(List.of(
                new Setup("s3tiered (this project)", "s3tiered", true),
                new Setup("file:// (local disk)", "file", false),
                new Setup("flink-s3-fs-presto", "s3p", false),
                new Setup("flink-s3-fs-native", "s3a", false),
                // the same storage with no local copies kept: its restore downloads everything, as
                // on a host whose tier is lost
                new Setup("s3tiered, tier lost", "s3tiered", true, true)));
        if (!Files.isDirectory(plugins.resolve("s3-fs-native"))) {
            // the Flink 1.20 line's build: flink-s3-fs-native exists from 2.x on
            System.err.println("No flink-s3-fs-native plugin in " + plugins + " (it has no release for this Flink line): left out");
            setups.removeIf(s -> s.scheme().equals("s3a"));
        }
        if (!only.isEmpty()) {
            List<String> wanted = Arrays.asList(only.split(","));
            setups.removeIf(s -> wanted.stream().noneMatch(w -> s.name().startsWith(w) || s.scheme().equals(w)
                    || w.equals("tier-lost") && s.tierLost()));
        }
        if (!setupId.isEmpty()) {
            setups.removeIf(s -> !s.id().equals(setupId));
            if (setups.size() != 1) {
                throw new IllegalArgumentException("--setup " + setupId + " names no storage of this run");
            }
        }

        Map<Setup, Result> results = new LinkedHashMap<>();
        NetworkProfile profile = BenchS3.profileArg(args);
        String serverDescription;
        if (setupId.isEmpty() && !sameJvm && setups.size() > 1) {
            // Each storage in a JVM of its own, one after the other, each after the same warm-up and
            // with its own S3 server: in one JVM the storage measured later ran on code the JIT had
            // compiled for the ones before it (file:// made 616-648 k records/s measured first and
            // 676-688 k second), so the order, not the storage, moved the figures.
            serverDescription = runEachInItsOwnJvm(setups, args, results);
        } else {
            serverDescription = runHere(setups, args, results, plugins, profile, keys, visits, payload, intervalMs,
                    failAt, warmUpKeys, faultRate);
        }
        if (!resultFile.isEmpty()) {
            Result r = results.values().iterator().next();
            try (ObjectOutputStream out = new ObjectOutputStream(Files.newOutputStream(java.nio.file.Path.of(resultFile)))) {
                out.writeObject(new Outcome(r, serverDescription));
            }
            return;
        }
        print(results, keys, visits, payload, intervalMs, failAt, serverDescription);
        chart(results, profile.name().toLowerCase(Locale.ROOT) + (shape == StateHeavyJob.StateShape.VALUE ? "-value" : "")
                + (faultRate > 0 ? "-faults" : ""));
        if (faultRate > 0) {
            printFaults(results, faultRate);
        }
    }

    /**
     * Runs each setup in a JVM of its own (this class with {@code --setup}), with this JVM's
     * options and class path, and collects what each measured. Returns the S3 server's description.
     */
    private static String runEachInItsOwnJvm(List<Setup> setups, String[] args, Map<Setup, Result> results)
            throws IOException, InterruptedException {
        String javaCommand = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String log = System.getProperty("bench.log");
        String server = "S3 server unknown (no storage's JVM finished)";
        for (Setup setup : setups) {
            java.nio.file.Path resultFile = Files.createTempFile("s3tiered-bench-" + setup.id(), ".result");
            try {
                List<String> cmd = new ArrayList<>(List.of(javaCommand));
                for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                    if (PER_PROCESS_OPTIONS.stream().anyMatch(a::startsWith)) {
                        continue; // a debugger port or a recording file the parent holds already
                    }
                    cmd.add(a.startsWith("-Dbench.log=") && log != null ? "-Dbench.log=" + perSetupLog(log, setup) : a);
                }
                cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), CheckpointBenchmark.class.getName()));
                cmd.addAll(Arrays.asList(args));
                cmd.addAll(List.of("--setup", setup.id(), "--result-file", resultFile.toString()));
                System.err.printf("%n== %s, in a JVM of its own%s%n", setup.name(),
                        log == null ? "" : " (log: " + perSetupLog(log, setup) + ")");
                ProcessBuilder child = new ProcessBuilder(cmd).inheritIO();
                // already among the arguments above; the JVM would apply them a second time
                child.environment().remove("JDK_JAVA_OPTIONS");
                child.environment().remove("JAVA_TOOL_OPTIONS");
                Process p = child.start();
                int exit = p.waitFor();
                if (exit != 0 || Files.size(resultFile) == 0) {
                    results.put(setup, Result.failed("its JVM exited with code " + exit + " (see its log)"));
                    continue;
                }
                try (ObjectInputStream in = new ObjectInputStream(Files.newInputStream(resultFile))) {
                    Outcome outcome = (Outcome) in.readObject();
                    results.put(setup, outcome.result());
                    server = outcome.server();
                } catch (IOException | ClassNotFoundException | ClassCastException e) {
                    // a JVM that died while writing it: this storage failed, the others still count
                    results.put(setup, Result.failed("its result cannot be read (" + e + ")"));
                }
            } finally {
                Files.deleteIfExists(resultFile);
            }
        }
        return server;
    }

    /** JVM options naming a resource of the parent's that a child would clash with. */
    private static final List<String> PER_PROCESS_OPTIONS = List.of("-agentlib:jdwp", "-XX:StartFlightRecording",
            "-XX:FlightRecorderOptions", "-Xlog:", "-XX:HeapDumpPath");

    /** bench-checkpoint.log becomes bench-checkpoint-s3tiered.log. */
    private static String perSetupLog(String log, Setup setup) {
        int dot = log.lastIndexOf('.');
        return dot > log.lastIndexOf('/') ? log.substring(0, dot) + "-" + setup.id() + log.substring(dot) : log + "-" + setup.id();
    }

    /** Runs the setups one after the other in this JVM, against one S3 server. Returns its description. */
    private static String runHere(List<Setup> setups, String[] args, Map<Setup, Result> results, java.nio.file.Path plugins,
            NetworkProfile profile, long keys, int visits, int payload, long intervalMs,
            double failAt, long warmUpKeys, double faultRate) throws Exception {
        System.err.println("Logs: " + System.getProperty("bench.log", "(console)"));
        java.nio.file.Path work = Files.createTempDirectory("s3tiered-checkpoint-bench");
        String serverDescription;
        try (BenchS3 bench = BenchS3.start(profile, faultRate > 0, BenchS3.inMemoryArg(args))) {
            S3TestServer server = bench.server();
            FaultInjectingProxy proxy = bench.proxy();
            S3TestServer s3 = bench.s3();
            serverDescription = bench.describe();
            Configuration fsConf = fileSystemConfig(s3, work);
            PluginManager pm = new DefaultPluginManager(new DirectoryBasedPluginFinder(plugins).findPlugins(),
                    CoreOptions.getPluginParentFirstLoaderPatterns(fsConf));
            FileSystem.initialize(fsConf, pm);
            System.err.printf("S3 server %s; job: %d keys x %d visits x %d B payload, parallelism %d, interval %d ms%s%n",
                    s3, keys, visits, payload, PARALLELISM, intervalMs,
                    proxy == null ? "" : String.format(Locale.ROOT, "; %.0f%% of S3 requests fail", faultRate * 100));
            if (faultRate == 0 && keys >= 10) {
                // A short run first, its figures dropped: the storage measured first must not pay for
                // the JIT warming up the job, RocksDB's JNI paths and the MiniCluster.
                System.err.printf("%n== warm-up: the job with %d keys on file://%n", warmUpKeys);
                run(new Setup("warm-up", "file", false), work.resolve("warm-up").toUri().toString(), fsConf, warmUpKeys,
                        visits, payload, intervalMs, failAt, false, server);
            }
            for (Setup setup : setups) {
                String dir = setup.scheme().equals("file")
                        ? work.resolve("file-checkpoints").toUri().toString()
                        : setup.scheme() + "://" + s3.bucket() + "/" + server.runPrefix() + "/checkpoint-bench/" + setup.scheme()
                                + (setup.tierLost() ? "-tier-lost" : "");
                if (setup.tierLost()) {
                    Configuration cold = new Configuration(fsConf);
                    cold.setString("s3tiered.local.enabled", "false");
                    FileSystem.initialize(cold, pm);
                }
                System.err.printf("%n== %s: %s%n", setup.name(), dir);
                if (faultRate > 0) {
                    injectFaults(proxy, faultRate);
                    profile.applyTo(proxy);
                }
                Result r;
                try {
                    r = run(setup, dir, fsConf, keys, visits, payload, intervalMs, failAt, faultRate > 0, server);
                } catch (Exception e) {
                    LOG.error("{} failed", setup.name(), e);
                    r = Result.failed(e.toString());
                }
                if (faultRate > 0) {
                    r = withFaults(r, proxy.faults(FaultAction.RESPOND_ERROR) + proxy.faults(FaultAction.RESET_BEFORE_RESPONSE)
                            + proxy.faults(FaultAction.RESET_AFTER_RESPONSE_BYTES) + proxy.faults(FaultAction.STALL_RESPONSE));
                }
                // the storage's verification of the last checkpoints and deletes of failed ones run on after the
                // job: let them end while the file system they use is still registered
                io.github.s3tiered.checkpoint.CheckpointBackgroundWork.awaitIdle(java.time.Duration.ofSeconds(60));
                if (setup.tierLost()) {
                    FileSystem.initialize(fsConf, pm);
                }
                results.put(setup, r);
                System.err.printf("%s: %s%n", setup.name(), r);
            }
        } finally {
            FileSystem.initialize(new Configuration(), null);
            BenchSupport.deleteRecursively(work);
        }
        return serverDescription;
    }

    /** The same faults, with the same seeds, for every storage: each kind a fifth of the rate. */
    private static void injectFaults(FaultInjectingProxy proxy, double rate) {
        proxy.clearRules();
        proxy.resetCounters();
        double each = rate / 5;
        proxy.inject(FaultRule.onAny().withProbability(each, 1).slowDown());
        proxy.inject(FaultRule.onAny().withProbability(each, 2).internalError());
        proxy.inject(FaultRule.onAny().withProbability(each, 3).resetBeforeResponse());
        proxy.inject(FaultRule.on(S3Operation.GET_OBJECT, S3Operation.GET_OBJECT_RANGE).withProbability(each, 4)
                .resetAfterResponseBytes(1024));
        proxy.inject(FaultRule.onAny().withProbability(each, 5).stallResponse(Duration.ofSeconds(1)));
    }

    private static Result withFaults(Result r, long faults) {
        return new Result(r.checkpointMillis(), r.checkpointedBytes(), r.fullStateBytes(), r.recordsPerSecond(),
                r.restoreMillis(), r.failureToRunningMillis(), r.restoredFromLocalTier(), r.restoredFromS3(),
                r.failedCheckpoints(), r.restarts(), faults, r.finalState(), r.failure(), r.transfer());
    }

    private static Configuration fileSystemConfig(S3TestServer s3, java.nio.file.Path work) throws Exception {
        Configuration conf = new Configuration();
        s3.flinkS3Config().forEach(conf::setString);
        // flink-s3-fs-native against S3-compatible stores (see the shared verified facts).
        conf.setString("s3.checksum-validation.enabled", "false");
        conf.setString("s3.chunked-encoding.enabled", "false");
        conf.setString("s3tiered.local.dir", work.resolve("local-tier").toString());
        // RocksDB's working directories on the local tier's volume, so that restores hard-link.
        conf.setString("io.tmp.dirs", Files.createDirectories(work.resolve("tmp")).toString());
        EXTRA.forEach(conf::setString);
        return conf;
    }

    private static Result run(Setup setup, String dir, Configuration fsConf, long keys, int visits, int payload,
            long intervalMs, double failAt, boolean faults, S3TestServer server) throws Exception {
        Configuration clusterConf = new Configuration(fsConf);
        clusterConf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("512m"));
        clusterConf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        clusterConf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, faults ? FAULT_RUN_RESTARTS : 1);
        clusterConf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        clusterConf.set(WebOptions.CHECKPOINTS_HISTORY_SIZE, 10_000);

        Configuration jobConf = new Configuration();
        jobConf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir);
        jobConf.set(CheckpointingOptions.CHECKPOINT_STORAGE,
                setup.tiered() ? TieredCheckpointStorageFactory.class.getName() : "filesystem");
        jobConf.set(StateBackendOptions.STATE_BACKEND, TieredRocksDBStateBackendFactory.class.getName());
        jobConf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        jobConf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(intervalMs));
        jobConf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        jobConf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        if (faults) {
            jobConf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, FAULT_RUN_TOLERABLE_FAILED_CHECKPOINTS);
        }
        EXTRA.forEach(jobConf::setString);
        FinalStates.clear();

        try (MiniCluster cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(clusterConf).setNumTaskManagers(1).setNumSlotsPerTaskManager(PARALLELISM).build())) {
            cluster.start();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
            env.setParallelism(PARALLELISM);
            long records = keys * visits;
            StateHeavyJob.build(env, shape, keys, visits, payload, (long) (records * failAt), faults);

            Map<String, Long> before = transfer(dir);
            System.gc(); // each run's peaks start from the same live heap
            MemorySampler memory = new MemorySampler();
            long jvmCpuBefore = jvmCpuMillis();
            long s3CpuBefore = server.processCpuTime().map(Duration::toMillis).orElse(-1L);
            long start = System.currentTimeMillis();
            JobID job = JobRunner.submit(cluster, env);
            JobResult result = JobRunner.await(cluster, job, TIMEOUT, c -> System.err.println("  " + JobRunner.describe(c)));
            long seconds = System.currentTimeMillis() - start;
            memory.close();
            long jvmCpu = jvmCpuMillis() - jvmCpuBefore;
            long s3CpuAfter = server.processCpuTime().map(Duration::toMillis).orElse(-1L);
            long s3Cpu = s3CpuBefore < 0 || s3CpuAfter < s3CpuBefore ? -1 : s3CpuAfter - s3CpuBefore; // -1: unknown
            Map<String, Long> after = new LinkedHashMap<>(transfer(dir));
            after.put("jvmCpuMillis", jvmCpu);
            after.put("s3ServerCpuMillis", s3Cpu);
            after.put("wallMillis", seconds);
            after.put("peakHeapBytes", memory.peakHeapBytes());
            after.put("peakDirectBytes", memory.peakDirectBytes());
            if (!result.isSuccess()) {
                result.getSerializedThrowable().ifPresent(t -> LOG.error("The job failed: {}", t.getFullStringifiedStackTrace()));
                throw new IllegalStateException("job failed: " + result.getSerializedThrowable()
                        .map(t -> t.getOriginalErrorClassName() + ": " + t.getMessage()).orElse("?") + " (stack trace in the log)");
            }
            AccessExecutionGraph graph = cluster.getArchivedExecutionGraph(job).get();
            List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(cluster, job);
            List<Long> durations = done.stream().map(CompletedCheckpointStats::getEndToEndDuration).toList();
            after.put("phaseSyncP50", phaseP50(done, t -> t.getSummaryStats().getSyncCheckpointDurationStats().getMaximum()));
            after.put("phaseAsyncP50", phaseP50(done, t -> t.getSummaryStats().getAsyncCheckpointDurationStats().getMaximum()));
            after.put("phaseAlignmentP50", phaseP50(done, t -> t.getSummaryStats().getAlignmentDurationStats().getMaximum()));
            after.put("phaseStartDelayP50", phaseP50(done, t -> t.getSummaryStats().getCheckpointStartDelayStats().getMaximum()));
            long checkpointed = done.stream().mapToLong(CompletedCheckpointStats::getCheckpointedSize).sum();
            long fullState = done.isEmpty() ? 0 : done.get(done.size() - 1).getStateSize();
            List<Long> restores = RestoreTimings.since(start).stream()
                    .filter(r -> r.attempt() > 0)
                    .map(r -> r.downloadMs() + r.restoreMs())
                    .toList();
            long failedCheckpoints = graph.getCheckpointStatsSnapshot() == null ? 0
                    : graph.getCheckpointStatsSnapshot().getCounts().getNumberOfFailedCheckpoints();
            // What the restore had to bring back: a storage whose checkpoints lag restores an older,
            // smaller checkpoint, so restore times compare only alongside this.
            org.apache.flink.runtime.checkpoint.RestoredCheckpointStats restored = graph.getCheckpointStatsSnapshot() == null
                    ? null : graph.getCheckpointStatsSnapshot().getLatestRestoredCheckpoint();
            after.put("restoredStateBytes", restored == null ? 0 : restored.getStateSize());
            int restarts = 0;
            for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
                restarts = Math.max(restarts, v.getCurrentExecutionAttempt().getAttemptNumber());
            }
            return new Result(durations, checkpointed, fullState, records * 1000.0 / seconds, restores,
                    failureToRunning(graph), after.getOrDefault(RESTORED_FROM_LOCAL_TIER, 0L) - before.getOrDefault(RESTORED_FROM_LOCAL_TIER, 0L),
                    after.getOrDefault(RESTORED_FROM_S3, 0L) - before.getOrDefault(RESTORED_FROM_S3, 0L),
                    failedCheckpoints, restarts, 0, faults ? FinalStates.check(keys, visits, payload) : "-", null,
                    delta(before, after));
        }
    }

    /** CPU time of this JVM so far: the job, Flink, the file systems, and the shaping proxy if any. */
    private static long jvmCpuMillis() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() / 1_000_000 : -1;
    }

    /**
     * From the injected failure (the failed attempt's FAILED timestamp) until the last task of the
     * restarted attempt was RUNNING: what an operator sees as downtime, including the state restore.
     */
    static long failureToRunning(AccessExecutionGraph graph) {
        long failedAt = Long.MAX_VALUE;
        long allRunningAt = 0;
        for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
            for (AccessExecution old : v.getExecutionHistory().getHistoricalExecutions()) {
                long t = old.getStateTimestamp(ExecutionState.FAILED);
                if (t > 0) {
                    failedAt = Math.min(failedAt, t);
                }
            }
            AccessExecution current = v.getCurrentExecutionAttempt();
            if (current.getAttemptNumber() > 0) {
                allRunningAt = Math.max(allRunningAt, current.getStateTimestamp(ExecutionState.RUNNING));
            }
        }
        return failedAt == Long.MAX_VALUE || allRunningAt == 0 ? -1 : allRunningAt - failedAt;
    }

    /** The median over checkpoints of the slowest task's figure (e.g. its async duration). */
    private static long phaseP50(List<CompletedCheckpointStats> done,
            java.util.function.ToLongFunction<org.apache.flink.runtime.checkpoint.TaskStateStats> figure) {
        List<Long> perCheckpoint = new ArrayList<>();
        for (CompletedCheckpointStats c : done) {
            perCheckpoint.add(c.getAllTaskStateStats().stream().mapToLong(figure).max().orElse(0));
        }
        return perCheckpoint.isEmpty() ? 0 : pct(perCheckpoint, 50);
    }

    private static Map<String, Long> delta(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> d = new java.util.LinkedHashMap<>();
        after.forEach((k, v) -> d.put(k, v - before.getOrDefault(k, 0L)));
        return d;
    }

    /** The s3tiered file system's transfer figures (empty for other file systems). */
    private static Map<String, Long> transfer(String dir) {
        try {
            Optional<S3TieredBridge> bridge = S3TieredBridge.of(new Path(dir));
            if (bridge.isEmpty()) {
                return Map.of();
            }
            S3TieredBridge.TransferFigures f = bridge.get().transferMetrics();
            Map<String, Long> m = new java.util.LinkedHashMap<>(f.figures());
            f.requests().forEach((op, n) -> m.put("req:" + op, n));
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the s3tiered transfer figures of " + dir, e);
        }
    }

    /** The table's timings as two charts: checkpoint end-to-end, and state restore per subtask. */
    private static void chart(Map<Setup, Result> results, String profile) {
        BenchCharts.Bars checkpoints = new BenchCharts.Bars("Checkpoint end-to-end, " + profile, "ms", List.of("p50", "p95"));
        BenchCharts.Bars restores = new BenchCharts.Bars("State restore per subtask, " + profile, "ms", List.of("avg", "max"));
        results.forEach((setup, r) -> {
            if (r.failure() != null) {
                return;
            }
            checkpoints.row(setup.name(), pct(r.checkpointMillis(), 50), pct(r.checkpointMillis(), 95));
            if (!r.restoreMillis().isEmpty()) {
                restores.row(setup.name(), avg(r.restoreMillis()),
                        r.restoreMillis().stream().mapToLong(Long::longValue).max().orElseThrow());
            }
        });
        BenchCharts.write(BenchCharts.name("checkpoint", profile, "latency"), checkpoints);
        BenchCharts.write(BenchCharts.name("checkpoint", profile, "restore"), restores);
    }

    /** Whether the job ran on the RocksDB backend the benchmark sets, not one chosen with -D state.backend.type. */
    private static boolean rocksDb() {
        String chosen = EXTRA.get(StateBackendOptions.STATE_BACKEND.key());
        return chosen == null || chosen.equalsIgnoreCase("rocksdb") || chosen.equals(TieredRocksDBStateBackendFactory.class.getName());
    }

    private static void print(Map<Setup, Result> results, long keys, int visits, int payload, long intervalMs, double failAt,
            String server) {
        System.out.printf(Locale.ROOT, "%nFlink %s. Job: %d keys x %d visits x %d B payload (%s), parallelism %d, %s, "
                + "checkpoint every %d ms, one injected failure at %.0f%% of the input; %s%s.%n%n",
                org.apache.flink.runtime.util.EnvironmentInformation.getVersion(), keys, visits, payload,
                shape == StateHeavyJob.StateShape.VALUE ? "ValueState, each visit overwrites" : "ListState", PARALLELISM,
                rocksDb() ? "RocksDB incremental" : "state backend " + EXTRA.get(StateBackendOptions.STATE_BACKEND.key()),
                intervalMs, failAt * 100, server, EXTRA.isEmpty() ? "" : "; options set with -D: " + EXTRA);
        System.out.println("| storage | checkpoints | end-to-end p50 / p95 / max (ms) | records/s | checkpointed (uploaded) | "
                + "final state | state restore per subtask avg / max (ms) | restored checkpoint's state | failure to all tasks running (ms) "
                + "| restored from local tier / S3 |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (Map.Entry<Setup, Result> e : results.entrySet()) {
            Result r = e.getValue();
            if (r.failure() != null) {
                System.out.printf("| %s | FAILED: %s |%n", e.getKey().name(), r.failure());
                continue;
            }
            // A run too short for the failure (it needs a completed checkpoint first) has no restore;
            // the restore's durations are RocksDB's metrics, which another backend does not report.
            String restore = r.restoreMillis().isEmpty() ? (rocksDb() ? "no restore" : "not measured (not RocksDB)")
                    : String.format(Locale.ROOT, "%.0f / %d", avg(r.restoreMillis()),
                            r.restoreMillis().stream().mapToLong(Long::longValue).max().orElseThrow());
            System.out.printf(Locale.ROOT, "| %s | %d | %d / %d / %d | %.0f | %s | %s | %s | %s | %s | %s |%n",
                    e.getKey().name(), r.checkpointMillis().size(), pct(r.checkpointMillis(), 50), pct(r.checkpointMillis(), 95),
                    pct(r.checkpointMillis(), 100), r.recordsPerSecond(), mib(r.checkpointedBytes()), mib(r.fullStateBytes()),
                    restore, r.restoreMillis().isEmpty() ? "-" : mib(r.transferDelta("restoredStateBytes")),
                    r.failureToRunningMillis() < 0 ? "-" : Long.toString(r.failureToRunningMillis()),
                    e.getKey().tiered() ? mib(r.restoredFromLocalTier()) + " / " + mib(r.restoredFromS3()) : "-");
        }
        Result tiered = find(results, "s3tiered");
        Result file = find(results, "file");
        Result presto = find(results, "s3p");
        Result nativeFs = find(results, "s3a");
        Result tierLost = results.entrySet().stream().filter(e -> e.getKey().tierLost() && e.getValue().failure() == null)
                .map(Map.Entry::getValue).findFirst().orElse(null);
        // the S3 peers this run has: both on 2.x, presto alone on 1.20 (no native release)
        List<Result> peers = new ArrayList<>();
        if (presto != null) {
            peers.add(presto);
        }
        if (nativeFs != null) {
            peers.add(nativeFs);
        }
        boolean nativeExpected = results.keySet().stream().anyMatch(s -> s.scheme().equals("s3a"));
        if (tiered == null || file == null || presto == null || nativeExpected && nativeFs == null) {
            return;
        }
        int checkpoints = Math.max(1, tiered.checkpointMillis().size());
        System.out.printf(Locale.ROOT, "%ns3tiered pre-upload: %d SST files (%s) uploaded ahead of checkpoints, %d checkpoint uploads (%s)"
                        + " referred to them instead; SHA-256 %d ms of CPU; %d S3 requests in all, %.1f per checkpoint per subtask"
                        + " (PUT %d, multipart parts %d, GET %d, HEAD %d, LIST %d, DELETE %d)%n",
                tiered.transferDelta("preUploads"), mib(tiered.transferDelta("preUploadedBytes")),
                tiered.transferDelta("deduplicatedUploads"), mib(tiered.transferDelta("deduplicatedBytes")),
                tiered.transferDelta("contentHashMillis"), tiered.transferDelta("requests"),
                tiered.transferDelta("requests") / (double) checkpoints / PARALLELISM,
                requests(tiered, "PutObject"), requests(tiered, "UploadPart"), requests(tiered, "GetObject"),
                requests(tiered, "HeadObject"), requests(tiered, "ListObjectsV2"),
                requests(tiered, "DeleteObject") + requests(tiered, "DeleteObjects"));
        long bestPeerP50 = peers.stream().mapToLong(r -> pct(r.checkpointMillis(), 50)).min().orElseThrow();
        // the nearest-rank p95 of fewer than 20 checkpoints is the slowest one: compared with another count's, it
        // would set one storage's slowest checkpoint against another's second or third slowest
        boolean fewCheckpoints = tiered.checkpointMillis().size() < P95_MIN_CHECKPOINTS
                || peers.stream().anyMatch(r -> r.checkpointMillis().size() < P95_MIN_CHECKPOINTS);
        int tailRank = fewCheckpoints ? 100 : 95;
        long bestPeerP95 = peers.stream().mapToLong(r -> pct(r.checkpointMillis(), tailRank)).min().orElseThrow();
        long p50 = pct(tiered.checkpointMillis(), 50);
        long p95 = pct(tiered.checkpointMillis(), tailRank);
        System.out.printf(Locale.ROOT, "%nTarget checkpoint p50 <= 0.5x best S3 peer's: %d vs 0.5 x %d = %.0f ms (%.2fx) -> %s%n",
                p50, bestPeerP50, 0.5 * bestPeerP50, (double) p50 / bestPeerP50, p50 <= 0.5 * bestPeerP50 ? "MET" : "NOT MET");
        long fileP50 = pct(file.checkpointMillis(), 50);
        System.out.printf(Locale.ROOT, "Target checkpoint p50 <= 1.1x file://'s: %d vs 1.1 x %d = %.0f ms (%.2fx) -> %s%n",
                p50, fileP50, 1.1 * fileP50, (double) p50 / fileP50, p50 <= 1.1 * fileP50 ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "Target checkpoint p95 <= 0.6x best S3 peer's%s: %d vs 0.6 x %d = %.0f ms (%.2fx) -> %s%n",
                fewCheckpoints ? String.format(Locale.ROOT, " (fewer than %d checkpoints: %s; slowest against slowest)",
                        P95_MIN_CHECKPOINTS, results.entrySet().stream().filter(e -> e.getValue().failure() == null
                                        && !e.getKey().scheme().equals("file") && !e.getKey().tierLost())
                                .map(e -> e.getKey().name() + " " + e.getValue().checkpointMillis().size())
                                .collect(java.util.stream.Collectors.joining(", "))) : "",
                p95, bestPeerP95, 0.6 * bestPeerP95, (double) p95 / bestPeerP95, p95 <= 0.6 * bestPeerP95 ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "Target records/s >= 0.97x file://'s: %.0f vs 0.97 x %.0f = %.0f (%.2fx) -> %s%n",
                tiered.recordsPerSecond(), file.recordsPerSecond(), 0.97 * file.recordsPerSecond(),
                tiered.recordsPerSecond() / file.recordsPerSecond(),
                tiered.recordsPerSecond() >= 0.97 * file.recordsPerSecond() ? "MET" : "NOT MET");
        // a run too short for the failure has no restore to compare
        Result bestPeer = peers.stream().filter(r -> !r.restoreMillis().isEmpty())
                .min(java.util.Comparator.comparingDouble(r -> avg(r.restoreMillis()))).orElse(null);
        if (bestPeer == null || tiered.restoreMillis().isEmpty()) {
            System.out.println(rocksDb() ? "Targets of the state restore: no restore to compare (a run too short for the injected failure)"
                    : "Targets of the state restore: not measured (the restore's durations are RocksDB's metrics)");
        } else {
            printRestoreTargets(tiered, tierLost, bestPeer);
        }
        System.out.printf(Locale.ROOT, "Checkpoint phases, p50 of the slowest task's (ms), start delay / alignment / sync / async:%s%n",
                results.entrySet().stream().filter(e -> e.getValue().failure() == null)
                        .map(e -> String.format(Locale.ROOT, " %s %d / %d / %d / %d", e.getKey().name(),
                                e.getValue().transferDelta("phaseStartDelayP50"), e.getValue().transferDelta("phaseAlignmentP50"),
                                e.getValue().transferDelta("phaseSyncP50"), e.getValue().transferDelta("phaseAsyncP50")))
                        .collect(java.util.stream.Collectors.joining(";")));
        System.out.printf(Locale.ROOT, "CPU during each run, s (the JVM running the job: job, Flink, file systems, any proxy in front"
                        + " of S3 / the S3 server's process), of %d cores x the run's wall time:%s%n",
                Runtime.getRuntime().availableProcessors(),
                results.entrySet().stream().filter(e -> e.getValue().failure() == null)
                        .map(e -> String.format(Locale.ROOT, " %s %.1f / %s of %.1f", e.getKey().name(),
                                e.getValue().transferDelta("jvmCpuMillis") / 1000.0,
                                e.getValue().transferDelta("s3ServerCpuMillis") < 0 ? "?"
                                        : String.format(Locale.ROOT, "%.1f", e.getValue().transferDelta("s3ServerCpuMillis") / 1000.0),
                                Runtime.getRuntime().availableProcessors() * e.getValue().transferDelta("wallMillis") / 1000.0))
                        .collect(java.util.stream.Collectors.joining(";")));
        System.out.printf(Locale.ROOT, "Peak memory of the JVM running the job during each run (heap used after the run's GCs / direct buffers):%s%n",
                results.entrySet().stream().map(e -> String.format(Locale.ROOT, " %s %s / %s", e.getKey().name(),
                        mib(e.getValue().transferDelta("peakHeapBytes")), mib(e.getValue().transferDelta("peakDirectBytes"))))
                        .collect(java.util.stream.Collectors.joining(";")));
    }

    private static void printRestoreTargets(Result tiered, Result tierLost, Result bestPeer) {
        double restore = avg(tiered.restoreMillis());
        double bestPeerRestore = avg(bestPeer.restoreMillis());
        System.out.printf(Locale.ROOT, "Target state restore per subtask (local tier) <= 0.15x best S3 peer's: %.0f vs 0.15 x %.0f = %.0f ms "
                        + "(%.2fx) -> %s%s%n", restore, bestPeerRestore, 0.15 * bestPeerRestore, restore / bestPeerRestore,
                restore <= 0.15 * bestPeerRestore ? "MET" : "NOT MET", perRestoredByte(tiered, bestPeer));
        if (tierLost != null && !tierLost.restoreMillis().isEmpty()) {
            double cold = avg(tierLost.restoreMillis());
            System.out.printf(Locale.ROOT, "Target state restore per subtask (tier lost) <= 0.5x best S3 peer's: %.0f vs 0.5 x %.0f = %.0f ms "
                            + "(%.2fx) -> %s%s%n", cold, bestPeerRestore, 0.5 * bestPeerRestore, cold / bestPeerRestore,
                    cold <= 0.5 * bestPeerRestore ? "MET" : "NOT MET", perRestoredByte(tierLost, bestPeer));
        }
    }

    /**
     * The restore ratio per byte of the checkpoint each restored, when their sizes differ by more
     * than a tenth (a storage whose checkpoints lag behind restores an older, smaller one).
     */
    private static String perRestoredByte(Result r, Result peer) {
        long mine = r.transferDelta("restoredStateBytes");
        long theirs = peer.transferDelta("restoredStateBytes");
        if (mine <= 0 || theirs <= 0 || Math.abs(mine - theirs) <= 0.1 * Math.max(mine, theirs)) {
            return "";
        }
        double ratio = (avg(r.restoreMillis()) / mine) / (avg(peer.restoreMillis()) / theirs);
        return String.format(Locale.ROOT, " (restored checkpoints of %s vs %s: per byte restored %.2fx)", mib(mine), mib(theirs), ratio);
    }

    /** S3 requests of one operation the s3tiered file system sent during the run (the bridge counts them). */
    private static long requests(Result r, String operation) {
        return r.transferDelta("req:" + operation);
    }

    private static void printFaults(Map<Setup, Result> results, double rate) {
        System.out.printf(Locale.ROOT, "%nThe same job with %.0f%% of S3 requests failing at a proxy (503 SlowDown, 500, reset before or "
                + "during the response, 1 s stall; same seeds for every storage); %d restarts allowed, %d failed checkpoints "
                + "tolerated; file:// does not go through S3.%n%n", rate * 100, FAULT_RUN_RESTARTS, FAULT_RUN_TOLERABLE_FAILED_CHECKPOINTS);
        System.out.println("| storage | S3 faults injected | checkpoints completed / failed | restarts | end-to-end p50 / p95 (ms) | final state |");
        System.out.println("|---|---|---|---|---|---|");
        for (Map.Entry<Setup, Result> e : results.entrySet()) {
            Result r = e.getValue();
            if (r.failure() != null) {
                System.out.printf("| %s | %d | job FAILED: %s | | | |%n", e.getKey().name(), r.faultsInjected(), r.failure());
                continue;
            }
            System.out.printf(Locale.ROOT, "| %s | %s | %d / %d | %d | %d / %d | %s |%n", e.getKey().name(),
                    e.getKey().scheme().equals("file") ? "-" : Long.toString(r.faultsInjected()),
                    r.checkpointMillis().size(), r.failedCheckpoints(), r.restarts(),
                    pct(r.checkpointMillis(), 50), pct(r.checkpointMillis(), 95), r.finalState());
        }
    }

    private static Result find(Map<Setup, Result> results, String scheme) {
        return results.entrySet().stream().filter(e -> e.getKey().scheme().equals(scheme) && !e.getKey().tierLost()
                        && e.getValue().failure() == null)
                .map(Map.Entry::getValue).findFirst().orElse(null);
    }

    private static double avg(List<Long> v) {
        return v.stream().mapToLong(Long::longValue).average().orElse(Double.NaN);
    }

    /** Below this many checkpoints a nearest-rank p95 is the maximum. */
    static final int P95_MIN_CHECKPOINTS = 20;

    /** Nearest-rank percentile; 100 is the maximum. */
    static long pct(List<Long> values, int p) {
        if (values.isEmpty()) {
            return -1;
        }
        long[] s = values.stream().mapToLong(Long::longValue).sorted().toArray();
        int rank = (int) Math.ceil(p / 100.0 * s.length);
        return s[Math.max(0, Math.min(s.length - 1, rank - 1))];
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
