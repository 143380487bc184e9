package io.github.s3tiered.checkpoint;

import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Proves once per process that a checkpoint directory can be used: the file system loads and is
 * configured, the bucket answers, the credentials may write and delete there.
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
            try (FSDataOutputStream out = fs.create(probe, FileSystem.WriteMode.OVERWRITE)) {
                out.write(1);
            }
            fs.delete(probe, false);
        } catch (IOException | RuntimeException e) {
            throw new IOException("The tiered checkpoint storage cannot use " + option + " = " + dir + " (bucket '" + bucket
                    + "'): " + e.getMessage(), e);
        }
        CHECKED.add(key);
        LOG.info("{} directory {} is usable (checked in {} ms)", what, dir, (System.nanoTime() - start) / 1_000_000);
    }

    /** For tests that change the setup behind the same directory. */
    static void forget() {
        CHECKED.clear();
    }
}
