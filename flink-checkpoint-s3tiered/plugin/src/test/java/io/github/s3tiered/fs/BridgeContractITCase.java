package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.bridge.BridgeContract;
import io.github.s3tiered.bridge.BridgeContract.ErrorCode;
import io.github.s3tiered.bridge.S3TieredBridge;
import io.github.s3tiered.bridge.S3TieredBridgeException;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.util.WrappingProxy;

import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.zip.CRC32C;

/**
 * Every bridge operation, called as the lib jar and the inspector call it: the real plugin jar
 * loaded through Flink's {@code PluginManager}, so the file system comes from the plugin class
 * loader and this test's {@link S3TieredBridge} (application class loader) can reach it only
 * through JDK types.
 */
class BridgeContractITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    @TempDir static java.nio.file.Path pluginsRoot;
    @TempDir static java.nio.file.Path tierDir;

    private static DefaultPluginManager plugins;

    @BeforeAll
    static void loadThePluginJar() throws IOException {
        java.nio.file.Path dir = Files.createDirectories(pluginsRoot.resolve("s3tiered"));
        Files.copy(PluginLoadingITCase.pluginJar(), dir.resolve("s3tiered-plugin.jar"));
        Configuration conf = flinkConfig(S3.server(), tierDir);
        plugins = new DefaultPluginManager(new DirectoryBasedPluginFinder(pluginsRoot).findPlugins(),
                CoreOptions.getPluginParentFirstLoaderPatterns(conf));
        FileSystem.initialize(conf, plugins);
    }

    @AfterAll
    static void resetFileSystems() {
        FileSystem.initialize(new Configuration(), null);
    }

    private static FileSystem fs() throws IOException {
        return FileSystem.get(URI.create(BridgeContract.SCHEME + "://" + S3.server().bucket() + "/"));
    }

    private static S3TieredBridge bridge() throws IOException {
        return S3TieredBridge.of(fs()).orElseThrow();
    }

    private static Path path(String name) {
        return new Path(BridgeContract.SCHEME + "://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/bridge/" + name);
    }

    /** The data file of the tier's copy of {@code key}, found by its sidecar (the plugin's classes are not this loader's). */
    private static java.nio.file.Path tierCopyOf(String key) throws IOException {
        try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(tierDir.resolve("v1/objects"))) {
            for (java.nio.file.Path meta : files.filter(f -> f.getFileName().toString().endsWith(".meta")).toList()) {
                java.util.Properties sidecar = new java.util.Properties();
                try (java.io.Reader r = java.nio.file.Files.newBufferedReader(meta)) {
                    sidecar.load(r);
                }
                if (key.equals(sidecar.getProperty("key"))) {
                    return meta.resolveSibling(meta.getFileName().toString().replace(".meta", ""));
                }
            }
        }
        throw new AssertionError("no local-tier copy of " + key + " in " + tierDir);
    }

    private static long crc(byte[] data) {
        CRC32C c = new CRC32C();
        c.update(data);
        return c.getValue();
    }

    @Test
    void theFileSystemComesFromThePluginClassLoaderAndIsReachedWithoutReflection() throws IOException {
        Object inner = ((WrappingProxy<?>) fs()).getWrappedDelegate();
        assertThat(inner.getClass().getClassLoader()).isNotSameAs(getClass().getClassLoader());
        assertThatThrownBy(() -> S3TieredFileSystem.class.cast(inner))
                .as("the plugin's class is not this class loader's: only JDK types cross").isInstanceOf(ClassCastException.class);
        assertThat(S3TieredBridge.of(fs())).isPresent();
        assertThat(S3TieredBridge.of(new Path(tierDir.toUri()))).as("other schemes have no bridge").isEmpty();
        assertThat(S3TieredBridge.of(FileSystem.getLocalFileSystem())).isEmpty();
    }

    @Test
    void describeListsEveryOperationOfTheContract() throws IOException {
        S3TieredBridge.Description d = bridge().describe();
        assertThat(d.contractVersion()).isEqualTo(BridgeContract.VERSION);
        assertThat(d.operations()).containsExactlyInAnyOrderElementsOf(BridgeContract.OPERATION_NAMES);
        // what the process's configuration sets, for the storage to tell a job's own options apart
        assertThat(d.optionKeys()).contains(S3TieredOptions.LOCAL_DIR.key(), "s3tiered.endpoint", "s3.endpoint",
                "s3.secret-key");
        assertThat(d.clusterOptions()).containsEntry(S3TieredOptions.LOCAL_DIR.key(), tierDir.toString());
        assertThat(d.clusterOptions().values()).as("no secret crosses as it is")
                .noneMatch(v -> S3.server().flinkS3Config().entrySet().stream()
                        .anyMatch(e -> e.getKey().contains("secret") && e.getValue().equals(v)));
    }

    @Test
    void recordedChecksumIsTheUploadsCrc32cAndAMissingObjectIsNotFound() throws IOException {
        byte[] data = randomBytes(300_000, 1);
        Path p = path("recorded");
        write(fs(), p, data);
        S3TieredBridge.RecordedChecksum r = bridge().recordedChecksum(p);
        assertThat(r.crc32c()).hasValue(crc(data));
        assertThat(r.staleLocalCopyDropped()).isFalse();

        assertThatThrownBy(() -> bridge().recordedChecksum(path("no-such-object")))
                .isInstanceOf(FileNotFoundException.class).hasMessageContaining("no-such-object");
    }

    @Test
    void anObjectWrittenByAnotherToolHasNoRecordedChecksum() throws IOException {
        String key = S3.server().runPrefix() + "/bridge/foreign";
        try (S3Client raw = rawClient(S3.server())) {
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(key), RequestBody.fromBytes(new byte[] {1, 2, 3}));
        }
        assertThat(bridge().recordedChecksum(path("foreign")).crc32c()).isEmpty();
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        S3TieredBridge.DurableRead read = bridge().readDurable(path("foreign"), sink);
        assertThat(read.recordedCrc32c()).isEmpty();
        assertThat(sink.toByteArray()).containsExactly(1, 2, 3);
    }

    @Test
    void readDurableReadsS3AndDropsALocalCopyThatNoLongerMatchesIt() throws IOException {
        byte[] data = randomBytes(200_000, 2);
        Path p = path("durable");
        write(fs(), p, data); // the upload keeps a local copy
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        S3TieredBridge.DurableRead read = bridge().readDurable(p, sink);
        assertThat(sink.toByteArray()).isEqualTo(data);
        assertThat(read.length()).isEqualTo(data.length);
        assertThat(Integer.toUnsignedLong(read.crc32c())).isEqualTo(crc(data));
        assertThat(read.recordedCrc32c()).hasValue(crc(data));
        assertThat(read.staleLocalCopyDropped()).isFalse();

        // S3's object changes behind this host's back (same size, other bytes, recorded CRC kept)
        byte[] altered = data.clone();
        altered[1000] ^= 1;
        try (S3Client raw = rawClient(S3.server())) {
            var head = raw.headObject(b -> b.bucket(S3.server().bucket()).key(S3.server().runPrefix() + "/bridge/durable"));
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(S3.server().runPrefix() + "/bridge/durable")
                    .metadata(head.metadata()), RequestBody.fromBytes(altered));
        }
        sink.reset();
        read = bridge().readDurable(p, sink);
        assertThat(sink.toByteArray()).as("the bytes S3 holds, not the local copy").isEqualTo(altered);
        assertThat(read.recordedCrc32c()).hasValue(crc(data));
        assertThat(Integer.toUnsignedLong(read.crc32c())).isEqualTo(crc(altered));
        assertThat(read.staleLocalCopyDropped())
                .as("the local copy has the recorded size and CRC32C: it is intact, the damage is S3's").isFalse();

        // a new upload of other content under the same key by another tool: the copy is stale
        try (S3Client raw = rawClient(S3.server())) {
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(S3.server().runPrefix() + "/bridge/durable"),
                    RequestBody.fromBytes(new byte[10]));
        }
        assertThat(bridge().recordedChecksum(p).staleLocalCopyDropped()).isTrue();
        assertThat(readAll(fs(), p)).as("read from S3 after the stale copy went").isEqualTo(new byte[10]);
    }

    @Test
    void readDurableDropsALocalCopyAlteredOnDiskThatItsSizeMtimeAndInodeStillVouchFor() throws IOException {
        byte[] data = randomBytes(50_000, 3);
        Path p = path("rotten");
        write(fs(), p, data); // the upload keeps a local copy, trusted without being read back
        java.nio.file.Path copy = tierCopyOf(S3.server().runPrefix() + "/bridge/rotten");
        java.nio.file.attribute.FileTime mtime = java.nio.file.Files.getLastModifiedTime(copy);
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(copy.toFile(), "rw")) {
            f.seek(1234);
            int b = f.read();
            f.seek(1234);
            f.write(b ^ 0x10);
        }
        java.nio.file.Files.setLastModifiedTime(copy, mtime);

        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        S3TieredBridge.DurableRead read = bridge().readDurable(p, sink);
        assertThat(sink.toByteArray()).as("what S3 holds").isEqualTo(data);
        assertThat(read.staleLocalCopyDropped()).as("the copy altered on disk is dropped").isTrue();
        assertThat(readAll(fs(), p)).as("the next read of this host serves what the guard read").isEqualTo(data);
    }

    @Test
    void readDurableWithALimitReadsTheFirstBytesFromS3NotFromTheLocalCopy() throws IOException {
        byte[] data = randomBytes(100_000, 4);
        Path p = path("prefix");
        write(fs(), p, data); // the upload keeps a local copy
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        S3TieredBridge.DurableRead read = bridge().readDurable(p, sink, 3);
        assertThat(sink.toByteArray()).isEqualTo(java.util.Arrays.copyOf(data, 3));
        assertThat(read.length()).isEqualTo(3);
        assertThat(read.recordedCrc32c()).as("of the whole object").hasValue(crc(data));

        // S3's first byte changes (same size, no recorded CRC32C, as another tool writes); this host's copy is intact
        byte[] altered = data.clone();
        altered[0] ^= 0x55;
        String key = S3.server().runPrefix() + "/bridge/prefix";
        try (S3Client raw = rawClient(S3.server())) {
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(key), RequestBody.fromBytes(altered));
        }
        long gets = bridge().transferMetrics().requests("GetObject");
        sink.reset();
        read = bridge().readDurable(p, sink, 1);
        assertThat(sink.toByteArray()).as("S3's first byte, not the copy's").containsExactly(altered[0]);
        assertThat(read.recordedCrc32c()).isEmpty();
        assertThat(bridge().transferMetrics().requests("GetObject")).isEqualTo(gets + 1);
        assertThat(readAll(fs(), p)).as("this host's copy, kept (size alone tells nothing here), served by open()")
                .isEqualTo(data);

        sink.reset();
        assertThat(bridge().readDurable(p, sink, 0).length()).isZero();
        assertThat(sink.size()).isZero();
        sink.reset();
        assertThat(bridge().readDurable(p, sink, 1_000_000).length()).as("a limit past the end reads it whole")
                .isEqualTo(data.length);
        assertThat(sink.toByteArray()).isEqualTo(altered);
    }

    @Test
    void aFailingSinkIsTheCallersOwnExceptionAndAMissingObjectIsNotFound() throws IOException {
        Path p = path("sink");
        write(fs(), p, randomBytes(1000, 3));
        IOException own = new IOException("disk of the caller is full");
        OutputStream failing = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw own;
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                throw own;
            }
        };
        assertThatThrownBy(() -> bridge().readDurable(p, failing)).isSameAs(own);
        assertThatThrownBy(() -> bridge().readDurable(path("gone"), new ByteArrayOutputStream()))
                .isInstanceOf(FileNotFoundException.class);
    }

    @Test
    void aPreUploadedFileIsReferredToByACheckpointStreamWithTheSameContent() throws IOException {
        byte[] data = randomBytes(150_000, 5);
        java.nio.file.Path sst = java.nio.file.Files.write(tierDir.getParent().resolve("bridge-" + System.nanoTime() + ".sst"), data);
        S3TieredBridge.PreUploaded pre = bridge().preUpload(path("shared"), sst, 60_000);
        assertThat(pre.outcome()).isEqualTo(S3TieredBridge.PreUploaded.Outcome.UPLOADED);
        assertThat(pre.object().getName()).matches("[0-9a-f]{64}-[0-9a-f]{16}\\.sst");

        // through Flink's plugin wrappers, as the storage's streams are
        org.apache.flink.core.fs.FSDataOutputStream out = fs().create(path("shared/own"), FileSystem.WriteMode.NO_OVERWRITE);
        out.write(data);
        S3TieredBridge.ClosedStream closed = bridge().closeDeduplicated(out, 60_000);
        assertThat(closed.deduplicated()).isTrue();
        assertThat(closed.object()).isEqualTo(pre.object());
        assertThat(fs().exists(path("shared/own"))).isFalse();
        assertThat(bridge().transferMetrics().figure(BridgeContract.DEDUPLICATED_UPLOADS)).isPositive();
        java.nio.file.Files.delete(sst);
    }

    @Test
    void anAbandonedStreamUploadsNothingAndAClosedOneIsLeftToTheCaller() throws IOException {
        long putsBefore = bridge().transferMetrics().requests("PutObject");
        // through Flink's plugin wrappers, as the storage's streams are
        org.apache.flink.core.fs.FSDataOutputStream out = fs().create(path("abandoned"), FileSystem.WriteMode.NO_OVERWRITE);
        out.write(randomBytes(400_000, 6));
        assertThat(bridge().abandon(out)).isTrue();
        assertThat(fs().exists(path("abandoned"))).isFalse();
        assertThat(bridge().transferMetrics().requests("PutObject")).isEqualTo(putsBefore);
        assertThatThrownBy(() -> out.write(1)).hasMessageContaining("is closed");

        org.apache.flink.core.fs.FSDataOutputStream closed = fs().create(path("closed"), FileSystem.WriteMode.NO_OVERWRITE);
        closed.write(randomBytes(1000, 7));
        closed.close();
        assertThat(bridge().abandon(closed)).as("the object exists: the caller deletes it").isFalse();
        assertThat(fs().exists(path("closed"))).isTrue();

        assertThatThrownBy(() -> bridge().abandon(new ByteArrayOutputStream()))
                .isInstanceOfSatisfying(S3TieredBridgeException.class,
                        e -> assertThat(e.code()).isEqualTo(ErrorCode.BAD_ARGUMENT));
    }

    @Test
    void transferMetricsHaveEveryFigureOfTheContractAndTheRequestsPerOperation() throws IOException {
        write(fs(), path("metrics"), randomBytes(5000, 4));
        S3TieredBridge.TransferFigures f = bridge().transferMetrics();
        assertThat(f.figures().keySet()).containsExactlyElementsOf(BridgeContract.METRIC_NAMES);
        assertThat(f.figure(BridgeContract.UPLOADS)).isPositive();
        assertThat(f.figure(BridgeContract.BYTES_UPLOADED)).isGreaterThanOrEqualTo(5000);
        assertThat(f.requests("PutObject")).isPositive();
        assertThat(f.figure(BridgeContract.TOTAL_REQUESTS))
                .isEqualTo(f.requests().values().stream().mapToLong(Long::longValue).sum());
    }

    @Test
    @SuppressWarnings("unchecked")
    void failuresCrossAsCodes() throws IOException {
        BiFunction<String, Map<String, Object>, Map<String, Object>> raw =
                (BiFunction<String, Map<String, Object>, Map<String, Object>>) ((WrappingProxy<?>) fs()).getWrappedDelegate();
        Map<String, Object> r = raw.apply("preUploadFromTheFuture", Map.of());
        assertThat(r.get(BridgeContract.ERROR)).isEqualTo(ErrorCode.UNSUPPORTED_OPERATION.name());
        assertThat((String) r.get(BridgeContract.ERROR_MESSAGE)).contains(BridgeContract.OPERATION_NAMES.get(1));

        Map<String, Object> args = new HashMap<>();
        args.put(BridgeContract.PATH, "file:///tmp/x");
        assertThat(raw.apply(BridgeContract.RECORDED_CHECKSUM, args).get(BridgeContract.ERROR)).isEqualTo(ErrorCode.BAD_ARGUMENT.name());
        args.put(BridgeContract.PATH, path("x").toString());
        assertThat(raw.apply(BridgeContract.READ_DURABLE, args).get(BridgeContract.ERROR))
                .as("no sink").isEqualTo(ErrorCode.BAD_ARGUMENT.name());
    }

    @Test
    void anUnreachableStoreIsUnreadableNotMissing() throws IOException {
        Configuration conf = flinkConfig(S3.server().via("http://127.0.0.1:9"), tierDir);
        conf.setString(S3TieredOptions.RETRY_MAX_ATTEMPTS.key(), "1");
        conf.setString(S3TieredOptions.CONNECTION_TIMEOUT.key(), "1s");
        try {
            FileSystem.initialize(conf, plugins);
            assertThatThrownBy(() -> bridge().recordedChecksum(path("anything")))
                    .isInstanceOfSatisfying(S3TieredBridgeException.class, e -> {
                        assertThat(e.code()).isEqualTo(ErrorCode.UNREADABLE);
                        assertThat(e.operation()).isEqualTo(BridgeContract.RECORDED_CHECKSUM);
                        assertThat(e).hasMessageContaining("127.0.0.1:9").hasMessageContaining("anything");
                    })
                    .isNotInstanceOf(FileNotFoundException.class);
        } finally {
            useTheTestServerAgain();
        }
    }

    private static void useTheTestServerAgain() {
        Configuration conf = flinkConfig(S3.server(), tierDir);
        FileSystem.initialize(conf, plugins);
    }
}
