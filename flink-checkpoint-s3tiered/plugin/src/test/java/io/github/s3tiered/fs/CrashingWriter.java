package io.github.s3tiered.fs;

import io.github.s3tiered.tier.TierSteps;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

import java.io.Reader;
import java.nio.file.Files;
import java.util.Properties;

/**
 * The process {@link CrashPointITCase} kills: writes files through {@link S3TieredFileSystem} and
 * stops at one step, where the parent sends SIGKILL. Steps inside the tier are announced here
 * (prints {@code AT <step>} and blocks); steps on the network are stalled by the parent's fault
 * proxy, which sees them itself.
 *
 * <p>One argument, a properties file: {@code bucket}, {@code stopAt} (a {@link TierSteps} name,
 * {@link #STAGING}, or anything else for a network step), {@code files}, then per file {@code
 * path.i}, {@code size.i}, {@code seed.i}, and the Flink configuration as {@code conf.<key>}.
 */
public final class CrashingWriter {

    /** Stop with the last file's bytes written to its staging file, the stream not closed. */
    static final String STAGING = "staging";
    static final String AT = "AT ";
    static final String DONE = "DONE";

    private CrashingWriter() {}

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(java.nio.file.Path.of(args[0]))) {
            p.load(r);
        }
        String stopAt = p.getProperty("stopAt");
        TierSteps.listen(step -> {
            if (step.equals(stopAt)) {
                announceAndBlock(step);
            }
        });
        Configuration conf = new Configuration();
        for (String name : p.stringPropertyNames()) {
            if (name.startsWith("conf.")) {
                conf.setString(name.substring("conf.".length()), p.getProperty(name));
            }
        }
        S3TieredFileSystem fs = S3TieredTestSupport.newFileSystem(conf, p.getProperty("bucket"));
        int files = Integer.parseInt(p.getProperty("files"));
        for (int i = 0; i < files; i++) {
            byte[] data = S3TieredTestSupport.randomBytes(
                    Integer.parseInt(p.getProperty("size." + i)), Long.parseLong(p.getProperty("seed." + i)));
            FSDataOutputStream out = fs.create(new Path(p.getProperty("path." + i)), FileSystem.WriteMode.OVERWRITE);
            for (int off = 0; off < data.length; off += 100_000) {
                out.write(data, off, Math.min(100_000, data.length - off));
            }
            if (STAGING.equals(stopAt) && i == files - 1) {
                out.flush();
                announceAndBlock(STAGING);
            }
            out.close(); // uploads, then commits into the tier: where the other steps are
            // Distinct sidecar mtimes, so eviction's least-recently-used order is the write order.
            Thread.sleep(20);
        }
        System.out.println(DONE);
    }

    private static void announceAndBlock(String step) {
        System.out.println(AT + step);
        System.out.flush();
        while (true) {
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException ignored) {
                // only SIGKILL ends this process
            }
        }
    }
}
