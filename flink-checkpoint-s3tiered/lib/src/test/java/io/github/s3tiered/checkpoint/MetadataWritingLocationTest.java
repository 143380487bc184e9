package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.PluginManager;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocation;
import org.apache.flink.runtime.state.CompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageAccess;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

/**
 * With verification off, the storage still writes a checkpoint's {@code _metadata} on s3tiered
 * without Flink's {@code exists()} first. The {@code s3tiered} scheme is served here by the local
 * file system with its calls recorded (its paths are local paths), registered as a plugin would be.
 */
class MetadataWritingLocationTest {

    @TempDir
    java.nio.file.Path root;

    private final MetadataFileOutputStreamTest.RecordingFileSystem fs = new MetadataFileOutputStreamTest.RecordingFileSystem();

    @BeforeEach
    void serveTheS3TieredSchemeLocally() {
        FileSystemFactory s3tiered = new FileSystemFactory() {
            @Override
            public String getScheme() {
                return "s3tiered";
            }

            @Override
            public FileSystem create(URI fsUri) {
                return fs;
            }
        };
        FileSystem.initialize(new Configuration(), new PluginManager() {
            @Override
            @SuppressWarnings("unchecked")
            public <P> Iterator<P> load(Class<P> service) {
                return service == FileSystemFactory.class ? (Iterator<P>) List.of(s3tiered).iterator()
                        : Collections.emptyIterator();
            }
        });
    }

    @AfterEach
    void restoreTheFileSystems() {
        FileSystem.initialize(new Configuration(), null);
    }

    @Test
    void withVerificationOffTheMetadataIsWrittenWithoutAskingWhetherItExists() throws Exception {
        JobID job = new JobID();
        Path checkpoints = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/checkpoints");
        FsCheckpointStorageAccess flinks = new FsCheckpointStorageAccess(checkpoints, null, true, job, 1024, 4096);
        TieredCheckpointStorageAccess storage = new TieredCheckpointStorageAccess(flinks,
                new RecoveryGuard(false, false, false, getClass().getClassLoader()), null,
                new Path(checkpoints, job.toString()), null);

        CheckpointStorageLocation location = storage.initializeLocationForCheckpoint(7);
        fs.calls.clear();
        CompletedCheckpointStorageLocation done = finalize(location, new byte[] {1, 2, 3});

        assertThat(fs.calls).containsExactly("create _metadata NO_OVERWRITE");
        assertThat(Files.readAllBytes(root.resolve("checkpoints/" + job + "/chk-7/_metadata"))).containsExactly(1, 2, 3);
        assertThat(done.getExternalPointer()).isEqualTo(new Path(checkpoints, job + "/chk-7").toString());
        assertThat(location.getLocationReference()).isEqualTo(flinks.initializeLocationForCheckpoint(8).getLocationReference());

        // Flink's own location on the same file system asks first: the recording can tell
        CheckpointStorageLocation flinksLocation = flinks.initializeLocationForCheckpoint(9);
        fs.calls.clear();
        finalize(flinksLocation, new byte[] {4});
        assertThat(fs.calls).startsWith("exists _metadata");
    }

    @Test
    void aFailedCheckpointIsDisposedAsFlinkDisposesIt() throws Exception {
        JobID job = new JobID();
        Path checkpoints = new Path("s3tiered://bucket" + root.toAbsolutePath() + "/checkpoints");
        TieredCheckpointStorageAccess storage = new TieredCheckpointStorageAccess(
                new FsCheckpointStorageAccess(checkpoints, null, true, job, 1024, 4096),
                new RecoveryGuard(false, false, false, getClass().getClassLoader()), null,
                new Path(checkpoints, job.toString()), null);
        CheckpointStorageLocation location = storage.initializeLocationForCheckpoint(3);
        assertThat(root.resolve("checkpoints/" + job + "/chk-3")).isDirectory();
        location.disposeOnFailure();
        assertThat(root.resolve("checkpoints/" + job + "/chk-3")).doesNotExist();
    }

    private static CompletedCheckpointStorageLocation finalize(CheckpointStorageLocation location, byte[] bytes)
            throws IOException {
        try (CheckpointMetadataOutputStream out = location.createMetadataOutputStream()) {
            out.write(bytes);
            return out.closeAndFinalizeCheckpoint();
        }
    }
}
