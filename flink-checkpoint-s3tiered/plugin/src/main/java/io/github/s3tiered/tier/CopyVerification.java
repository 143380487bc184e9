package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Whether a copy's bytes are what its sidecar says. A copy is read in full (CRC32C) the first time
 * this process uses it, and again after any change of its {@link FileIdentity}; while the identity
 * is the one this process wrote or checked, the check is skipped. A new process trusts nothing.
 */
final class CopyVerification {

    /** The outcome of one check. */
    sealed interface Result {}

    /** The bytes match the sidecar; {@code identity} is the file that was checked. */
    record Intact(FileIdentity identity) implements Result {}

    /** The bytes do not match (size or CRC32C), or could not be read. */
    record Damaged(String why) implements Result {}

    /** The data file is gone (evicted or dropped meanwhile, maybe by another process). */
    record Gone() implements Result {}

    /** The bytes could not be read for a reason of this host ({@link HostSideReadFailure}): nothing is known of them. */
    record NotReadHere(String why) implements Result {}

    /**
     * Data files this process knows hold the bytes of a CRC32C, by their identity then: a copy is
     * trusted without a read only while both its file and its sidecar's CRC32C are those. Processes
     * sharing the tier may commit one key together and leave one's data under the other's sidecar.
     */
    private final ConcurrentHashMap<Path, Verified> verified = new ConcurrentHashMap<>();

    private record Verified(FileIdentity identity, int crc32c) {}
    private final TierStatistics stats;

    CopyVerification(TierStatistics stats) {
        this.stats = stats;
    }

    Result check(TierEntry e) {
        return check(e, true);
    }

    /**
     * As {@link #check}, without reading the bytes: null when they must be read (a copy this
     * process has not checked yet, or one changed since).
     */
    Result checkWithoutReading(TierEntry e) {
        return check(e, false);
    }

    private Result check(TierEntry e, boolean read) {
        try {
            FileIdentity identity = FileIdentity.of(e.data());
            if (identity.size() != e.size()) {
                return new Damaged("size " + identity.size() + " instead of " + e.size());
            }
            if (!new Verified(identity, e.crc32c()).equals(verified.get(e.data()))) {
                if (!read) {
                    return null;
                }
                int actual = Crc32c.ofFile(e.data());
                if (actual != e.crc32c()) {
                    return new Damaged("CRC32C " + Crc32c.toHex(actual) + " instead of " + Crc32c.toHex(e.crc32c()));
                }
                stats.fullChecks.increment();
                // the identity read before the check: a change during the read shows at the next use
                verified.put(e.data(), new Verified(identity, actual));
            }
            return new Intact(identity);
        } catch (NoSuchFileException gone) {
            return new Gone();
        } catch (IOException io) {
            return HostSideReadFailure.is(io) ? new NotReadHere(io.toString()) : new Damaged(io.toString());
        }
    }

    /**
     * Records a data file this process just renamed into place from bytes whose CRC32C ({@code
     * crc32c}) it computed itself ({@code staged}: the staged file's identity, which the rename keeps): no check needed
     * while it stays the same. Only if the file there now is that one: another process committing
     * the same key may have renamed its own file in since, which is checked at its first use here.
     * Returns false when the file is already gone.
     */
    boolean trustWritten(Path data, FileIdentity staged, int crc32c) throws IOException {
        try {
            FileIdentity now = FileIdentity.of(data);
            if (now.equals(staged) && now.fileKey() != null) { // without a file key, size and mtime tell too little
                verified.put(data, new Verified(now, crc32c));
            } else {
                verified.remove(data);
            }
            return true;
        } catch (NoSuchFileException evicted) {
            return false;
        }
    }

    void forget(Path data) {
        verified.remove(data);
    }

    /** Forgets every copy but {@code onDisk}'s: one removed by another process stays removed from here too. */
    void retainOnly(java.util.Set<Path> onDisk) {
        verified.keySet().retainAll(onDisk);
    }

    /** How many copies this process knows checked (tests). */
    int known() {
        return verified.size();
    }
}
