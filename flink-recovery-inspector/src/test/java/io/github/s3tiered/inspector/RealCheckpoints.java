package io.github.s3tiered.inspector;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Real checkpoints and savepoints of every kind a Flink 2.3 job writes, made once by MiniCluster
 * jobs on a local directory: RocksDB incremental (with a native and a canonical savepoint), RocksDB
 * full, hashmap (with a canonical savepoint), RocksDB with file merging, and unaligned checkpoints
 * carrying in-flight data.
 */
final class RealCheckpoints {

    /** One kind of checkpoint: the job that wrote it and its newest retained checkpoint or savepoint. */
    enum Kind {
        ROCKSDB_INCREMENTAL, ROCKSDB_NATIVE_SAVEPOINT, ROCKSDB_CANONICAL_SAVEPOINT, ROCKSDB_FULL, HASHMAP,
        HASHMAP_CANONICAL_SAVEPOINT, FILE_MERGING, UNALIGNED
    }

    final CheckpointingJob.Result rocksIncremental;
    final CheckpointingJob.Result rocksFull;
    final CheckpointingJob.Result hashmap;
    final CheckpointingJob.Result fileMerging;
    final CheckpointingJob.Result unaligned;

    private RealCheckpoints(CheckpointingJob.Result rocksIncremental, CheckpointingJob.Result rocksFull,
            CheckpointingJob.Result hashmap, CheckpointingJob.Result fileMerging, CheckpointingJob.Result unaligned) {
        this.rocksIncremental = rocksIncremental;
        this.rocksFull = rocksFull;
        this.hashmap = hashmap;
        this.fileMerging = fileMerging;
        this.unaligned = unaligned;
    }

    static RealCheckpoints make(MiniCluster cluster, java.nio.file.Path base) throws Exception {
        Duration warmUp = Duration.ofMillis(250);
        CheckpointingJob.Result inc = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of()), false, 4, warmUp,
                List.of(SavepointFormatType.NATIVE, SavepointFormatType.CANONICAL));
        CheckpointingJob.Result full = CheckpointingJob.run(cluster, CheckpointingJob.config(base,
                Map.of("execution.checkpointing.incremental", "false")), false, 2, warmUp, List.of());
        CheckpointingJob.Result heap = CheckpointingJob.run(cluster, CheckpointingJob.config(base,
                Map.of("state.backend.type", "hashmap", "execution.checkpointing.incremental", "false")), false, 2, warmUp,
                List.of(SavepointFormatType.CANONICAL));
        CheckpointingJob.Result merging = CheckpointingJob.run(cluster, CheckpointingJob.config(base,
                Map.of("execution.checkpointing.file-merging.enabled", "true")), false, 3, warmUp, List.of());
        CheckpointingJob.Result unaligned = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of(
                "execution.checkpointing.unaligned.enabled", "true",
                "execution.checkpointing.aligned-checkpoint-timeout", "0s")), true, 2, Duration.ofMillis(1500), List.of());
        return new RealCheckpoints(inc, full, heap, merging, unaligned);
    }

    /** The checkpoint or savepoint of a kind. */
    Path of(Kind kind) {
        return switch (kind) {
            case ROCKSDB_INCREMENTAL -> newest(rocksIncremental);
            case ROCKSDB_NATIVE_SAVEPOINT -> new Path(rocksIncremental.savepoints().get(0));
            case ROCKSDB_CANONICAL_SAVEPOINT -> new Path(rocksIncremental.savepoints().get(1));
            case ROCKSDB_FULL -> newest(rocksFull);
            case HASHMAP -> newest(hashmap);
            case HASHMAP_CANONICAL_SAVEPOINT -> new Path(hashmap.savepoints().get(0));
            case FILE_MERGING -> newest(fileMerging);
            case UNALIGNED -> newest(unaligned);
        };
    }

    List<CheckpointingJob.Result> jobs() {
        return List.of(rocksIncremental, rocksFull, hashmap, fileMerging, unaligned);
    }

    /** Retained checkpoints, newest first (the last {@code num-retained} triggered ones). */
    static List<Path> retained(CheckpointingJob.Result job) {
        List<Path> out = new ArrayList<>();
        for (int i = job.checkpoints().size() - 1; i >= Math.max(0, job.checkpoints().size() - 3); i--) {
            out.add(new Path(job.checkpoints().get(i)));
        }
        return out;
    }

    static Path newest(CheckpointingJob.Result job) {
        return retained(job).get(0);
    }

    /** The MiniCluster the checkpoints are made in: one TaskManager with a slot per subtask. */
    static org.apache.flink.test.junit5.MiniClusterExtension miniCluster() {
        return new org.apache.flink.test.junit5.MiniClusterExtension(
                new org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration.Builder()
                        .setConfiguration(clusterConfig())
                        .setNumberTaskManagers(1)
                        .setNumberSlotsPerTaskManager(CheckpointingJob.PARALLELISM)
                        .build());
    }

    static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(org.apache.flink.configuration.TaskManagerOptions.MANAGED_MEMORY_SIZE,
                org.apache.flink.configuration.MemorySize.parse("96m"));
        // read by the JobManager's checkpoint store, not from the job's configuration
        conf.setString("execution.checkpointing.num-retained", "3");
        // Flink 1.20 sets the job's checkpoint storage up from its directory alone and takes the threshold from the
        // cluster's configuration: without it here, every file below 20 KiB (most SST files of these small jobs) goes
        // inline into _metadata on 1.20, and the damage matrix finds no SST file to damage
        conf.setString("execution.checkpointing.data-inline-threshold", "0b");
        return conf;
    }
}
