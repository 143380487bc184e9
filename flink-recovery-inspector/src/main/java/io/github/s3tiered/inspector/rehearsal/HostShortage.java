package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.RocksDBException;
import org.rocksdb.Status;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * exceed its limit.
 */
final class HostShortage {

    /** Descriptors besides the snapshot's files that an open may take (MANIFEST, LOG, other threads'). */
    static final int DESCRIPTOR_MARGIN = 64;

    private HostShortage() {}

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
     * The descriptors this process holds and its soft limit, from {@code /proc/self}; where that is
     * not readable (not Linux), {@link #UNKNOWN}, which never explains a failure.
     */
    record OpenFiles(long open, long limit) {

        static final OpenFiles UNKNOWN = new OpenFiles(-1, -1);

        boolean wouldRunOut(long more) {
            return open >= 0 && limit > 0 && open + more >= limit;
        }

        private static final Path FDS = Path.of("/proc/self/fd");
        private static final Path LIMITS = Path.of("/proc/self/limits");

        /**
         * One descriptor held back for the count itself: a process that used up its descriptors
         * could not open {@code /proc} to find out. Taken when the rehearsal's RocksDB check is
         * first loaded ({@link #holdOneBack}), before any open that could use them up. Null where
         * there is no {@code /proc}. Another thread may take the descriptor between its release
         * and the count; the count then fails, and the failure is called the files', as before.
         */
        private static FileChannel reserved;

        /** Holds back the descriptor for the count, where none is held yet. */
        static synchronized void holdOneBack() {
            if (reserved == null) {
                reserved = reserve();
            }
        }

        static synchronized OpenFiles ofThisProcess() {
            OpenFiles counted = count();
            if (counted != UNKNOWN || reserved == null) {
                if (counted != UNKNOWN) {
                    holdOneBack(); // none could be had before
                }
                return counted;
            }
            try {
                reserved.close();
            } catch (IOException ignored) {
                // the descriptor is released all the same
            }
            counted = count();
            reserved = reserve();
            return counted;
        }

        /**
         * One descriptor at a time: the listing's, then the limits'. ({@code java.io.File#list}
         * takes one; {@code Files.list} two.)
         */
        private static OpenFiles count() {
            try {
                String[] fds = FDS.toFile().list();
                if (fds == null) {
                    return UNKNOWN;
                }
                long limit = softLimit(Files.readAllLines(LIMITS));
                return limit > 0 ? new OpenFiles(fds.length, limit) : UNKNOWN;
            } catch (IOException | RuntimeException notReadable) {
                return UNKNOWN;
            }
        }

        private static FileChannel reserve() {
            try {
                return Files.isDirectory(FDS) ? FileChannel.open(LIMITS, StandardOpenOption.READ) : null;
            } catch (IOException | RuntimeException none) {
                return null;
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
