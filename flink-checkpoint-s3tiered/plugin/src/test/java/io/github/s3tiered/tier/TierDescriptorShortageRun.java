package io.github.s3tiered.tier;

import io.github.s3tiered.s3.Crc32c;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Run in a JVM of its own under a low open-file limit (by {@link HostSideReadFailureTest}): commits
 * a copy, takes every descriptor left, asks a tier of another process's view (which must read the
 * copy's sidecar) for it, gives the descriptors back and prints what became of the copy:
 * "served=<bool> kept=<bool> corruptions=<n>".
 */
public final class TierDescriptorShortageRun {

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        LocalTier writer = new LocalTier(dir, 1 << 20);
        Path staged = writer.newStagingFile();
        Files.write(staged, new byte[1000]);
        writer.commit("b", "k", staged, 1000, Crc32c.ofFile(staged));
        LocalTier reader = new LocalTier(dir, 1 << 20); // has not checked the copy itself
        // classes load from files: each one the read below needs is loaded while descriptors are left
        HostSideReadFailure.is(new IOException("warm-up", new TierLayout.SidecarUnreadableException(dir, "warm-up", true)));
        new CopyVerification.NotReadHere("warm-up").why();
        org.slf4j.LoggerFactory.getLogger(LocalTier.class).warn("warm-up of {}: {}", "the log", "no copy read yet");
        reader.getVerified("b", "none");

        List<InputStream> held = new ArrayList<>();
        boolean served = true;
        // another thread of the JVM may close a descriptor while the read runs (the shortage then
        // ended before the read): such a round proves nothing and is made again
        for (int round = 0; round < 5; round++) {
            held.clear();
            boolean shortageHeld;
            try {
                while (true) {
                    try {
                        held.add(new FileInputStream("/dev/null"));
                    } catch (IOException none) {
                        break;
                    }
                }
                served = reader.getVerified("b", "k").isPresent();
                shortageHeld = !canOpenOneMore(held);
            } finally {
                for (InputStream in : held) {
                    in.close();
                }
            }
            if (shortageHeld) {
                break;
            }
        }
        boolean kept = Files.exists(writer.dataPath("b", "k")) && reader.getVerified("b", "k").isPresent();
        System.out.println("served=" + served + " kept=" + kept + " corruptions=" + reader.statistics().corruptionsDetected.sum()
                + " held=" + held.size());
    }

    /** Whether a descriptor is free (it is taken into {@code held} then, and closed with them). */
    private static boolean canOpenOneMore(List<InputStream> held) {
        try {
            held.add(new FileInputStream("/dev/null"));
            return true;
        } catch (IOException none) {
            return false;
        }
    }
}
