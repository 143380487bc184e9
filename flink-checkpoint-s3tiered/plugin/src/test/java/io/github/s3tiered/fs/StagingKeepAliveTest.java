package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.FakeS3FileSystems.BUCKET;
import static io.github.s3tiered.fs.FakeS3FileSystems.bytes;
import static io.github.s3tiered.fs.FakeS3FileSystems.path;
import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

/**
 * A stream left open without writes for longer than the tier keeps a crash's staging file (Flink's
 * file merging keeps a file open across the checkpoints of an idle job) keeps its staging file: the
 * runtime refreshes the mtime of open streams' files, which every process's scan goes by.
 */
class StagingKeepAliveTest extends FakeS3FileSystemTest {

    private List<Path> stagingFiles() throws Exception {
        try (Stream<Path> files = Files.list(tierDir.resolve("v1").resolve("staging"))) {
            return files.toList();
        }
    }

    @Test
    void anOpenStreamIdleForHoursKeepsItsStagingFileThroughAScan() throws Exception {
        byte[] first = bytes(3000, 1);
        byte[] second = bytes(2000, 2);
        FSDataOutputStream out = fs.create(path("cp/idle"), WriteMode.NO_OVERWRITE);
        out.write(first);
        out.sync();
        Path staging = stagingFiles().get(0);
        FileTime sevenHoursAgo = FileTime.fromMillis(System.currentTimeMillis() - Duration.ofHours(7).toMillis());
        Files.setLastModifiedTime(staging, sevenHoursAgo); // no write since

        fs.runtime().keepOpenStagingFilesAlive(); // what the runtime runs every 30 minutes
        fs.runtime().tier().evictIfOverBudget(); // a scan, of this process or any sharing the directory

        assertThat(staging).exists();
        out.write(second);
        out.close();
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.write(first);
        expected.write(second);
        assertThat(store.object(BUCKET, "cp/idle")).hasValue(expected.toByteArray());

        // a staging file no open stream owns (a crash's) still goes after the same hours
        Path leftover = fs.runtime().tier().newStagingFile();
        Files.write(leftover, bytes(10, 3));
        Files.setLastModifiedTime(leftover, sevenHoursAgo);
        fs.runtime().keepOpenStagingFilesAlive();
        fs.runtime().tier().evictIfOverBudget();
        assertThat(leftover).doesNotExist();
    }
}
