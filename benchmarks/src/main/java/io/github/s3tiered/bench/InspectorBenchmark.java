package io.github.s3tiered.bench;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.metadata.OperatorIds;
import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.util.WrappingProxy;

import java.io.DataOutputStream;
import java.lang.reflect.Method;
import java.net.URI;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Validation cost of the recovery inspector on s3tiered:// (plugin) against S3Proxy: a checkpoint
 * whose metadata references 1,000 or 10,000 real objects (written through the file system, each
 * with its recorded CRC32C). The metadata is built with Flink's own classes (incremental RocksDB
 * handles, 10 subtasks) and written with Flink's own serializer, as a checkpoint of that many SST
 * files would be. Counts the S3 requests the file system sent. Prints a table.
 *
 * <p>Usage: {@code bash benchmarks/run.sh inspector [--files 1000,10000] [--deep-files 1000]}
 */
public final class InspectorBenchmark {

    private static final int SUBTASKS = 10;
    private static final int FILE_BYTES = 512;

    record Row(String what, int files, long millis, long s3Requests, long inspectorCalls, String verdict) {}

    public static void main(String[] args) throws Exception {
        int[] sizes = Arrays.stream(BenchSupport.arg(args, "--files", "1000,10000").split(",")).mapToInt(Integer::parseInt).toArray();
        int deepFiles = Integer.parseInt(BenchSupport.arg(args, "--deep-files", "1000"));
        java.nio.file.Path plugins = java.nio.file.Path.of(System.getProperty("bench.plugins", "benchmarks/target/bench-plugins"));
        java.nio.file.Path work = Files.createTempDirectory("s3tiered-inspector-bench");
        List<Row> rows = new ArrayList<>();
        try (S3TestServer s3 = S3TestServer.start()) {
            Configuration conf = new Configuration();
            s3.flinkS3Config().forEach(conf::setString);
            conf.setString("s3tiered.local.dir", work.resolve("local-tier").toString());
            // Validation must see S3 as a restoring JobManager on another host would: no local copies.
            conf.setString("s3tiered.local.enabled", "false");
            java.nio.file.Path onlyTiered = Files.createDirectories(work.resolve("plugins"));
            copyPlugin(plugins.resolve("s3tiered"), onlyTiered.resolve("s3tiered"));
            FileSystem.initialize(conf, new DefaultPluginManager(new DirectoryBasedPluginFinder(onlyTiered).findPlugins(),
                    CoreOptions.getPluginParentFirstLoaderPatterns(conf)));
            CheckpointInspector inspector = new CheckpointInspector(InspectorBenchmark.class.getClassLoader());
            for (int files : sizes) {
                Path jobDir = new Path("s3tiered://" + s3.bucket() + "/" + s3.runPrefix() + "/inspector-bench-" + files + "/" + new JobID());
                System.err.printf("Writing a checkpoint of %d files under %s ...%n", files, jobDir);
                Path checkpoint = writeCheckpoint(jobDir, files);
                inspector.validate(checkpoint, false); // warm-up: class loading, connections
                // What one listing of the directory costs on this server, whoever asks for it.
                rows.add(measure("list shared/ only (baseline)", files, jobDir, () -> jobDir.getFileSystem().listStatus(new Path(jobDir, "shared"))));
                rows.add(measure("validate", files, checkpoint, () -> inspector.validate(checkpoint, false)));
                rows.add(measure("restore-point (job dir)", files, jobDir, () -> inspector.restorePoint(jobDir, false)));
                if (files <= deepFiles) {
                    rows.add(measure("validate --deep", files, checkpoint, () -> inspector.validate(checkpoint, true)));
                }
            }
        } finally {
            FileSystem.initialize(new Configuration(), null);
            BenchSupport.deleteRecursively(work);
        }
        System.out.printf(Locale.ROOT, "%nRecovery inspector on s3tiered:// against S3Proxy (loopback); one checkpoint, %d subtasks, "
                + "%d B files; requests = S3 requests the file system sent%n%n", SUBTASKS, FILE_BYTES);
        System.out.println("| operation | referenced files | time (ms) | S3 requests | inspector file-system calls | verdict |");
        System.out.println("|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %,d | %d | %d | %d | %s |%n", r.what(), r.files(), r.millis(), r.s3Requests(),
                    r.inspectorCalls(), r.verdict());
        }
        System.out.println();
        for (Row r : rows) {
            if (r.what().equals("validate")) {
                // the metadata is one HEAD/list plus one GET; everything else must be listing pages
                long allowed = (long) Math.ceil(r.files() / 1000.0) + 3;
                System.out.printf(Locale.ROOT, "Target validate %,d files: <= %d requests (1 per 1,000 files + metadata) and < 2 s: "
                                + "%d requests, %d ms -> %s%n", r.files(), allowed, r.s3Requests(), r.millis(),
                        r.s3Requests() <= allowed && r.millis() < 2000 ? "MET" : "NOT MET");
            }
        }
    }

    private interface Action {
        Object run() throws Exception;
    }

    private static Row measure(String what, int files, Path path, Action action) throws Exception {
        long before = s3Requests(path);
        long start = System.nanoTime();
        Object result = action.run();
        long millis = (System.nanoTime() - start) / 1_000_000;
        long requests = s3Requests(path) - before;
        String verdict;
        long calls;
        if (result instanceof Validation v) {
            verdict = v.verdict().toString();
            calls = v.requests().total();
        } else if (result instanceof org.apache.flink.core.fs.FileStatus[] listing) {
            verdict = listing.length + " entries";
            calls = 1;
        } else {
            RestorePoint rp = (RestorePoint) result;
            verdict = rp.path().isPresent() ? "RESTORABLE" : "none";
            calls = rp.requests().total();
        }
        System.err.printf("%s of %d files: %d ms, %d S3 requests, %s%n", what, files, millis, requests, verdict);
        return new Row(what, files, millis, requests, calls, verdict);
    }

    /** Writes {@code files} objects under shared/ and a chk-1/_metadata that references them all. */
    private static Path writeCheckpoint(Path jobDir, int files) throws Exception {
        FileSystem fs = jobDir.getFileSystem();
        Path shared = new Path(jobDir, "shared");
        byte[] bytes = new byte[FILE_BYTES];
        new java.util.Random(7).nextBytes(bytes);
        List<Path> paths = new ArrayList<>(files);
        for (int i = 0; i < files; i++) {
            paths.add(new Path(shared, UUID.randomUUID().toString()));
        }
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<?>> writes = new ArrayList<>();
            for (Path p : paths) {
                writes.add(pool.submit(() -> {
                    try (FSDataOutputStream out = fs.create(p, FileSystem.WriteMode.NO_OVERWRITE)) {
                        out.write(bytes);
                    }
                    return null;
                }));
            }
            for (Future<?> w : writes) {
                w.get();
            }
        } finally {
            pool.shutdown();
        }
        int maxParallelism = 128;
        // as Flink writes it: the id derived from the uid, Flink's key-group ranges, and RocksDB's
        // CURRENT and MANIFEST among each subtask's private files
        OperatorState op = new OperatorState("state", "state", OperatorIds.fromUid("state"), SUBTASKS, maxParallelism);
        int perSubtask = files / SUBTASKS;
        for (int s = 0; s < SUBTASKS; s++) {
            List<HandleAndLocalPath> sharedState = new ArrayList<>();
            // the last three of each subtask stand for its MANIFEST, CURRENT and meta-data handle
            int from = s * perSubtask;
            int to = s == SUBTASKS - 1 ? files : from + perSubtask;
            for (int i = from; i < to - 3; i++) {
                sharedState.add(HandleAndLocalPath.of(new FileStateHandle(paths.get(i), FILE_BYTES), (i + 1) + ".sst"));
            }
            List<HandleAndLocalPath> privateState = List.of(
                    HandleAndLocalPath.of(new FileStateHandle(paths.get(to - 3), FILE_BYTES), "MANIFEST-000001"),
                    HandleAndLocalPath.of(new FileStateHandle(paths.get(to - 2), FILE_BYTES), "CURRENT"));
            KeyGroupRange range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxParallelism, SUBTASKS, s);
            var handle = new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(), range, 1L, sharedState, privateState,
                    new FileStateHandle(paths.get(to - 1), FILE_BYTES));
            op.putState(s, OperatorSubtaskState.builder().setManagedKeyedState(handle).build());
        }
        Path checkpoint = new Path(jobDir, "chk-1");
        try (FSDataOutputStream out = fs.create(new Path(checkpoint, "_metadata"), FileSystem.WriteMode.NO_OVERWRITE);
                DataOutputStream data = new DataOutputStream(out)) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(1L, List.of(op), List.of()), data);
        }
        return checkpoint;
    }

    @SuppressWarnings("unchecked")
    private static long s3Requests(Path path) throws Exception {
        Object fs = FileSystem.get(URI.create(path.toUri().getScheme() + "://" + path.toUri().getAuthority() + "/"));
        while (fs instanceof WrappingProxy<?> p) {
            fs = p.getWrappedDelegate();
        }
        Method m = fs.getClass().getMethod("metricsSnapshot");
        return ((Map<String, Long>) m.invoke(fs)).get("requests");
    }

    private static void copyPlugin(java.nio.file.Path from, java.nio.file.Path to) throws Exception {
        Files.createDirectories(to);
        try (var jars = Files.list(from)) {
            for (java.nio.file.Path jar : jars.toList()) {
                Files.copy(jar, to.resolve(jar.getFileName()));
            }
        }
    }
}
