package io.github.s3tiered.examples;

import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything the examples need, in this JVM: an S3 server (S3Proxy in its own process, or the
 * endpoint named by S3TIERED_TEST_ENDPOINT), the s3tiered:// file system configured for it with a
 * local tier in a work directory, and a MiniCluster.
 */
public final class EmbeddedCluster implements AutoCloseable {

    private final S3TestServer s3;
    private final MiniCluster cluster;
    private final Path workDir;
    private final Path localTier;
    private final int parallelism;

    private EmbeddedCluster(S3TestServer s3, MiniCluster cluster, Path workDir, Path localTier, int parallelism) {
        this.s3 = s3;
        this.cluster = cluster;
        this.workDir = workDir;
        this.localTier = localTier;
        this.parallelism = parallelism;
    }

    public static EmbeddedCluster start(int parallelism) throws Exception {
        Path work = Files.createTempDirectory("s3tiered-example-");
        S3TestServer s3 = S3TestServer.start();
        MiniCluster cluster = null;
        try {
            Path tier = work.resolve("local-tier");
            Configuration fsConf = new Configuration();
            s3.flinkS3Config().forEach(fsConf::setString);
            fsConf.setString("s3tiered.local.dir", tier.toString());
            // MiniCluster does not initialize file systems: do it as a TaskManager would.
            FileSystem.initialize(fsConf, null);

            Configuration conf = new Configuration(fsConf);
            conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("256m"));
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
            cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                    .setConfiguration(conf)
                    .setNumTaskManagers(1)
                    .setNumSlotsPerTaskManager(parallelism)
                    .build());
            cluster.start();
            return new EmbeddedCluster(s3, cluster, work, tier, parallelism);
        } catch (Exception e) {
            if (cluster != null) {
                cluster.close();
            }
            s3.close();
            throw e;
        }
    }

    public MiniCluster cluster() {
        return cluster;
    }

    public S3TestServer s3() {
        return s3;
    }

    public Path workDir() {
        return workDir;
    }

    public Path localTier() {
        return localTier;
    }

    public int parallelism() {
        return parallelism;
    }

    /** A checkpoint directory in the bucket, unique to this run. */
    public String checkpointDir(String name) {
        return "s3tiered://" + s3.bucket() + "/" + s3.runPrefix() + "/" + name;
    }

    /** Deletes every copy in the local tier, as a lost disk or a new host would have none. */
    public void wipeLocalTier() throws Exception {
        deleteRecursively(localTier);
        Files.createDirectories(localTier);
    }

    @Override
    public void close() throws Exception {
        try {
            cluster.close();
        } finally {
            s3.close();
            FileSystem.initialize(new Configuration(), null);
            deleteRecursively(workDir);
        }
    }

    /**
     * Removes a directory tree, as an operator wiping a host's disk would: files that vanish
     * meanwhile (a local tier's eviction, a discard still running) are not an error, and a
     * directory written into meanwhile stays with what was written.
     */
    static void deleteRecursively(Path dir) throws java.io.IOException {
        if (!Files.exists(dir)) {
            return;
        }
        Files.walkFileTree(dir, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult visitFile(Path file, java.nio.file.attribute.BasicFileAttributes attrs)
                    throws java.io.IOException {
                Files.deleteIfExists(file);
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFileFailed(Path file, java.io.IOException e) throws java.io.IOException {
                if (e instanceof java.nio.file.NoSuchFileException) {
                    return java.nio.file.FileVisitResult.CONTINUE;
                }
                throw e;
            }

            @Override
            public java.nio.file.FileVisitResult postVisitDirectory(Path d, java.io.IOException e) throws java.io.IOException {
                if (e != null && !(e instanceof java.nio.file.NoSuchFileException)) {
                    throw e;
                }
                try {
                    Files.deleteIfExists(d);
                } catch (java.nio.file.DirectoryNotEmptyException writtenMeanwhile) {
                    // a file created after the listing: left, as a wipe racing a writer leaves it
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
    }
}
