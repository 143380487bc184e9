package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

import java.time.Duration;

/** Options of the check that completed checkpoints are entirely in S3, and of the reuse veto it drives. */
public final class VerificationOptions {

    private VerificationOptions() {}

    public static final ConfigOption<Boolean> ENABLED = ConfigOptions.key("s3tiered.verification.enabled")
            .booleanType()
            .defaultValue(true)
            .withDescription("After the JobManager completes a checkpoint, check in the background that every file it "
                    + "references exists in S3 with its recorded size (listing the directories that hold files not "
                    + "verified before; files verified for an earlier checkpoint are not asked for again). A failure is "
                    + "logged as an ERROR naming the checkpoint and the files, written to s3tiered-verification.json in the "
                    + "job's checkpoint directory, and sent to the TaskManagers with the next checkpoint: they then upload "
                    + "again a RocksDB file whose object is missing instead of referencing it once more.");

    public static final ConfigOption<Integer> FULL_LISTING_INTERVAL = ConfigOptions.key("s3tiered.verification.full-listing-interval")
            .intType()
            .defaultValue(10)
            .withDescription("Every this many verified checkpoints, list every directory the checkpoint references, not "
                    + "only those holding new files, so that an object deleted later (a lifecycle rule, a mistaken delete) "
                    + "is found even where no new file was written. 1: every checkpoint.");

    public static final ConfigOption<Boolean> REMOVE_ORPHANS = ConfigOptions.key("s3tiered.verification.remove-orphans")
            .booleanType()
            .defaultValue(true)
            .withDescription("After a completed checkpoint, remove from the job's shared/ directory the objects that no "
                    + "retained checkpoint references and that S3 stamped before the _metadata of the newest retained "
                    + "checkpoint whose concurrently running checkpoints have all ended (with one checkpoint at a time: "
                    + "the one just completed): files of checkpoints that never completed (a TaskManager lost "
                    + "during its upload, a declined or expired checkpoint), which Flink never deletes. Needs "
                    + "s3tiered.verification.enabled.");

    public static final ConfigOption<Duration> ORPHAN_CLOCK_MARGIN = ConfigOptions.key(
                    "s3tiered.verification.orphan-clock-margin")
            .durationType()
            .defaultValue(Duration.ofSeconds(60))
            .withDescription("How much older than that _metadata an object in shared/ must be, by S3's timestamps, "
                    + "before the orphan removal takes it: S3-compatible stores of several nodes (MinIO, Ceph RGW) stamp "
                    + "objects by each node's clock, and a file of a checkpoint that started after the reference one "
                    + "must not look older than it. Only delays the removal. Also the least time between two listings "
                    + "of shared/ by the orphan removal: an object becomes removable as time passes, so listing after "
                    + "every checkpoint finds about what the listing before left.");

    public static final ConfigOption<Duration> ORPHAN_MIN_AGE = ConfigOptions.key(
                    "s3tiered.verification.orphan-min-age")
            .durationType()
            .defaultValue(Duration.ofMinutes(10))
            .withDescription("How much older than that _metadata, besides the clock margin, an object in shared/ must "
                    + "be before the orphan removal takes it. Another run writing the same job directory (a JobManager "
                    + "of a fixed job id left running beside a new one) shows itself only through its chk-N directories, "
                    + "and on S3 a checkpoint whose small state goes into its _metadata has nothing under chk-N until it "
                    + "completes, while its new files are in shared/ already: any checkpoint still running started less "
                    + "than its timeout ago. Unset, it is the job's execution.checkpointing.timeout (10 min by default). "
                    + "Only delays the removal; 0 where no other run can write the job directory.");
}
