package io.github.s3tiered.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.core.fs.FSDataOutputStream;
import java.nio.file.FileAlreadyExistsException;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;
import org.apache.flink.runtime.state.CheckpointMetadataOutputStream;
import org.apache.flink.runtime.state.CheckpointStorageLocationReference;
import org.apache.flink.runtime.state.filesystem.FsCheckpointStorageLocation;
import org.apache.flink.runtime.state.filesystem.FsCompletedCheckpointStorageLocation;
import org.apache.flink.runtime.state.memory.NonPersistentMetadataCheckpointStorageLocation;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code _metadata} stream used on s3tiered, on the local file system with the calls it makes
 * counted: it must behave as Flink's stream over a plain output stream does, less the
 * {@code exists()} call.
 */
class MetadataFileOutputStreamTest {

    @TempDir
    java.nio.file.Path root;

    /** The local file system, with the calls that matter here recorded and a close that can fail. */
    static class RecordingFileSystem extends LocalFileSystem {
        /** Threads of the code under test may record too (the verifier's, a check's). */
        final List<String> calls = java.util.Collections.synchronizedList(new ArrayList<>());
        boolean failClose;
        /** Calls the local file system makes to itself (its create() asks exists()) are not the caller's. */
        private final ThreadLocal<int[]> depth = ThreadLocal.withInitial(() -> new int[1]);

        void record(String call) {
            if (depth.get()[0] == 0) {
                calls.add(call);
            }
        }

        @Override
        public boolean exists(Path f) throws IOException {
            record("exists " + f.getName());
            depth.get()[0]++;
            try {
                return super.exists(f);
            } finally {
                depth.get()[0]--;
            }
        }

        @Override
        public boolean delete(Path f, boolean recursive) throws IOException {
            record("delete " + f.getName());
            depth.get()[0]++;
            try {
                return super.delete(f, recursive);
            } finally {
                depth.get()[0]--;
            }
        }

        @Override
        public FSDataOutputStream create(Path filePath, WriteMode overwrite) throws IOException {
            record("create " + filePath.getName() + " " + overwrite);
            FSDataOutputStream out;
            depth.get()[0]++;
            try {
                out = super.create(filePath, overwrite);
            } finally {
                depth.get()[0]--;
            }
            if (!failClose) {
                return out;
            }
            return new FSDataOutputStream() {
                @Override
                public long getPos() throws IOException {
                    return out.getPos();
                }

                @Override
                public void write(int b) throws IOException {
                    out.write(b);
                }

                @Override
                public void flush() throws IOException {
                    out.flush();
                }

                @Override
                public void sync() throws IOException {
                    out.sync();
                }

                @Override
                public void close() throws IOException {
                    out.close(); // the bytes are there, as after a PUT whose answer was lost
                    throw new IOException("upload failed");
                }
            };
        }
    }

    private final RecordingFileSystem fs = new RecordingFileSystem();

    private Path checkpointDir() throws IOException {
        return new Path("file://" + Files.createDirectories(root.resolve("job/chk-7")).toAbsolutePath());
    }

    @Test
    void finalizesAsFlinksStreamDoesWithoutAskingWhetherTheFileExists() throws Exception {
        Path dir = checkpointDir();
        Path file = new Path(dir, "_metadata");
        byte[] bytes = "metadata".getBytes(StandardCharsets.UTF_8);
        FsCompletedCheckpointStorageLocation done;
        try (MetadataFileOutputStream out = new MetadataFileOutputStream(fs, file, dir)) {
            out.write(bytes, 0, 4);
            out.write(bytes, 4, bytes.length - 4);
            assertThat(out.getPos()).isEqualTo(bytes.length);
            done = out.closeAndFinalizeCheckpoint();
        }
        assertThat(Files.readAllBytes(root.resolve("job/chk-7/_metadata"))).isEqualTo(bytes);
        assertThat(done.getMetadataHandle().getFilePath()).isEqualTo(file);
        assertThat(done.getMetadataHandle().getStateSize()).isEqualTo(bytes.length);
        assertThat(done.getExternalPointer()).isEqualTo(dir.toString());
        // the try-with-resources close after finalizing deletes nothing
        assertThat(fs.calls).containsExactly("create _metadata NO_OVERWRITE");
    }

    @Test
    void flinksOwnStreamAsksWhetherTheFileExistsFirst() throws Exception {
        // the call the stream above leaves out, seen by the same recording file system
        Path dir = checkpointDir();
        FsCheckpointStorageLocation location = new FsCheckpointStorageLocation(fs, dir, new Path(dir.getParent(), "shared"),
                new Path(dir.getParent(), "taskowned"), CheckpointStorageLocationReference.getDefault(), 1024, 4096);
        try (CheckpointMetadataOutputStream out = location.createMetadataOutputStream()) {
            out.write(1);
            out.closeAndFinalizeCheckpoint();
        }
        assertThat(fs.calls).startsWith("exists _metadata");
    }

    @Test
    void aFileAlreadyThereFailsTheCreationAndStaysAsItWas() throws Exception {
        Path dir = checkpointDir();
        Files.writeString(root.resolve("job/chk-7/_metadata"), "earlier");
        assertThatThrownBy(() -> new MetadataFileOutputStream(fs, new Path(dir, "_metadata"), dir))
                .isInstanceOf(FileAlreadyExistsException.class);
        assertThat(Files.readString(root.resolve("job/chk-7/_metadata"))).isEqualTo("earlier");
        assertThat(fs.calls).doesNotContain("delete _metadata");
    }

    @Test
    void closedWithoutFinalizingTheFileIsDeletedAndCannotBeFinalizedAfter() throws Exception {
        Path dir = checkpointDir();
        MetadataFileOutputStream out = new MetadataFileOutputStream(fs, new Path(dir, "_metadata"), dir);
        out.write(42);
        out.close();
        out.close(); // idempotent
        assertThat(root.resolve("job/chk-7/_metadata")).doesNotExist();
        assertThatThrownBy(out::closeAndFinalizeCheckpoint).isInstanceOf(IOException.class).hasMessageContaining("already been closed");
        assertThat(fs.calls).containsExactly("create _metadata NO_OVERWRITE", "delete _metadata");
    }

    @Test
    void closedWithoutFinalizingOnS3TieredNothingIsUploaded() throws Exception {
        // Flink's stream closes (on S3: uploads the partial _metadata) and then deletes: lost in
        // between, a truncated _metadata stays where a completed checkpoint's would be
        TieredStateOutputStreamTest.AbandoningFileSystem tiered = new TieredStateOutputStreamTest.AbandoningFileSystem();
        Path dir = checkpointDir();
        MetadataFileOutputStream out = new MetadataFileOutputStream(tiered, new Path(dir, "_metadata"), dir);
        out.write(42);
        out.close();

        assertThat(tiered.calls).contains("abandon _metadata").doesNotContain("delete _metadata");
        assertThat(root.resolve("job/chk-7/_metadata")).doesNotExist();
    }

    @Test
    void aFailedCloseDeletesThePathAndNamesIt() throws Exception {
        Path dir = checkpointDir();
        fs.failClose = true;
        MetadataFileOutputStream out = new MetadataFileOutputStream(fs, new Path(dir, "_metadata"), dir);
        out.write(42);
        assertThatThrownBy(out::closeAndFinalizeCheckpoint).isInstanceOf(IOException.class)
                .hasMessageContaining(new Path(dir, "_metadata").toString()).hasRootCauseMessage("upload failed");
        assertThat(root.resolve("job/chk-7/_metadata")).doesNotExist();
        assertThatThrownBy(out::closeAndFinalizeCheckpoint).hasMessageContaining("already been closed");
    }

    @Test
    void appliesToS3TieredLocationsOnly() {
        assertThat(MetadataFileOutputStream.appliesTo(location("s3tiered://bucket/cp/job/chk-1"))).isTrue();
        // file:// keeps Flink's stream, which commits the file by rename through a recoverable writer
        assertThat(MetadataFileOutputStream.appliesTo(location("file:///tmp/cp/job/chk-1"))).isFalse();
        assertThat(MetadataFileOutputStream.appliesTo(location("s3://bucket/cp/job/chk-1"))).isFalse();
        assertThat(MetadataFileOutputStream.appliesTo(new NonPersistentMetadataCheckpointStorageLocation(1024))).isFalse();
    }

    private FsCheckpointStorageLocation location(String dir) {
        Path d = new Path(dir);
        return new FsCheckpointStorageLocation(fs, d, new Path(d.getParent(), "shared"), new Path(d.getParent(), "taskowned"),
                CheckpointStorageLocationReference.getDefault(), 1024, 4096);
    }
}
