package io.github.s3tiered.tier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A local-tier copy that cannot be read for a reason of this process (no descriptor left, no
 * permission) is passed over, not dropped as damaged: its bytes were never seen.
 */
class HostSideReadFailureTest {

    @Test
    void whatTheHostCausesIsToldFromWhatTheFileCauses() {
        assertThat(HostSideReadFailure.is(new FileNotFoundException("/t/x.meta (Too many open files)"))).isTrue();
        assertThat(HostSideReadFailure.is(new FileSystemException("/t/x", null, "Too many open files"))).isTrue();
        assertThat(HostSideReadFailure.is(new AccessDeniedException("/t/x"))).isTrue();
        assertThat(HostSideReadFailure.is(new IOException("wrapped", new FileNotFoundException("/t/x (Permission denied)"))))
                .isTrue();
        assertThat(HostSideReadFailure.is(new IOException("Input/output error"))).isFalse();
        assertThat(HostSideReadFailure.is(new IOException("Is a directory"))).isFalse();
    }

    @Test
    void aCopyReadWithNoDescriptorLeftIsKept(@TempDir Path tmp) throws Exception {
        assumeTrue(prlimitWorks(), "no prlimit here");
        Path output = tmp.resolve("output");
        Process p = new ProcessBuilder(List.of("prlimit", "--nofile=256:256",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), TierDescriptorShortageRun.class.getName(),
                tmp.resolve("tier").toString())).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        String out = java.nio.file.Files.readString(output, StandardCharsets.UTF_8);

        assertThat(p.isAlive()).as(out).isFalse();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("served=false kept=true corruptions=0");
    }

    private static boolean prlimitWorks() {
        try {
            Process p = new ProcessBuilder("prlimit", "--version").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
