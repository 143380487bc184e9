package io.github.s3tiered.inspector.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.core.fs.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;

/** A local path as a user types it, spaces, percent signs and letters beyond ASCII included. */
class UserPathTest {

    @TempDir
    java.nio.file.Path dir;

    @Test
    void aLocalPathNamesTheFileTypedNotAnEscapedOne() throws Exception {
        // file names beyond ASCII only where the JVM encodes them (not in a POSIX locale)
        boolean utf8Names = "UTF-8".equalsIgnoreCase(System.getProperty("sun.jnu.encoding"));
        for (String name : utf8Names ? new String[] {"my checkpoints", "100% state", "zustände"}
                : new String[] {"my checkpoints", "100% state"}) {
            java.nio.file.Path typed = Files.createDirectories(dir.resolve(name).resolve("chk-1"));

            Path path = FlinkEnvironment.path(typed.toString());

            assertThat(path.toUri().getScheme()).isEqualTo("file");
            assertThat(path.toUri().getPath()).isEqualTo(typed.toAbsolutePath().toString());
            assertThat(path.getFileSystem().exists(path)).as(path.toString()).isTrue();
        }
    }

    @Test
    void aUriKeepsItsScheme() {
        assertThat(FlinkEnvironment.path("s3tiered://bucket/jobs/chk-1").toUri().toString())
                .isEqualTo("s3tiered://bucket/jobs/chk-1");
    }
}
