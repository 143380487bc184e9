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
        assertThat(HostShortage.explains(german, () -> NEARLY_ALL_HELD, 300)).isTrue();
        // the same text with descriptors to spare: nothing says it is the host's
        assertThat(HostShortage.explains(german, () -> PLENTY, 300)).isFalse();
        assertThat(HostShortage.explains(german, () -> HostShortage.OpenFiles.UNKNOWN, 300)).isFalse();
    }

    @Test
    void aBareIoErrorIsTheHostsWhenTheSystemsFileTableIsFullOrNoFileOpensToCount() {
        // ENFILE, translated: this process holds few descriptors, the system's table is nearly full
        RocksDBException german = rocks(Status.Code.IOError, Status.SubCode.None,
                "While open a file for random read: /tmp/r/000059.sst: Zu viele offene Dateien im System");
        assertThat(HostShortage.explains(german, () -> new HostShortage.OpenFiles(40, 1_048_576, 99_800, 100_000, false), 300))
                .isTrue();
        assertThat(HostShortage.explains(german, () -> new HostShortage.OpenFiles(40, 1_048_576, 9_800, 100_000, false), 300))
                .isFalse();
        // the open used up the descriptors and they are not free again: not even /proc could be opened
        assertThat(HostShortage.explains(german, () -> HostShortage.OpenFiles.NONE_LEFT, 300)).isTrue();
        // a status that decides for the files is not overruled by either
        RocksDBException corrupt = rocks(Status.Code.Corruption, Status.SubCode.None, "block checksum mismatch");
        assertThat(HostShortage.explains(corrupt, () -> HostShortage.OpenFiles.NONE_LEFT, 300)).isFalse();
        assertThat(HostShortage.explains(corrupt, () -> new HostShortage.OpenFiles(40, 1_048_576, 100_000, 100_000, false), 300))
                .isFalse();
    }

    @Test
    void theSystemsOpenFilesAreReadFromProcFileNr() {
        assertThat(HostShortage.OpenFiles.systemFiles("1184\t0\t9223372036854775807\n"))
                .containsExactly(1184, Long.MAX_VALUE);
        assertThat(HostShortage.OpenFiles.systemFiles("5000 200 100000")).containsExactly(4800, 100_000);
        for (String odd : List.of("", "1184 0", "a b c", "1 2 3 4", "1 0 99999999999999999999")) {
            assertThat(HostShortage.OpenFiles.systemFiles(odd)).as(odd).containsExactly(-1, -1);
        }
        assumeTrue(Files.isReadable(Path.of("/proc/sys/fs/file-nr")), "no /proc/sys/fs/file-nr here");
        HostShortage.OpenFiles here = HostShortage.OpenFiles.ofThisProcess();
        assertThat(here.systemOpen()).isGreaterThanOrEqualTo(here.open());
        assertThat(here.systemLimit()).isGreaterThan(here.systemOpen());
        assertThat(here.noneLeft()).isFalse();
    }

    @Test
    void aBareIoErrorIsTheHostsWhenItsEnglishTextNamesAShortage() {
        for (String text : List.of("Too many open files", "Cannot allocate memory", "No space left on device")) {
            RocksDBException e = rocks(Status.Code.IOError, Status.SubCode.None, "While open a file for random read: x.sst: " + text);
            assertThat(HostShortage.explains(e, () -> PLENTY, 10)).as(text).isTrue();
        }
    }

    @Test
    void noSpaceAndMemoryLimitAreTheHostsByTheirSubCode() {
        RocksDBException noSpace = rocks(Status.Code.IOError, Status.SubCode.NoSpace,
                "While appending to file: /tmp/r/LOG: Auf dem Gerät ist kein Speicherplatz mehr verfügbar");
        assertThat(HostShortage.explains(noSpace, () -> PLENTY, 10)).isTrue();
        assertThat(HostShortage.explains(rocks(Status.Code.Aborted, Status.SubCode.MemoryLimit, "Memory limit reached"), () -> PLENTY, 10))
                .isTrue();
    }

    @Test
    void corruptionAndOtherCodesAreTheFilesEvenWithDescriptorsShort() {
        // RocksDB reports a table missing under the MANIFEST's name as Corruption wrapping the I/O error
        RocksDBException missing = rocks(Status.Code.Corruption, Status.SubCode.None, "Corruption: IO error: No such file or"
                + " directory: While open a file for random read: r/000101.sst: Datei oder Verzeichnis nicht gefunden  The"
                + " file r/MANIFEST-000005 may be corrupted.");
        assertThat(HostShortage.explains(missing, () -> NEARLY_ALL_HELD, 300)).isFalse();
        // but a shortage's English text counts under any code: no file's content reads so
        RocksDBException wrappedShortage = rocks(Status.Code.Corruption, Status.SubCode.None, "Corruption: IO error: While"
                + " open a file for random read: r/000101.sst: Too many open files");
        assertThat(HostShortage.explains(wrappedShortage, () -> PLENTY, 300)).isTrue();
        assertThat(HostShortage.explains(rocks(Status.Code.InvalidArgument, Status.SubCode.None, "Column family not found"),
                () -> NEARLY_ALL_HELD, 300)).isFalse();
        // a path not found comes to Java as an undefined sub code
        assertThat(HostShortage.explains(rocks(Status.Code.IOError, Status.SubCode.Undefined, "No such file or directory"),
                () -> NEARLY_ALL_HELD, 300)).isFalse();
    }

    @Test
    void descriptorsAreCountedOnlyForABareIoError() {
        java.util.function.Supplier<HostShortage.OpenFiles> notToBeCounted = () -> {
            throw new AssertionError("counted descriptors where the status or the text decides");
        };
        assertThat(HostShortage.explains(rocks(Status.Code.Corruption, Status.SubCode.None, "block checksum mismatch"),
                notToBeCounted, 300)).isFalse();
        assertThat(HostShortage.explains(rocks(Status.Code.IOError, Status.SubCode.NoSpace, "kein Speicherplatz"),
                notToBeCounted, 300)).isTrue();
        assertThat(HostShortage.explains(new OutOfMemoryError(), notToBeCounted, 300)).isTrue();
        // out of heap while counting: short of memory as well
        assertThat(HostShortage.explains(rocks(Status.Code.IOError, Status.SubCode.None, "E/A-Fehler"), () -> {
            throw new OutOfMemoryError("Java heap space");
        }, 300)).isTrue();
    }

    /**
     * RocksDB's own failures on damaged files, as the rehearsal's open meets them, are the files'
     * even in a process that has no descriptor left. Each case's status is RocksDB's, not
     * made up here; any of them that came as a bare I/O error would be counted as the host's.
     */
    @Test
    void realDamageIsTheFilesWithDescriptorsShort(@TempDir Path tmp) throws Exception {
        assumeTrue(RocksDbLibrary.load(), "RocksDB's native library does not load here");
        Path db = tmp.resolve("db");
        try (org.rocksdb.Options o = new org.rocksdb.Options().setCreateIfMissing(true).setDisableAutoCompactions(true);
                org.rocksdb.RocksDB rocks = org.rocksdb.RocksDB.open(o, db.toString());
                org.rocksdb.FlushOptions flush = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
            for (int i = 0; i < 5; i++) {
                rocks.put(("key-" + i).getBytes(StandardCharsets.UTF_8), new byte[4096]);
                rocks.flush(flush);
            }
        }
        List<Path> tables;
        try (java.util.stream.Stream<Path> files = Files.list(db)) {
            tables = files.filter(f -> f.toString().endsWith(".sst")).sorted().toList();
        }
        String manifest = Files.readString(db.resolve("CURRENT")).trim();
        java.util.Map<String, java.util.function.Consumer<Path>> damages = new java.util.LinkedHashMap<>();
        damages.put("a table missing", d -> delete(d.resolve(tables.get(1).getFileName())));
        damages.put("a table cut short", d -> truncate(d.resolve(tables.get(1).getFileName()), 500));
        damages.put("a table's last bytes changed", d -> flipLastByte(d.resolve(tables.get(1).getFileName())));
        if (org.rocksdb.RocksDB.rocksdbVersion().getMajor() >= 8) { // RocksDB 6 (the 1.20 line) compares no unique ids
            damages.put("another table under a table's name", d -> copy(d.resolve(tables.get(2).getFileName()),
                    d.resolve(tables.get(1).getFileName())));
        }
        damages.put("the MANIFEST missing", d -> delete(d.resolve(manifest)));
        damages.put("the MANIFEST cut short", d -> truncate(d.resolve(manifest), 40));
        damages.put("CURRENT naming another MANIFEST", d -> write(d.resolve("CURRENT"), "MANIFEST-999999\n"));
        damages.put("CURRENT without its newline", d -> write(d.resolve("CURRENT"), manifest));
        int n = 0;
        for (java.util.Map.Entry<String, java.util.function.Consumer<Path>> damage : damages.entrySet()) {
            Path copy = tmp.resolve("damaged-" + n++);
            copyTree(db, copy);
            damage.getValue().accept(copy);
            Throwable failure = openReadOnly(copy);
            assertThat(failure).as(damage.getKey()).isNotNull();
            Status status = ((org.rocksdb.RocksDBException) failure).getStatus();
            assertThat(HostShortage.explains(failure, () -> new HostShortage.OpenFiles(1024, 1024), tables.size()))
                    .as("%s: %s/%s %s", damage.getKey(), status.getCode(), status.getSubCode(), failure.getMessage())
                    .isFalse();
        }
    }

    private static Throwable openReadOnly(Path dir) {
        List<org.rocksdb.ColumnFamilyHandle> handles = new ArrayList<>();
        try (org.rocksdb.DBOptions o = new org.rocksdb.DBOptions().setParanoidChecks(true).setMaxOpenFiles(-1);
                org.rocksdb.RocksDB rocks = org.rocksdb.RocksDB.openReadOnly(o, dir.toString(),
                        List.of(new org.rocksdb.ColumnFamilyDescriptor(org.rocksdb.RocksDB.DEFAULT_COLUMN_FAMILY)), handles)) {
            handles.forEach(org.rocksdb.ColumnFamilyHandle::close);
            return null;
        } catch (org.rocksdb.RocksDBException e) {
            return e;
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (java.util.stream.Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }

    private static void delete(Path p) {
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void truncate(Path p, long size) {
        try (java.nio.channels.FileChannel c = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            c.truncate(size);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void flipLastByte(Path p) {
        try {
            byte[] b = Files.readAllBytes(p);
            b[b.length - 1] ^= 0x5A;
            Files.write(p, b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void copy(Path from, Path to) {
        try {
            Files.copy(from, to, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void write(Path p, String text) {
        try {
            Files.writeString(p, text);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void withoutARocksDbStatusOnlyAnEnglishShortageOrRunningOutOfHeapIsTheHosts() {
        assertThat(HostShortage.explains(new IOException("No space left on device"), () -> PLENTY, 10)).isTrue();
        assertThat(HostShortage.explains(new IOException("Zu viele offene Dateien"), () -> NEARLY_ALL_HELD, 300)).isFalse();
        assertThat(HostShortage.explains(new IOException("block checksum mismatch"), () -> NEARLY_ALL_HELD, 300)).isFalse();
        assertThat(HostShortage.explains(new OutOfMemoryError("Java heap space"), () -> PLENTY, 10)).isTrue();
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
        // fewer descriptors left than the open needs; then none at all, where not even the count can open a file
        for (String mode : List.of("some", "all")) {
            List<String> withMode = new ArrayList<>(cmd);
            withMode.add(withMode.size() - 1, tmp.resolve("db-" + mode).toString());
            withMode.add(mode);
            Result r = run(withMode, tmp, german ? locales : null);
            assertThat(r.exitCode).as(r.output).isZero();
            String verdict = r.output.lines().filter(l -> l.startsWith("explains=")).findFirst().orElse("none in: " + r.output);
            assertThat(verdict).as(mode).startsWith("explains=true status=IOError/None");
            // whatever the language here: the count alone, with the errno text taken out of the message
            assertThat(r.output).as(mode).contains("without its errno text: explains=true");
            if (german) {
                assertThat(r.output).contains("nicht gefunden"); // the warm-up's error: the locale is in use
                assertThat(verdict.toLowerCase(Locale.ROOT)).as(mode).doesNotContain("too many open files");
            }
        }
    }

    private record Result(int exitCode, String output) {}

    private static Result run(List<String> cmd, Path dir, Path germanLocales) throws Exception {
        Path output = Files.createTempFile(dir, "output-", ".txt");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(output.toFile());
        if (germanLocales != null) {
            pb.environment().remove("LC_MESSAGES");
            pb.environment().remove("LANGUAGE"); // gettext would prefer its languages to the locale's
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
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly().waitFor();
            return new Result(-2, "did not end within 2 minutes: " + cmd + "\n" + Files.readString(output));
        }
        return new Result(p.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
    }
}
