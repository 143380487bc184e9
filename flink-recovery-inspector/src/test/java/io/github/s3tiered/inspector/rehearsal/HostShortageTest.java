package io.github.s3tiered.inspector.rehearsal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.RocksDBException;
import org.rocksdb.Status;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Which RocksDB failures of a rehearsal are the host's shortage, whatever the host's language. */
class HostShortageTest {

    private static final HostShortage.OpenFiles PLENTY = new HostShortage.OpenFiles(40, 1_048_576);
    private static final HostShortage.OpenFiles NEARLY_ALL_HELD = new HostShortage.OpenFiles(900, 1024);

    private static RocksDBException rocks(Status.Code code, Status.SubCode sub, String message) {
        return new RocksDBException(message, new Status(code, sub, message));
    }

    @Test
    void aBareIoErrorIsTheHostsWhenTheOpenWouldExceedTheDescriptorLimitInAnyLanguage() {
        RocksDBException german = rocks(Status.Code.IOError, Status.SubCode.None,
                "While open a file for random read: /tmp/r/000059.sst: Zu viele offene Dateien");
        assertThat(HostShortage.explains(german, NEARLY_ALL_HELD, 300)).isTrue();
        // the same text with descriptors to spare: nothing says it is the host's
        assertThat(HostShortage.explains(german, PLENTY, 300)).isFalse();
        assertThat(HostShortage.explains(german, HostShortage.OpenFiles.UNKNOWN, 300)).isFalse();
    }

    @Test
    void aBareIoErrorIsTheHostsWhenItsEnglishTextNamesAShortage() {
        for (String text : List.of("Too many open files", "Cannot allocate memory", "No space left on device")) {
            RocksDBException e = rocks(Status.Code.IOError, Status.SubCode.None, "While open a file for random read: x.sst: " + text);
            assertThat(HostShortage.explains(e, PLENTY, 10)).as(text).isTrue();
        }
    }

    @Test
    void noSpaceAndMemoryLimitAreTheHostsByTheirSubCode() {
        RocksDBException noSpace = rocks(Status.Code.IOError, Status.SubCode.NoSpace,
                "While appending to file: /tmp/r/LOG: Auf dem Gerät ist kein Speicherplatz mehr verfügbar");
        assertThat(HostShortage.explains(noSpace, PLENTY, 10)).isTrue();
        assertThat(HostShortage.explains(rocks(Status.Code.Aborted, Status.SubCode.MemoryLimit, "Memory limit reached"), PLENTY, 10))
                .isTrue();
    }

    @Test
    void corruptionAndOtherCodesAreTheFilesEvenWithDescriptorsShort() {
        // RocksDB reports a table missing under the MANIFEST's name as Corruption wrapping the I/O error
        RocksDBException missing = rocks(Status.Code.Corruption, Status.SubCode.None, "Corruption: IO error: No such file or"
                + " directory: While open a file for random read: r/000101.sst: Datei oder Verzeichnis nicht gefunden  The"
                + " file r/MANIFEST-000005 may be corrupted.");
        assertThat(HostShortage.explains(missing, NEARLY_ALL_HELD, 300)).isFalse();
        // but a shortage's English text counts under any code: no file's content reads so
        RocksDBException wrappedShortage = rocks(Status.Code.Corruption, Status.SubCode.None, "Corruption: IO error: While"
                + " open a file for random read: r/000101.sst: Too many open files");
        assertThat(HostShortage.explains(wrappedShortage, PLENTY, 300)).isTrue();
        assertThat(HostShortage.explains(rocks(Status.Code.InvalidArgument, Status.SubCode.None, "Column family not found"),
                NEARLY_ALL_HELD, 300)).isFalse();
        // a path not found comes to Java as an undefined sub code
        assertThat(HostShortage.explains(rocks(Status.Code.IOError, Status.SubCode.Undefined, "No such file or directory"),
                NEARLY_ALL_HELD, 300)).isFalse();
    }

    @Test
    void withoutARocksDbStatusOnlyAnEnglishShortageOrRunningOutOfHeapIsTheHosts() {
        assertThat(HostShortage.explains(new IOException("No space left on device"), PLENTY, 10)).isTrue();
        assertThat(HostShortage.explains(new IOException("Zu viele offene Dateien"), NEARLY_ALL_HELD, 300)).isFalse();
        assertThat(HostShortage.explains(new IOException("block checksum mismatch"), NEARLY_ALL_HELD, 300)).isFalse();
        assertThat(HostShortage.explains(new OutOfMemoryError("Java heap space"), PLENTY, 10)).isTrue();
    }

    @Test
    void theSoftLimitIsReadFromProcLimits() {
        List<String> limits = List.of(
                "Limit                     Soft Limit           Hard Limit           Units     ",
                "Max processes             95446                95446                processes ",
                "Max open files            1024                 524288               files     ");
        assertThat(HostShortage.OpenFiles.softLimit(limits)).isEqualTo(1024);
        assertThat(HostShortage.OpenFiles.softLimit(List.of("Max open files            unlimited            unlimited            files")))
                .isEqualTo(-1);
        assertThat(HostShortage.OpenFiles.softLimit(List.of())).isEqualTo(-1);
        assumeTrue(Files.isReadable(Path.of("/proc/self/limits")), "no /proc here");
        HostShortage.OpenFiles here = HostShortage.OpenFiles.ofThisProcess();
        assertThat(here.open()).isPositive();
        assertThat(here.limit()).isGreaterThan(here.open());
    }

    /**
     * RocksDB's real failure when the open runs out of descriptors, in a JVM limited to 1,024 of
     * them (or fewer, where this one may open fewer), under a German locale where this host can
     * make one: its text is then translated, and only the descriptor count tells it from damage.
     */
    @Test
    void aRealDescriptorShortageIsTheHostsUnderATranslatingLocale(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/limits")), "no /proc here");
        assumeTrue(run(List.of("prlimit", "--version"), tmp, null).exitCode == 0, "no prlimit here");
        Path locales = tmp.resolve("locales");
        Files.createDirectories(locales);
        boolean german = Files.exists(Path.of("/usr/share/locale/de/LC_MESSAGES/libc.mo"))
                && run(List.of("localedef", "-i", "de_DE", "-f", "UTF-8", locales.resolve("de_DE.UTF-8").toString()), tmp, null)
                        .exitCode == 0;
        // lowering the limits needs no privilege; at most this JVM's own soft limit, so never a raise
        long limit = Math.min(1024, HostShortage.OpenFiles.ofThisProcess().limit());
        assumeTrue(limit >= 512, () -> "this process may open only " + limit + " files");
        List<String> cmd = new ArrayList<>(List.of("prlimit", "--nofile=" + limit + ":" + limit,
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), DescriptorShortageRun.class.getName(),
                "300"));
        // fewer descriptors left than the open needs; then none at all, where the count itself needs the one held back
        for (String mode : List.of("some", "all")) {
            List<String> withMode = new ArrayList<>(cmd);
            withMode.add(withMode.size() - 1, tmp.resolve("db-" + mode).toString());
            withMode.add(mode);
            Result r = run(withMode, tmp, german ? locales : null);
            assertThat(r.exitCode).as(r.output).isZero();
            String verdict = r.output.lines().filter(l -> l.startsWith("explains=")).findFirst().orElse("none in: " + r.output);
            assertThat(verdict).as(mode).startsWith("explains=true status=IOError/None");
            if (german) {
                assertThat(r.output).contains("nicht gefunden"); // the warm-up's error: the locale is in use
                assertThat(verdict.toLowerCase(Locale.ROOT)).as(mode).doesNotContain("too many open files");
            }
        }
    }

    private record Result(int exitCode, String output) {}

    private static Result run(List<String> cmd, Path dir, Path germanLocales) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        if (germanLocales != null) {
            pb.environment().remove("LC_MESSAGES");
            pb.environment().put("LOCPATH", germanLocales.toString());
            pb.environment().put("LANG", "de_DE.UTF-8");
            pb.environment().put("LC_ALL", "de_DE.UTF-8");
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException notInstalled) {
            return new Result(-1, notInstalled.getMessage());
        }
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
