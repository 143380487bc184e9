package io.github.s3tiered.preupload;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

import java.time.Duration;

/** Options of the upload of RocksDB's SST files ahead of the checkpoints that reference them. */
public final class PreUploadOptions {

    private PreUploadOptions() {}

    public static final ConfigOption<Boolean> ENABLED = ConfigOptions.key("s3tiered.preupload.enabled")
            .booleanType()
            .defaultValue(true)
            .withDescription("Upload each SST file RocksDB writes (flush or compaction) to the job's shared/ directory right"
                    + " away, in the background, under a name of its content and its own (<sha256>-<id>.sst). When a checkpoint then"
                    + " streams the same bytes (same length and SHA-256), it refers to that object instead of uploading"
                    + " again, so only files not yet uploaded stay on the checkpoint's critical path. A checkpoint still"
                    + " completes only when every byte it references is in S3. Needs the tiered checkpoint storage and"
                    + " state backend, and no file merging; off in a job without checkpointing"
                    + " (execution.checkpointing.interval not set), where nothing would refer to the uploads.");

    public static final ConfigOption<Duration> REUSE_WINDOW = ConfigOptions.key("s3tiered.preupload.reuse-window")
            .durationType()
            .defaultValue(Duration.ofMinutes(10))
            .withDescription("A pre-uploaded object is referred to only by a checkpoint that starts within this time after"
                    + " its upload ended; later, the checkpoint uploads the file itself. Pre-uploaded objects that no"
                    + " checkpoint references are removed by the orphan removal (s3tiered.verification.remove-orphans)"
                    + " once S3 stamped them twice this long before the newest completed checkpoint, and reported by the"
                    + " recovery inspector's 'orphans'. Unset, it is 10 min or twice the longest time between checkpoints"
                    + " (execution.checkpointing.interval, ...interval-during-backlog, ...min-pause) in the configuration"
                    + " the storage is loaded with, whichever is longer, so that a file written just after one checkpoint"
                    + " is still referred to by the next.");

    public static final ConfigOption<Integer> MAX_CONCURRENT = ConfigOptions.key("s3tiered.preupload.max-concurrent")
            .intType()
            .defaultValue(2)
            .withDescription("Files uploaded at once ahead of checkpoints, per TaskManager: its jobs share one pool, bounded"
                    + " by the first job's value (set it in the TaskManager's configuration; a job's own is logged as not"
                    + " applied).");

    public static final ConfigOption<MemorySize> MAX_QUEUED_BYTES = ConfigOptions.key("s3tiered.preupload.max-queued-bytes")
            .memoryType()
            .defaultValue(MemorySize.ofMebiBytes(512))
            .withDescription("Bytes of SST files waiting for or in upload ahead of checkpoints, per TaskManager (as"
                    + " max-concurrent: the first job's value holds for all its jobs). A file that"
                    + " would exceed it is not pre-uploaded (its checkpoint uploads it). The files stay on local disk, so"
                    + " this bounds disk reads and S3 traffic, not memory: each upload holds one 256 KiB buffer.");
}
