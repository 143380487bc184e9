package io.github.s3tiered.checkpoint;

import io.github.s3tiered.bridge.S3TieredBridge;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Proves once per process that a checkpoint directory can be used: the file system loads and is
 * configured, the bucket answers, the credentials may write, read and delete there, and what is
 * written there can be read back as written. The read-back goes to S3, past the local tier: an
 * endpoint that answers every write with 200 but keeps nothing (a wrong endpoint behind a gateway, a
 * misconfigured proxy) would otherwise pass the check, and every checkpoint would fail verification.
 */
final class StorageCheck {

    private static final Logger LOG = LoggerFactory.getLogger(StorageCheck.class);
    private static final Set<String> CHECKED = ConcurrentHashMap.newKeySet();

    private StorageCheck() {}

    static void ensureUsable(Path dir) throws IOException {
        ensureUsable(dir, CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(), "Checkpoint");
    }

    /** {@code option}: the key that named the directory, for the error. */
    static void ensureUsable(Path dir, String option, String what) throws IOException {
        String key = dir.toString();
        if (CHECKED.contains(key)) {
            return;
        }
        long start = System.nanoTime();
        String bucket = dir.toUri().getAuthority();
        try {
            FileSystem fs = dir.getFileSystem();
            fs.exists(dir); // reachability and read permission
            Path probe = new Path(dir, ".s3tiered-check/" + UUID.randomUUID());
            byte[] written = (probe + "\n").getBytes(StandardCharsets.UTF_8);
            try (FSDataOutputStream out = fs.create(probe, FileSystem.WriteMode.OVERWRITE)) {
                out.write(written);
            }
            byte[] read;
            try {
                read = readBack(fs, probe);
            } catch (FileNotFoundException e) {
                throw new IOException("the probe object " + probe + " was written, but S3 does not have it: "
                        + "the endpoint does not keep what it is sent", e);
            } catch (IOException | RuntimeException e) {
                try {
                    fs.delete(probe, false);
                } catch (IOException | RuntimeException again) {
                    e.addSuppressed(again);
                }
                throw e;
            }
            fs.delete(probe, false);
            if (!Arrays.equals(written, read)) {
                throw new IOException("the probe object " + probe + " was written with " + written.length
                        + " bytes, but S3 returned " + read.length + " bytes" + (read.length == written.length
                        ? " of other content" : "") + ": the endpoint does not keep what it is sent");
            }
        } catch (IOException | RuntimeException e) {
            throw new IOException("The tiered checkpoint storage cannot use " + option + " = " + dir + " (bucket '" + bucket
                    + "'): " + e.getMessage(), e);
        }
        CHECKED.add(key);
        LOG.info("{} directory {} is usable (checked in {} ms)", what, dir, (System.nanoTime() - start) / 1_000_000);
    }

    /** The object as S3 holds it: through the plugin's durable read where there is one, never a local copy. */
    private static byte[] readBack(FileSystem fs, Path probe) throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        Optional<S3TieredBridge> bridge = S3TieredBridge.forReads(fs);
        if (bridge.isPresent()) {
            bridge.get().readDurable(probe, sink);
        } else {
            try (FSDataInputStream in = fs.open(probe)) {
                in.transferTo(sink);
            }
        }
        return sink.toByteArray();
    }

    /** For tests that change the setup behind the same directory. */
    static void forget() {
        CHECKED.clear();
    }
}
