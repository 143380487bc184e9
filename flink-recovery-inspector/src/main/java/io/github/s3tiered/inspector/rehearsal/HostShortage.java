package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.RocksDBException;
import org.rocksdb.Status;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Tells a RocksDB failure that this host caused (no disk space, no file descriptor, no memory)
 * from one the checkpoint's files caused. A rehearsal that ran out of the host's resources has
 * proven nothing wrong with the checkpoint, and must not call it damaged: the guard would then
 * resume from an older checkpoint, or not at all.
 *
 * <p>The C locale's texts of these shortages count under any code (RocksDB wraps some I/O errors
 * in a {@code Corruption}): no file's content reads so. But the text is not enough: its errno part
 * is the C library's {@code strerror}, translated under the host's locale ("Zu viele offene
 * Dateien" for "Too many open files" once a German catalogue has been loaded). So RocksDB's status
 * decides next: the sub codes {@code NoSpace} and {@code MemoryLimit} are the host's. Damage never
 * reads as a bare I/O error here: a table missing under the MANIFEST's name, a wrong size or a
 * changed block come as {@code Corruption}, a missing MANIFEST as a path not found, and the
 * scratch copies are the rehearsal's own. So a bare {@code IOError} (sub code {@code None}) is the
 * host's when this process holds so many descriptors that opening the snapshot's files would
 * exceed its limit, when the system's file table is that full, or when not one file could be
 * opened to count them.
 */
final class HostShortage {

    /** Descriptors besides the snapshot's files that an open may take (MANIFEST, LOG, other threads'). */
    static final int DESCRIPTOR_MARGIN = 64;

    private HostShortage() {}

    /**
     * Loads this class and its count now, before any open that could use up the descriptors: a
     * class read from a directory takes one, and the count is needed when there may be none.
     */
    static void load() {
        java.util.Objects.requireNonNull(OpenFiles.NONE_LEFT);
    }

    /**
     * Whether {@code t}, thrown while RocksDB opened or read {@code filesToOpen} files at once, is
     * this host's shortage rather than the files' damage. The descriptors are counted only where
     * nothing else decides: counting takes a descriptor and, out of heap, may fail itself.
     */
    static boolean explains(Throwable t, Supplier<OpenFiles> host, long filesToOpen) {
        if (t instanceof OutOfMemoryError || saysShortInEnglish(messagesOf(t))) {
            // strerror's text, also where RocksDB wraps the I/O error in a Corruption: no file's content reads so
            return true;
        }
        Status status = statusOf(t);
        if (status == null) {
            return false;
        }
        if (status.getSubCode() == Status.SubCode.NoSpace || status.getSubCode() == Status.SubCode.MemoryLimit) {
            return true;
        }
        // Corruption (also a table missing, whose translated ENOENT the Corruption wraps), InvalidArgument,
        // a path not found: the files', however short of descriptors this process is
        if (status.getCode() != Status.Code.IOError || status.getSubCode() != Status.SubCode.None) {
            return false;
        }
        try {
            return host.get().wouldRunOut(filesToOpen + DESCRIPTOR_MARGIN);
        } catch (OutOfMemoryError counting) {
            return true; // short of heap as well
        }
    }

    /** Every message of the cause chain, whole: a long scratch path must not push the errno text out. */
    private static String messagesOf(Throwable t) {
        StringBuilder all = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            all.append(c.getMessage()).append('\n');
        }
        return all.toString();
    }

    private static Status statusOf(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof RocksDBException r && r.getStatus() != null) {
                return r.getStatus();
            }
        }
        return null;
    }

    /** The C locale's texts of ENOSPC, EMFILE/ENFILE and ENOMEM. */
    static boolean saysShortInEnglish(String description) {
        String d = description.toLowerCase(Locale.ROOT);
        return d.contains("too many open files") || d.contains("cannot allocate memory") || d.contains("no space left");
    }

    /**
     * The descriptors this process holds against its soft limit, and the open files of the whole
     * system against the size of its file table ({@code /proc/sys/fs/file-nr}: ENFILE, "Too many
     * open files in system", whose text is translated as well), from {@code /proc}; -1 where not
     * known. {@link #UNKNOWN} (no {@code /proc}: not Linux) never explains a failure. {@link
     * #NONE_LEFT} ({@code /proc} is there, but not one file of it could be opened for the count)
     * always does: this process cannot open a file now.
     */
    record OpenFiles(long open, long limit, long systemOpen, long systemLimit, boolean noneLeft) {

        static final OpenFiles UNKNOWN = new OpenFiles(-1, -1);
        static final OpenFiles NONE_LEFT = new OpenFiles(-1, -1, -1, -1, true);

        OpenFiles(long open, long limit) {
            this(open, limit, -1, -1, false);
        }

        boolean wouldRunOut(long more) {
            return noneLeft
                    || open >= 0 && limit > 0 && open + more >= limit
                    || systemOpen >= 0 && systemLimit > 0 && systemOpen + more >= systemLimit;
        }

        private static final Path FDS = Path.of("/proc/self/fd");
        private static final Path LIMITS = Path.of("/proc/self/limits");
        private static final Path SYSTEM_FILES = Path.of("/proc/sys/fs/file-nr");

        /**
         * Counted where RocksDB failed with a bare I/O error, one descriptor at a time: the
         * listing's, then the limits', then the system's count ({@code java.io.File#list} takes
         * one; {@code Files.list} two). RocksDB's failed open has released its own descriptors by
         * then; where others (other threads', other processes') still hold every one this process
         * or the system may have, not one file of {@code /proc} opens for the count: {@link
         * #NONE_LEFT}. Where {@code /proc} may not be read at all (a process that is not dumpable
         * finds {@code /proc/self/fd} owned by root), the count is {@link #UNKNOWN}: asked with
         * access(2) first, which needs no descriptor.
         */
        static OpenFiles ofThisProcess() {
            try {
                if (!Files.isDirectory(FDS) || !Files.isReadable(FDS) || !Files.isReadable(LIMITS)) {
                    return UNKNOWN;
                }
                String[] fds = FDS.toFile().list();
                if (fds == null) {
                    return NONE_LEFT; // there, but it could not be opened: EMFILE or ENFILE
                }
                long limit;
                try {
                    limit = softLimit(Files.readAllLines(LIMITS));
                } catch (IOException notOpened) {
                    return NONE_LEFT;
                }
                long[] system = {-1, -1};
                try {
                    // not Files.readString: on a file of size 0, as /proc/sys reports, it gave the first byte alone (JDK 17)
                    system = systemFiles(String.join(" ", Files.readAllLines(SYSTEM_FILES)));
                } catch (IOException notThere) {
                    // a container may hide /proc/sys: the process's own count still decides
                }
                return new OpenFiles(fds.length, limit, system[0], system[1], false);
            } catch (RuntimeException notReadable) {
                return UNKNOWN;
            }
        }

        /**
         * The system's open files and the size of its file table from {@code /proc/sys/fs/file-nr}
         * ("allocated free maximum"); -1 for each where the text is not that.
         */
        static long[] systemFiles(String fileNr) {
            String[] columns = fileNr.trim().split("\\s+");
            if (columns.length != 3 || !java.util.Arrays.stream(columns).allMatch(c -> c.matches("\\d{1,19}"))) {
                return new long[] {-1, -1};
            }
            try {
                long allocated = Long.parseLong(columns[0]);
                long free = Long.parseLong(columns[1]);
                return new long[] {Math.max(0, allocated - free), Long.parseLong(columns[2])};
            } catch (NumberFormatException beyondLong) {
                return new long[] {-1, -1};
            }
        }

        /** The soft limit of "Max open files" in {@code /proc/<pid>/limits}; -1 when unlimited or absent. */
        static long softLimit(List<String> limits) {
            for (String line : limits) {
                if (line.startsWith("Max open files")) {
                    String[] columns = line.substring("Max open files".length()).trim().split("\\s+");
                    return columns.length > 0 && columns[0].chars().allMatch(Character::isDigit) && !columns[0].isEmpty()
                            ? Long.parseLong(columns[0]) : -1;
                }
            }
            return -1;
        }
    }
}
