package io.github.s3tiered.tier;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** A copy the tier checked, and the identity of the file it checked. */
public record IntactCopy(TierEntry entry, FileIdentity identity) {

    /**
     * Whether {@code file} (a hard link made from the copy, or the copy's path now) is still the
     * file that was checked: false after an eviction, a drop or a replacement in between.
     */
    public boolean isTheCheckedFile(Path file) throws IOException {
        try {
            return FileIdentity.of(file).equals(identity);
        } catch (NoSuchFileException gone) {
            return false;
        }
    }
}
