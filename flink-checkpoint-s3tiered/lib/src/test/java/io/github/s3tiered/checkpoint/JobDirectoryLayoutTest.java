package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.CheckpointStorage;
import org.apache.flink.runtime.state.CheckpointStorageLoader;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job directory the storage writes its own files and the uploads ahead of checkpoints to, and
 * whose {@code shared/} its orphan removal lists, is Flink's own job directory: {@code <dir>/<job
 * id>}, or {@code <dir>} itself with {@code execution.checkpointing.create-subdir: false}.
 */
class JobDirectoryLayoutTest {

    @TempDir
    java.nio.file.Path root;

    @org.junit.jupiter.api.BeforeEach
    void serveTheS3TieredSchemeLocally() {
        S3TieredSchemeForTests.serve(new MetadataFileOutputStreamTest.RecordingFileSystem());
    }

    @org.junit.jupiter.api.AfterEach
    void restoreTheFileSystems() {
        S3TieredSchemeForTests.reset();
    }

    /** The recording local file system, refusing every request as an S3 that is down. */
    static final class DownFileSystem extends MetadataFileOutputStreamTest.RecordingFileSystem {
        @Override
        public org.apache.flink.core.fs.FileStatus getFileStatus(Path f) throws java.io.IOException {
            record("status " + f.getName());
            throw new java.io.IOException("HeadObject of " + f + " failed: connection refused");
        }

        @Override
        public boolean exists(Path f) throws java.io.IOException {
            record("exists " + f.getName());
            throw new java.io.IOException("HeadObject of " + f + " failed: connection refused");
        }
    }

    @Test
    void theStartCheckRunsWhereTheCoordinatorStartsNotInEachTask() throws Exception {
        DownFileSystem down = new DownFileSystem();
        S3TieredSchemeForTests.serve(down);
        StorageCheck.forget();
        Path base = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/down");
        Configuration cluster = new Configuration();
        cluster.set(CheckpointingOptions.CHECKPOINT_STORAGE, TieredCheckpointStorageFactory.class.getName());
        cluster.setString(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(), base.toString());
        CheckpointStorage storage = CheckpointStorageLoader.load(null, new HashMapStateBackend(), new Configuration(),
                cluster, getClass().getClassLoader(), null);

        // a task's constructor on a TaskManager (S3 down): no request, no failure
        TieredCheckpointStorageAccess access = (TieredCheckpointStorageAccess) storage.createCheckpointStorage(new JobID());
        assertThat(down.calls).isEmpty();

        // the JobManager's coordinator as it starts: the check, failing with the key
        org.assertj.core.api.Assertions.assertThatThrownBy(access::initializeBaseLocationsForCheckpoint)
                .hasMessageContaining(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key());
        assertThat(down.calls).isNotEmpty();
        // a job without a checkpoint interval (Flink initializes no base locations): at its first savepoint
        down.calls.clear();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> access.initializeLocationForSavepoint(1,
                        new Path(base, "savepoints").toString()))
                .hasMessageContaining(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key());
        assertThat(down.calls).isNotEmpty();
    }

    @Test
    void changelogFilesAreCheckedWhereOnlyTheJobTurnsTheChangelogOn() throws Exception {
        // Flink configures the storage with the cluster's configuration: a job's own
        // state.changelog.enabled never reaches it, so the check cannot depend on it
        Path base = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/changelog");
        Configuration cluster = new Configuration();
        cluster.set(CheckpointingOptions.CHECKPOINT_STORAGE, TieredCheckpointStorageFactory.class.getName());
        cluster.setString(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(), base.toString());
        CheckpointStorage storage = CheckpointStorageLoader.load(null, new HashMapStateBackend(), new Configuration(),
                cluster, getClass().getClassLoader(), null);

        assertThat(((TieredCheckpointStorageAccess) storage.createCheckpointStorage(new JobID())).checksChangelogFiles())
                .isTrue();
    }

    @Test
    void theJobDirectoryIsFlinksWithAndWithoutSubdirectories() throws Exception {
        for (boolean subdirs : new boolean[] {true, false}) {
            Path base = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/subdirs-" + subdirs);
            Configuration cluster = new Configuration();
            cluster.set(CheckpointingOptions.CHECKPOINT_STORAGE, TieredCheckpointStorageFactory.class.getName());
            cluster.setString(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(), base.toString());
            cluster.setString("execution.checkpointing.create-subdir", String.valueOf(subdirs));
            cluster.setString("execution.checkpointing.interval", "1 min");
            CheckpointStorage storage = CheckpointStorageLoader.load(null, new HashMapStateBackend(), new Configuration(),
                    cluster, getClass().getClassLoader(), null);
            JobID job = new JobID();

            TieredCheckpointStorageAccess access = (TieredCheckpointStorageAccess) storage.createCheckpointStorage(job);

            Path flinks = new FsCheckpointStorageAccess(base, null, subdirs, job, 1024, 4096).getCheckpointsDirectory();
            assertThat(flinks).isEqualTo(subdirs ? new Path(base, job.toString()) : base);
            assertThat(access.preUploadTarget()).isPresent();
            assertThat(access.preUploadTarget().get().sharedDirectory()).as("create-subdir %s", subdirs)
                    .isEqualTo(new Path(flinks, "shared"));
            // the metric group's verification gauges read the status under the key the access stores it
            assertThat(TaskManagerVerificationStatus.jobDirectoryOf(access))
                    .contains(io.github.s3tiered.inspector.PathKey.of(flinks));
        }
    }
}
