package io.github.s3tiered.bench;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.metadata.MetadataLoading;
import io.github.s3tiered.inspector.metadata.OperatorIds;
import io.github.s3tiered.inspector.metadata.OperatorStates;
import io.github.s3tiered.inspector.storage.FileSystemCalls;
import io.github.s3tiered.inspector.storage.FileSystemChecksums;
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

import java.io.DataOutputStream;
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
 * <p>Deep mode is measured on another checkpoint, of real RocksDB snapshots (RocksDB's own SST,
 * MANIFEST, CURRENT and OPTIONS files and Flink's state meta data), because it rehearses a restore.
 *
 * <p>Usage: {@code bash benchmarks/run.sh inspector [--files 1000,10000] [--deep-files 1000] [--profile loopback|wan|slow] [--s3-server filesystem|memory]}
 */
public final class InspectorBenchmark {

    private static final int SUBTASKS = 10;
    private static final int FILE_BYTES = 512;

    record Row(String what, int files, long millis, long s3Requests, long inspectorCalls, String verdict, long ownCpuMillis,
            long serverCpuMillis) {}

    public static void main(String[] args) throws Exception {
        BenchSupport.julToLogFile();
        int[] sizes = Arrays.stream(BenchSupport.arg(args, "--files", "1000,10000").split(",")).mapToInt(Integer::parseInt).toArray();
        int deepFiles = Integer.parseInt(BenchSupport.arg(args, "--deep-files", "1000"));
        java.nio.file.Path plugins = java.nio.file.Path.of(System.getProperty("bench.plugins", "benchmarks/target/bench-plugins"));
        java.nio.file.Path work = Files.createTempDirectory("s3tiered-inspector-bench");
        List<Row> rows = new ArrayList<>();
        String serverDescription;
        var profile = BenchS3.profileArg(args);
        // S3Proxy's filesystem backend scans the whole directory for every listing page (100,000
        // names per page at 100,000 files), which S3 does not; "memory" lists from a sorted map.
        boolean inMemory = BenchS3.inMemoryArg(args);
        try (BenchS3 bench = BenchS3.start(profile, false, inMemory)) {
            S3TestServer s3 = bench.s3();
            serverProcess = bench.server();
            serverDescription = bench.describe();
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
                // What validating adds to that listing: reading (HEAD and GET) and parsing the _metadata.
                rows.add(measure("read _metadata only (baseline)", files, checkpoint, () -> {
                    FileSystemCalls calls = new FileSystemCalls();
                    MetadataLoading.Loaded loaded = MetadataLoading.load(checkpoint, calls, new FileSystemChecksums(),
                            InspectorBenchmark.class.getClassLoader());
                    return new MetadataRead(loaded, calls.snapshot().total());
                }));
                rows.add(measure("validate", files, checkpoint, () -> inspector.validate(checkpoint, false)));
                rows.add(measure("restore-point (job dir)", files, jobDir, () -> inspector.restorePoint(jobDir, false)));
            }
            // Deep mode rehearses a restore, so it needs real state: RocksDB snapshots made by RocksDB.
            Path deepJob = new Path("s3tiered://" + s3.bucket() + "/" + s3.runPrefix() + "/inspector-bench-deep/" + new JobID());
            System.err.printf("Writing a checkpoint of %d real RocksDB files under %s ...%n", deepFiles, deepJob);
            Path deepCheckpoint = writeRocksDbCheckpoint(deepJob, deepFiles, work.resolve("rocksdb"));
            int referenced = inspector.validate(deepCheckpoint, false).files().size();
            rows.add(measure("validate (RocksDB files)", referenced, deepCheckpoint, () -> inspector.validate(deepCheckpoint, false)));
            rows.add(measure("validate --deep (restore rehearsal)", referenced, deepCheckpoint,
                    () -> inspector.validate(deepCheckpoint, true)));
        } finally {
            FileSystem.initialize(new Configuration(), null);
            BenchSupport.deleteRecursively(work);
        }
        System.out.printf(Locale.ROOT, "%nRecovery inspector on s3tiered:// against %s; one checkpoint, %d subtasks, "
                + "%d B files; requests = S3 requests the file system sent%n%n", serverDescription, SUBTASKS, FILE_BYTES);
        System.out.println("| operation | referenced files | time (ms) | S3 requests | inspector file-system calls | verdict "
                + "| CPU: this JVM / S3 server (ms) |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %,d | %d | %d | %d | %s | %s / %s |%n", r.what(), r.files(), r.millis(),
                    r.s3Requests(), r.inspectorCalls(), r.verdict(), cpuText(r.ownCpuMillis()), cpuText(r.serverCpuMillis()));
        }
        System.out.println();
        String name = profile.name().toLowerCase(Locale.ROOT);
        BenchCharts.Bars bars = new BenchCharts.Bars("Recovery inspector, " + name
                + (inMemory ? ", S3Proxy in memory" : ""), "ms", List.of("time"));
        rows.forEach(r -> bars.row(chartName(r), r.millis()));
        BenchCharts.write(BenchCharts.name("inspector", name, inMemory ? "memory" : null), bars);
        for (Row r : rows) {
            if (r.what().equals("validate")) {
                // the metadata is one HEAD/list plus one GET; everything else must be listing pages
                long allowed = (long) Math.ceil(r.files() / 1000.0) + 3;
                System.out.printf(Locale.ROOT, "Target validate %,d files: <= %d requests (1 per 1,000 files + metadata) and < 2 s: "
                                + "%d requests, %d ms -> %s%n", r.files(), allowed, r.s3Requests(), r.millis(),
                        r.s3Requests() <= allowed && r.millis() < 2000 ? "MET" : "NOT MET");
                if (r.files() >= 100_000) {
                    // the speed issue's target, for the profile it names
                    System.out.printf(Locale.ROOT, "Target validate %,d files <= 3 s under wan: %d ms under %s -> %s%n", r.files(),
                            r.millis(), name, !name.equals("wan") ? "not this profile" : r.millis() <= 3000 ? "MET" : "NOT MET");
                }
            }
        }
    }

    /** A row's operation in a few words, with its file count: "validate --deep, 1k". */
    private static String chartName(Row r) {
        String what = r.what().replace("list shared/ only (baseline)", "list shared/").replace("restore-point (job dir)", "restore-point").replace("read _metadata only (baseline)", "read _metadata")
                .replace("validate (RocksDB files)", "validate RocksDB").replace("validate --deep (restore rehearsal)", "validate --deep");
        return what + ", " + (r.files() % 1000 == 0 ? r.files() / 1000 + "k" : Integer.toString(r.files()));
    }

    /** A {@code _metadata} read on its own, with the inspector's file-system calls it took. */
    private record MetadataRead(MetadataLoading.Loaded loaded, long calls) {}

    private interface Action {
        Object run() throws Exception;
    }

    /** The S3 server's process, whose CPU each measurement reports (it shares this machine's cores). */
    private static S3TestServer serverProcess;

    private static long cpuMillis(java.util.Optional<java.time.Duration> cpu) {
        return cpu.map(java.time.Duration::toMillis).orElse(-1L);
    }

    /** CPU used between two readings, or -1 when either is unknown (an external server, a process gone). */
    private static long cpuDelta(long before, long after) {
        return before < 0 || after < before ? -1 : after - before;
    }

    private static String cpuText(long millis) {
        return millis < 0 ? "?" : Long.toString(millis);
    }

    private static Row measure(String what, int files, Path path, Action action) throws Exception {
        long before = s3Requests(path);
        long serverCpuBefore = cpuMillis(serverProcess.processCpuTime());
        long ownCpuBefore = cpuMillis(ProcessHandle.current().info().totalCpuDuration());
        long start = System.nanoTime();
        Object result = action.run();
        long millis = (System.nanoTime() - start) / 1_000_000;
        long serverCpu = cpuDelta(serverCpuBefore, cpuMillis(serverProcess.processCpuTime()));
        long ownCpu = cpuDelta(ownCpuBefore, cpuMillis(ProcessHandle.current().info().totalCpuDuration()));
        long requests = s3Requests(path) - before;
        String verdict;
        long calls;
        if (result instanceof Validation v) {
            verdict = v.verdict().toString();
            calls = v.requests().total();
        } else if (result instanceof MetadataRead read) {
            verdict = read.loaded().metadata() != null ? read.loaded().metadata().getOperatorStates().size() + " operators"
                    : read.loaded().problem().toString();
            calls = read.calls();
        } else if (result instanceof org.apache.flink.core.fs.FileStatus[] listing) {
            verdict = listing.length + " entries";
            calls = 1;
        } else {
            RestorePoint rp = (RestorePoint) result;
            verdict = rp.path().isPresent() ? "RESTORABLE" : "none";
            calls = rp.requests().total();
        }
        System.err.printf("%s of %d files: %d ms, %d S3 requests, %s; CPU: this JVM %s ms, S3 server %s ms%n", what, files,
                millis, requests, verdict, cpuText(ownCpu), cpuText(serverCpu));
        return new Row(what, files, millis, requests, calls, verdict, ownCpu, serverCpu);
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
        OperatorState op = OperatorStates.create("state", "state", OperatorIds.fromUid("state"), SUBTASKS, maxParallelism);
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

    /**
     * A checkpoint of {@code SUBTASKS} RocksDB incremental snapshots made by RocksDB itself (SST
     * files kept apart: no compaction), about {@code files} files in all, with Flink's state meta
     * data (one ValueState&lt;Long&gt;), uploaded through the file system as Flink would.
     */
    private static Path writeRocksDbCheckpoint(Path jobDir, int files, java.nio.file.Path scratch) throws Exception {
        org.rocksdb.RocksDB.loadLibrary();
        FileSystem fs = jobDir.getFileSystem();
        Path chk = new Path(jobDir, "chk-1");
        int maxParallelism = 128;
        int sstPerSubtask = Math.max(1, files / SUBTASKS - 4);
        OperatorState op = OperatorStates.create("state", "state", OperatorIds.fromUid("state"), SUBTASKS, maxParallelism);
        for (int s = 0; s < SUBTASKS; s++) {
            java.nio.file.Path db = Files.createDirectories(scratch.resolve("db-" + s));
            java.nio.file.Path snapshot = scratch.resolve("snapshot-" + s);
            try (var cfOptions = new org.rocksdb.ColumnFamilyOptions().setDisableAutoCompactions(true);
                    var dbOptions = new org.rocksdb.DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true)) {
                List<org.rocksdb.ColumnFamilyHandle> handles = new ArrayList<>();
                try (var rocks = org.rocksdb.RocksDB.open(dbOptions, db.toString(), List.of(
                        new org.rocksdb.ColumnFamilyDescriptor(org.rocksdb.RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions),
                        new org.rocksdb.ColumnFamilyDescriptor("state".getBytes(java.nio.charset.StandardCharsets.UTF_8), cfOptions)),
                        handles);
                        var flush = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
                    java.util.Random random = new java.util.Random(s);
                    byte[] value = new byte[64];
                    for (int f = 0; f < sstPerSubtask; f++) {
                        for (int k = 0; k < 100; k++) {
                            random.nextBytes(value);
                            rocks.put(handles.get(1), java.nio.ByteBuffer.allocate(8).putLong(f * 100L + k).array(), value);
                        }
                        rocks.flush(flush, handles.get(1));
                    }
                    try (var checkpoint = org.rocksdb.Checkpoint.create(rocks)) {
                        checkpoint.createCheckpoint(snapshot.toString());
                    }
                    handles.forEach(org.rocksdb.ColumnFamilyHandle::close);
                }
            }
            List<HandleAndLocalPath> shared = new ArrayList<>();
            List<HandleAndLocalPath> privateState = new ArrayList<>();
            try (var listing = Files.list(snapshot)) {
                for (java.nio.file.Path local : listing.sorted().toList()) {
                    String name = local.getFileName().toString();
                    boolean sst = name.endsWith(".sst");
                    Path remote = new Path(sst ? new Path(jobDir, "shared") : chk, UUID.randomUUID().toString());
                    try (FSDataOutputStream out = fs.create(remote, FileSystem.WriteMode.NO_OVERWRITE)) {
                        Files.copy(local, out);
                    }
                    (sst ? shared : privateState).add(HandleAndLocalPath.of(new FileStateHandle(remote, Files.size(local)), name));
                }
            }
            Path meta = new Path(chk, UUID.randomUUID().toString());
            long metaSize;
            try (FSDataOutputStream out = fs.create(meta, FileSystem.WriteMode.NO_OVERWRITE)) {
                var state = new org.apache.flink.runtime.state.RegisteredKeyValueStateBackendMetaInfo<>(
                        org.apache.flink.api.common.state.StateDescriptor.Type.VALUE, "state",
                        org.apache.flink.runtime.state.VoidNamespaceSerializer.INSTANCE,
                        org.apache.flink.api.common.typeutils.base.LongSerializer.INSTANCE).snapshot();
                new org.apache.flink.runtime.state.KeyedBackendSerializationProxy<>(
                        org.apache.flink.api.common.typeutils.base.LongSerializer.INSTANCE, List.of(state), false)
                        .write(new org.apache.flink.core.memory.DataOutputViewStreamWrapper(out));
                metaSize = out.getPos();
            }
            KeyGroupRange range = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxParallelism, SUBTASKS, s);
            op.putState(s, OperatorSubtaskState.builder().setManagedKeyedState(new IncrementalRemoteKeyedStateHandle(
                    UUID.randomUUID(), range, 1L, shared, privateState, new FileStateHandle(meta, metaSize))).build());
        }
        try (FSDataOutputStream out = fs.create(new Path(chk, "_metadata"), FileSystem.WriteMode.NO_OVERWRITE);
                DataOutputStream data = new DataOutputStream(out)) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(1L, List.of(op), List.of()), data);
        }
        return chk;
    }

    private static long s3Requests(Path path) throws Exception {
        return S3TieredBridge.of(path).orElseThrow().transferMetrics().figure(BridgeContract.TOTAL_REQUESTS);
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
