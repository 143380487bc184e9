package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/** Options of the check the tiered checkpoint storage makes before a job resumes. */
public final class RecoveryGuardOptions {

    private RecoveryGuardOptions() {}

    public static final ConfigOption<Boolean> VALIDATE = ConfigOptions.key("s3tiered.recovery.validate")
            .booleanType()
            .defaultValue(true)
            .withDescription("Before a job resumes from execution.state-recovery.path, prove from what S3 holds (never a "
                    + "local copy) that its _metadata is intact and every file it references exists with its recorded size "
                    + "(one listing per directory, not a request per file), and fail the submission with the reason and the "
                    + "files concerned when it cannot be restored, or when S3 could not be read. The path may also name a "
                    + "job's checkpoint directory: the newest restorable checkpoint in it is used.");

    public static final ConfigOption<Boolean> DEEP = ConfigOptions.key("s3tiered.recovery.validate.deep")
            .booleanType()
            .defaultValue(false)
            .withDescription("Also rehearse the restore: read every referenced file from S3, compare its CRC32C with the "
                    + "one recorded at upload, verify RocksDB files with RocksDB's checksums and decode the other state at "
                    + "its offsets. Reads the whole checkpoint once more before the restore reads it. Where the rehearsal "
                    + "cannot run on the JobManager (a full temporary directory, a RocksDB library that does not load) and "
                    + "no recorded checksum proves the files, the checkpoint is not judged and the job is not resumed.");

    public static final ConfigOption<Boolean> FALLBACK = ConfigOptions.key("s3tiered.recovery.fallback-to-restorable")
            .booleanType()
            .defaultValue(false)
            .withDescription("When the checkpoint named by execution.state-recovery.path cannot be restored, resume from "
                    + "the newest restorable checkpoint of the same job directory older than it instead of failing "
                    + "(logged as an error). Off: the submission fails. An older checkpoint means reprocessing from an older "
                    + "position: what sinks committed after it (exactly-once sinks' transactions too) stays and is produced "
                    + "again. Never past a checkpoint that could not be judged because the storage did not answer; never "
                    + "from a chk-N with nothing stored under it (a mistyped id) or from a savepoint whose metadata cannot "
                    + "be read (its id is unknown), nor from a savepoint into a directory not named by its job's id "
                    + "(another job's checkpoints). A job directory named instead of a checkpoint resolves to its newest "
                    + "restorable checkpoint whatever this option says. Under claim mode CLAIM, Flink claims the "
                    + "checkpoint resumed instead and deletes it once subsumed, with shared files the skipped ones need.");
}
