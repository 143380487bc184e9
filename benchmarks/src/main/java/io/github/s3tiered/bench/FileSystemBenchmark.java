package io.github.s3tiered.bench;

import io.github.s3tiered.testing.S3TestServer;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;

import java.net.URI;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Upload and read throughput of one large file through s3tiered://, flink-s3-fs-presto (s3p://) and
 * flink-s3-fs-native (s3a://), all loaded as plugins, on one S3Proxy in one run. Prints a table.
 *
 * <p>Usage: {@code bash benchmarks/run.sh fs [--size-mib 256] [--rounds 3] [--profile loopback|wan|slow] [-D key=value ...]}
 */
public final class FileSystemBenchmark {

    private static final int MIB = 1024 * 1024;

    record Result(List<Double> upload, List<Double> readS3, List<Double> readLocal, List<String> failures) {
        Result() {
            this(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getClass().getSimpleName() + ": " + c.getMessage();
    }

    /** Extra Flink options, from "-D key=value" arguments, applied to every file system. */
    private static final List<String> EXTRA_CONF = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        BenchSupport.julToLogFile();
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("-D")) {
                EXTRA_CONF.add(args[i + 1]);
            }
        }
        int sizeMiB = (int) BenchSupport.longArg(args, "--size-mib", 256);
        int rounds = (int) BenchSupport.longArg(args, "--rounds", 3);
        java.nio.file.Path plugins = java.nio.file.Path.of(System.getProperty("bench.plugins", "benchmarks/target/bench-plugins"));
        java.nio.file.Path work = Files.createTempDirectory("s3tiered-fs-bench");
        byte[] block = new byte[MIB];
        new Random(42).nextBytes(block);

        Map<String, Result> results = new LinkedHashMap<>();
        String[] systems = {"s3tiered", "s3tiered (cache-on-read off)", "flink-s3-fs-presto", "flink-s3-fs-native"};
        for (String s : systems) {
            results.put(s, new Result());
        }
        String serverDescription;
        var profile = BenchS3.profileArg(args);
        try (BenchS3 bench = BenchS3.start(profile, false, BenchS3.inMemoryArg(args))) {
            S3TestServer s3 = bench.s3();
            serverDescription = bench.describe();
            System.err.printf("S3 server: %s; file: %d MiB; rounds: %d (+1 warm-up)%n", s3, sizeMiB, rounds);
            for (int round = 0; round <= rounds; round++) {
                boolean warmUp = round == 0;
                int size = warmUp ? Math.min(32, sizeMiB) : sizeMiB;
                for (String system : systems) {
                    String object = s3.runPrefix() + "/bench/" + system.replaceAll("[^a-z0-9]", "") + "/round-" + round;
                    java.nio.file.Path tier = work.resolve("tier-" + round + "-" + system.hashCode());
                    double upload;
                    double local;
                    double fromS3;
                    try {
                        FileSystem fs = init(s3, plugins, work, tier, system);
                        Path path = new Path(scheme(system) + "://" + s3.bucket() + "/" + object);
                        upload = timeWrite(fs, path, block, size);
                        local = system.startsWith("s3tiered") ? timeRead(fs, path, size) : Double.NaN;
                        // A fresh instance with an empty local tier: the read must come from S3.
                        FileSystem cold = init(s3, plugins, work, work.resolve(tier + "-cold"), system);
                        fromS3 = timeRead(cold, path, size);
                        cold.delete(path, false);
                    } catch (Exception e) {
                        System.err.printf("%s FAILED in round %d: %s%nS3Proxy log tail:%n%s%n", system, round, e, s3.logTail());
                        results.get(system).failures.add("round " + round + ": " + rootMessage(e));
                        continue;
                    }
                    if (!warmUp) {
                        Result r = results.get(system);
                        r.upload.add(upload);
                        r.readS3.add(fromS3);
                        if (!Double.isNaN(local)) {
                            r.readLocal.add(local);
                        }
                    }
                    System.err.printf("%s %-30s upload %7.1f MiB/s  read S3 %7.1f MiB/s  read local %7.1f MiB/s%n",
                            warmUp ? "warm-up" : "round " + round, system, upload, fromS3, local);
                }
            }
        } finally {
            FileSystem.initialize(new Configuration(), null);
            BenchSupport.deleteRecursively(work);
        }
        print(results, sizeMiB, rounds, serverDescription);
        String name = profile.name().toLowerCase(Locale.ROOT);
        BenchCharts.Bars bars = new BenchCharts.Bars("File system throughput, " + sizeMiB + " MiB file, median of " + rounds
                + " rounds, " + name, "MiB/s", List.of("upload", "read from S3", "read from local tier"));
        results.forEach((system, r) -> bars.row(system, median(r.upload), median(r.readS3), median(r.readLocal)));
        BenchCharts.write(BenchCharts.name("fs", name, null), bars);
    }

    private static String scheme(String system) {
        return system.startsWith("s3tiered") ? "s3tiered" : system.equals("flink-s3-fs-presto") ? "s3p" : "s3a";
    }

    private static FileSystem init(S3TestServer s3, java.nio.file.Path plugins, java.nio.file.Path work,
            java.nio.file.Path tier, String system) throws Exception {
        Configuration conf = new Configuration();
        s3.flinkS3Config().forEach(conf::setString);
        // Required by flink-s3-fs-native against S3-compatible stores (see verified facts).
        conf.setString("s3.checksum-validation.enabled", "false");
        conf.setString("s3.chunked-encoding.enabled", "false");
        conf.setString("io.tmp.dirs", Files.createDirectories(work.resolve("tmp")).toString());
        conf.setString("s3tiered.local.dir", tier.toString());
        for (String kv : EXTRA_CONF) {
            conf.setString(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        }
        if (system.contains("cache-on-read off")) {
            conf.setString("s3tiered.local.cache-on-read", "false");
        }
        PluginManager pm = new DefaultPluginManager(new DirectoryBasedPluginFinder(plugins).findPlugins(),
                CoreOptions.getPluginParentFirstLoaderPatterns(conf));
        FileSystem.initialize(conf, pm);
        return FileSystem.get(URI.create(scheme(system) + "://" + s3.bucket() + "/"));
    }

    /** MiB/s of create + write + close (close returns once the object is in S3). */
    private static double timeWrite(FileSystem fs, Path path, byte[] block, int sizeMiB) throws Exception {
        long start = System.nanoTime();
        try (FSDataOutputStream out = fs.create(path, FileSystem.WriteMode.OVERWRITE)) {
            for (int i = 0; i < sizeMiB; i++) {
                out.write(block);
            }
        }
        return sizeMiB / seconds(start);
    }

    /** MiB/s of open + read to the end. */
    private static double timeRead(FileSystem fs, Path path, int sizeMiB) throws Exception {
        byte[] buf = new byte[64 * 1024];
        long total = 0;
        long start = System.nanoTime();
        try (FSDataInputStream in = fs.open(path)) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                total += n;
            }
        }
        double mibps = sizeMiB / seconds(start);
        if (total != (long) sizeMiB * MIB) {
            throw new IllegalStateException("Read " + total + " bytes of " + path + ", expected " + (long) sizeMiB * MIB);
        }
        return mibps;
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static void print(Map<String, Result> results, int sizeMiB, int rounds, String server) {
        System.out.printf(Locale.ROOT, "%n%d MiB file, %d rounds, %s; median (min-max) MiB/s%n%n",
                sizeMiB, rounds, server);
        System.out.println("| file system | upload (create+close) | read from S3 | read from local tier |");
        System.out.println("|---|---|---|---|");
        for (Map.Entry<String, Result> e : results.entrySet()) {
            Result r = e.getValue();
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s |%n", e.getKey(), stat(r.upload), stat(r.readS3), stat(r.readLocal));
        }
        results.forEach((name, r) -> r.failures.forEach(f -> System.out.printf("%s failed %s%n", name, f)));
        double bestPeerUpload = Math.max(median(results.get("flink-s3-fs-presto").upload), median(results.get("flink-s3-fs-native").upload));
        double bestPeerRead = Math.max(median(results.get("flink-s3-fs-presto").readS3), median(results.get("flink-s3-fs-native").readS3));
        double upload = median(results.get("s3tiered").upload);
        double local = median(results.get("s3tiered").readLocal);
        System.out.printf(Locale.ROOT, "%nTarget upload >= best peer's: %.1f vs %.1f MiB/s -> %s%n", upload, bestPeerUpload,
                upload >= bestPeerUpload ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "Target local-tier read >= 5x best peer's S3 read: %.1f vs 5 x %.1f = %.1f MiB/s (%.1fx) -> %s%n",
                local, bestPeerRead, 5 * bestPeerRead, local / bestPeerRead, local >= 5 * bestPeerRead ? "MET" : "NOT MET");
    }

    private static String stat(List<Double> v) {
        if (v.isEmpty()) {
            return "-";
        }
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return String.format(Locale.ROOT, "%.0f (%.0f-%.0f)", median(v), s[0], s[s.length - 1]);
    }

    private static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length == 0 ? 0 : s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
