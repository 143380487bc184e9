package io.github.s3tiered.tier;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Run in a JVM of its own (by {@link FrozenTierNeighbourTest}): takes the eviction lock of the tier
 * directory {@code args[0]}, prints "locked" and keeps it until its standard input closes, as a
 * process frozen in the middle of a scan would.
 */
public final class TierLockHolderRun {

    public static void main(String[] args) throws Exception {
        Path lockFile = new TierLayout(Path.of(args[0]), "").lockFile();
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock = ch.lock()) {
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() >= 0) {
                // held until the test closes the pipe or kills this process
            }
        }
    }
}
