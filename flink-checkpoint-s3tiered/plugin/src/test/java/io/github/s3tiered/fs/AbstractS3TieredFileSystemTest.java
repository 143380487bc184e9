package io.github.s3tiered.fs;

import java.util.ArrayList;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.s3tiered.s3.Crc32c;
import io.github.s3tiered.s3.ObjectStore;
import io.github.s3tiered.testing.S3TestServer;
import io.github.s3tiered.tier.TierEntry;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.EntropyInjector;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.OutputStreamAndPath;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The file-system cases every S3 server must pass: run against S3Proxy always, and against MinIO
 * where Docker exists.
 */
abstract class AbstractS3TieredFileSystemTest {

    protected static final int MIB = 1024 * 1024;

    @TempDir java.nio.file.Path tierDir;
    @TempDir java.nio.file.Path otherTierDir;

    protected String base;

    protected abstract S3TestServer server();

    @BeforeEach
    void setUpBase(TestInfo info) {
        base = "s3tiered://" + server().bucket() + "/" + server().runPrefix() + "/" + info.getTestMethod().orElseThrow().getName();
    }

    protected Configuration config(java.nio.file.Path localDir) {
        Configuration conf = flinkConfig(server(), localDir);
        // Small parts, so that multipart uploads and ranged downloads happen with small files.
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.PART_SIZE.key(), "5mb");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), "1mb");
        return conf;
    }

    protected S3TieredFileSystem fileSystem(java.nio.file.Path localDir) throws IOException {
        return newFileSystem(config(localDir), server().bucket());
    }

    protected Path path(String name) {
        return new Path(base + "/" + name);
    }

    @Test
    void roundTripOfEmptySmallAndMultipartFilesFromS3AndFromTheLocalTier() throws Exception {
        S3TieredFileSystem writer = fileSystem(tierDir);
        S3TieredFileSystem reader = fileSystem(otherTierDir); // its tier is empty: reads go to S3
        int[] sizes = {0, 1, 100_000, 5 * MIB, 17 * MIB + 3};
        try (S3Client raw = rawClient(server())) {
            for (int size : sizes) {
                byte[] data = randomBytes(size, size);
                Path p = path("file-" + size);
                write(writer, p, data);

                assertThat(readAll(writer, p)).as("read of %s bytes from the local tier", size).isEqualTo(data);
                long getsBefore = reader.s3Statistics().requestCount("GetObject");
                assertThat(readAll(reader, p)).as("read of %s bytes from S3", size).isEqualTo(data);
                if (size > 0) {
                    assertThat(reader.s3Statistics().requestCount("GetObject")).isGreaterThan(getsBefore);
                }
                assertThat(reader.getFileStatus(p).getLen()).isEqualTo(size);

                HeadObjectResponse head = raw.headObject(b -> b.bucket(server().bucket()).key(key(p)));
                assertThat(head.contentLength()).isEqualTo(size);
                assertThat(head.metadata()).containsEntry(ObjectStore.CRC32C_METADATA, Crc32c.toHex(crc(data)));
            }
        }
        assertThat(writer.s3Statistics().requestCount("CreateMultipartUpload")).isEqualTo(1);
        assertThat(writer.s3Statistics().requestCount("UploadPart")).isEqualTo(4);
    }

    @Test
    void aDirectoryOfManyPagesIsListedExactlyAsTheServerHoldsIt() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 2300; i++) {
            names.add(java.util.UUID.randomUUID().toString());
        }
        names.addAll(List.of("-dash", "Upper", "_under", "g-after-hex", "zz", "f~tilde", "9~", "\u00e9t\u00e9"));
        String prefix = key(path("big")) + "/";
        try (S3Client raw = rawClient(server())) {
            java.util.concurrent.ExecutorService writers = java.util.concurrent.Executors.newFixedThreadPool(16);
            try {
                List<java.util.concurrent.Future<?>> puts = new ArrayList<>();
                for (String n : names) {
                    puts.add(writers.submit(() -> raw.putObject(b -> b.bucket(server().bucket()).key(prefix + n),
                            software.amazon.awssdk.core.sync.RequestBody.fromBytes(new byte[] {1}))));
                }
                for (var f : puts) {
                    f.get();
                }
            } finally {
                writers.shutdown();
            }
            raw.putObject(b -> b.bucket(server().bucket()).key(prefix + "sub/x"), software.amazon.awssdk.core.sync.RequestBody.empty());
        }
        long before = fs.s3Statistics().requestCount("ListObjectsV2");
        FileStatus[] listed = fs.listStatus(path("big"));
        assertThat(java.util.Arrays.stream(listed).filter(f -> !f.isDir()).map(f -> f.getPath().getName()))
                .containsExactlyInAnyOrderElementsOf(names);
        assertThat(java.util.Arrays.stream(listed).filter(FileStatus::isDir).map(f -> f.getPath().getName())).containsExactly("sub");
        // three pages in a row would do; in parallel: the first page, the 16 hex digits, the 3 other shares
        assertThat(fs.s3Statistics().requestCount("ListObjectsV2") - before).isBetween(3L, 20L);
    }

    @Test
    void aReadServedByTheLocalTierSendsNoGet() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        byte[] data = randomBytes(3 * MIB, 1);
        Path p = path("shared/" + java.util.UUID.randomUUID()); // a data file, as Flink names them
        write(fs, p, data);
        long gets = fs.s3Statistics().requestCount("GetObject");
        long requests = fs.s3Statistics().totalRequests();

        assertThat(readAll(fs, p)).isEqualTo(data);

        assertThat(fs.s3Statistics().requestCount("GetObject")).isEqualTo(gets);
        assertThat(fs.s3Statistics().totalRequests()).isEqualTo(requests);
        assertThat(fs.s3Statistics().bytesServedFromLocalTier.sum()).isEqualTo(data.length);

        // a named object (a _metadata, which another writer may replace): one HEAD, still no GET
        Path named = path("chk-1/_metadata");
        write(fs, named, data);
        long heads = fs.s3Statistics().requestCount("HeadObject");
        assertThat(readAll(fs, named)).isEqualTo(data);
        assertThat(fs.s3Statistics().requestCount("GetObject")).isEqualTo(gets);
        assertThat(fs.s3Statistics().requestCount("HeadObject")).isEqualTo(heads + 1);
    }

    @Test
    void aNewFileSystemInstanceOnTheSameDirectoryReusesTheTier() throws Exception {
        byte[] data = randomBytes(2 * MIB, 2);
        Path p = path("survivor");
        write(fileSystem(tierDir), p, data);

        S3TieredFileSystem afterRestart = fileSystem(tierDir);
        assertThat(readAll(afterRestart, p)).isEqualTo(data);
        assertThat(afterRestart.s3Statistics().requestCount("GetObject")).isZero();
        assertThat(afterRestart.localTier().usedBytes()).isGreaterThanOrEqualTo(data.length);
    }

    @Test
    void aCorruptedLocalCopyIsDroppedAndTheReadServedFromS3() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        byte[] data = randomBytes(MIB, 3);
        Path p = path("flipped");
        write(fs, p, data);
        java.nio.file.Path copy = localCopy(fs, p);
        try (RandomAccessFile f = new RandomAccessFile(copy.toFile(), "rw")) {
            f.seek(12345);
            int b = f.read();
            f.seek(12345);
            f.write(b ^ 0x01);
        }

        assertThat(readAll(fs, p)).isEqualTo(data);
        assertThat(fs.s3Statistics().requestCount("GetObject")).isPositive();
        assertThat(fs.localTier().statistics().corruptionsDetected.sum()).isEqualTo(1);
        // The read from S3 put a good copy back.
        assertThat(Files.readAllBytes(localCopy(fs, p))).isEqualTo(data);
    }

    @Test
    void anObjectAlteredInS3FailsTheReadWithItsChecksumAndKeepsNoCopy(@TempDir java.nio.file.Path restoreDir) throws Exception {
        S3TieredFileSystem writer = fileSystem(tierDir);
        byte[] data = randomBytes(300_000, 5);
        Path p = path("altered");
        write(writer, p, data);
        try (S3Client raw = rawClient(server())) {
            var head = raw.headObject(b -> b.bucket(server().bucket()).key(key(p)));
            byte[] altered = data.clone();
            altered[150_000] ^= 0x01;
            raw.putObject(b -> b.bucket(server().bucket()).key(key(p)).metadata(head.metadata()),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(altered));
        }

        S3TieredFileSystem reader = fileSystem(otherTierDir);
        assertThatThrownBy(() -> readAll(reader, p)).isInstanceOf(IOException.class)
                .hasMessageContaining("CRC32C mismatch").hasMessageContaining(key(p));
        assertThat(reader.localTier().getVerified(server().bucket(), key(p))).as("no copy of bad bytes").isEmpty();
        java.nio.file.Path target = restoreDir.resolve("altered.sst");
        assertThatThrownBy(() -> reader.copyFiles(
                        List.of(CopyRequest.of(p, new Path(target.toUri()), data.length)),
                        new CloseableRegistry()))
                .isInstanceOf(IOException.class).hasMessageContaining("CRC32C mismatch");
        assertThat(target).doesNotExist();
    }

    @Test
    void aTruncatedLocalCopyIsDroppedAndTheReadServedFromS3() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        byte[] data = randomBytes(MIB, 4);
        Path p = path("truncated");
        write(fs, p, data);
        try (RandomAccessFile f = new RandomAccessFile(localCopy(fs, p).toFile(), "rw")) {
            f.setLength(1000);
        }
        assertThat(readAll(fs, p)).isEqualTo(data);
        assertThat(fs.localTier().statistics().corruptionsDetected.sum()).isEqualTo(1);
    }

    @Test
    void evictionKeepsTheTierUnderItsBudget() throws Exception {
        Configuration conf = config(tierDir);
        conf.setString(S3TieredOptions.LOCAL_MAX_BYTES.key(), "3mb");
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        for (int i = 0; i < 10; i++) {
            write(fs, path("f" + i), randomBytes(MIB, i));
            assertThat(bytesOnDisk()).isLessThanOrEqualTo(3L * MIB);
        }
        assertThat(fs.localTier().usedBytes()).isLessThanOrEqualTo(3L * MIB);
        assertThat(fs.localTier().getVerified(server().bucket(), key(path("f9")))).as("newest copy").isPresent();
        assertThat(fs.localTier().getVerified(server().bucket(), key(path("f0")))).as("oldest copy").isEmpty();
        // Evicted copies are still in S3.
        assertThat(readAll(fs, path("f0"))).isEqualTo(randomBytes(MIB, 0));
    }

    @Test
    void deleteRemovesTheObjectAndTheLocalCopy() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        Path single = path("single");
        write(fs, single, randomBytes(1000, 5));
        for (int i = 0; i < 3; i++) {
            write(fs, path("dir/sub/f" + i), randomBytes(1000, i));
        }

        assertThat(fs.delete(single, false)).isTrue();
        assertThat(fs.exists(single)).isFalse();
        assertThat(fs.localTier().getVerified(server().bucket(), key(single))).isEmpty();

        assertThat(fs.delete(path("dir"), true)).isTrue();
        assertThat(fs.exists(path("dir"))).isFalse();
        assertThat(fs.listStatus(path("dir"))).isEmpty();
        try (S3Client raw = rawClient(server())) {
            assertThat(raw.listObjectsV2(b -> b.bucket(server().bucket()).prefix(key(path("dir")))).contents()).isEmpty();
            assertThatThrownBy(() -> raw.headObject(b -> b.bucket(server().bucket()).key(key(single))))
                    .isInstanceOf(software.amazon.awssdk.services.s3.model.S3Exception.class);
        }
        assertThat(bytesOnDisk()).isZero();
    }

    @Test
    void statusListingsAndTheOperationsS3CannotDo() throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        write(fs, path("a/b/1"), randomBytes(10, 1));
        write(fs, path("a/b/2"), randomBytes(20, 2));
        write(fs, path("a/c"), randomBytes(30, 3));

        FileStatus[] listing = fs.listStatus(path("a"));
        assertThat(listing).extracting(s -> s.getPath().getName() + (s.isDir() ? "/" : "=" + s.getLen()))
                .containsExactlyInAnyOrder("b/", "c=30");
        assertThat(fs.listStatus(path("a/b"))).hasSize(2);
        assertThat(fs.getFileStatus(path("a/b")).isDir()).isTrue();
        assertThat(fs.getFileStatus(path("a/b/2")).getLen()).isEqualTo(20);
        assertThat(fs.exists(path("a/b/3"))).isFalse();
        assertThatThrownBy(() -> fs.getFileStatus(path("nothing"))).isInstanceOf(FileNotFoundException.class)
                .hasMessageContaining(server().bucket());
        assertThatThrownBy(() -> fs.open(path("nothing"))).isInstanceOf(FileNotFoundException.class)
                .hasMessageContaining(key(path("nothing")));
        assertThat(fs.mkdirs(path("new/dir"))).isTrue();
        assertThatThrownBy(() -> fs.rename(path("a/c"), path("a/d"))).isInstanceOf(IOException.class)
                .hasMessageContaining("cannot rename");
        assertThatThrownBy(() -> fs.create(path("a/c"), FileSystem.WriteMode.NO_OVERWRITE))
                .isInstanceOf(java.nio.file.FileAlreadyExistsException.class);

        // Flink's checkpoint data files have random UUID names: no existence check for them.
        long heads = fs.s3Statistics().requestCount("HeadObject");
        try (var out = fs.create(path("a/named"), FileSystem.WriteMode.NO_OVERWRITE)) {
            out.write(1);
        }
        assertThat(fs.s3Statistics().requestCount("HeadObject")).as("a named file is checked").isEqualTo(heads + 1);
        heads++;
        Path random = path("shared/" + java.util.UUID.randomUUID());
        try (var out = fs.create(random, FileSystem.WriteMode.NO_OVERWRITE)) {
            out.write(1);
        }
        assertThat(fs.s3Statistics().requestCount("HeadObject")).as("HEADs to create " + random).isEqualTo(heads);
        assertThat(fs.getFileStatus(random).getLen()).isEqualTo(1);
    }

    @Test
    void seeksAndPartialReadsFromS3() throws Exception {
        Configuration conf = config(tierDir);
        conf.setString(S3TieredOptions.LOCAL_CACHE_ON_READ.key(), "false");
        write(fileSystem(otherTierDir), path("seek"), randomBytes(3 * MIB, 6));
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        byte[] data = randomBytes(3 * MIB, 6);
        try (var in = fs.open(path("seek"))) {
            in.seek(2 * MIB);
            byte[] buf = new byte[100];
            assertThat(in.read(buf)).isEqualTo(100);
            assertThat(buf).isEqualTo(Arrays.copyOfRange(data, 2 * MIB, 2 * MIB + 100));
            in.seek(10);
            assertThat(in.read()).isEqualTo(data[10] & 0xff);
            assertThat(in.getPos()).isEqualTo(11);
            in.seek(3 * MIB);
            assertThat(in.read()).isEqualTo(-1);
        }
        assertThat(fs.localTier().usedBytes()).isZero();
    }

    @Test
    void copyFilesLinksLocalCopiesAndDownloadsTheRestInParallel(@TempDir java.nio.file.Path restoreDir) throws Exception {
        S3TieredFileSystem fs = fileSystem(tierDir);
        byte[] cached = randomBytes(2 * MIB, 7);
        byte[] large = randomBytes(9 * MIB + 17, 8);
        byte[] small = randomBytes(1234, 9);
        write(fs, path("rocks/1.sst"), cached);
        write(fs, path("rocks/2.sst"), large);
        write(fs, path("rocks/MANIFEST"), small);
        fs.localTier().drop(server().bucket(), key(path("rocks/2.sst")));
        fs.localTier().drop(server().bucket(), key(path("rocks/MANIFEST")));
        long gets = fs.s3Statistics().requestCount("GetObject");
        long heads = fs.s3Statistics().requestCount("HeadObject");

        assertThat(fs.canCopyPaths(path("rocks/1.sst"), new Path("1.sst"))).isTrue();
        assertThat(fs.canCopyPaths(path("rocks/1.sst"), path("elsewhere"))).isFalse();
        List<CopyRequest> requests = List.of(
                CopyRequest.of(path("rocks/1.sst"), new Path(restoreDir.resolve("db/1.sst").toUri()), cached.length),
                CopyRequest.of(path("rocks/2.sst"), new Path(restoreDir.resolve("db/2.sst").toUri()), large.length),
                CopyRequest.of(path("rocks/MANIFEST"), new Path(restoreDir.resolve("db/MANIFEST").toUri()), small.length));
        fs.copyFiles(requests, new CloseableRegistry());

        assertThat(Files.readAllBytes(restoreDir.resolve("db/1.sst"))).isEqualTo(cached);
        assertThat(Files.readAllBytes(restoreDir.resolve("db/2.sst"))).isEqualTo(large);
        assertThat(Files.readAllBytes(restoreDir.resolve("db/MANIFEST"))).isEqualTo(small);
        // The cached file is a hard link to the tier copy: same inode, no bytes copied.
        assertThat(Files.getAttribute(restoreDir.resolve("db/1.sst"), "unix:ino"))
                .isEqualTo(Files.getAttribute(localCopy(fs, path("rocks/1.sst")), "unix:ino"));
        // 10 ranges of 1 MiB for the large file, one GET for the small one, none for the cached one.
        assertThat(fs.s3Statistics().requestCount("GetObject") - gets).isEqualTo(11);
        assertThat(fs.s3Statistics().requestCount("HeadObject") - heads)
                .as("the first range's response tells the size and the recorded CRC32C").isZero();
        assertThat(fs.s3Statistics().bytesServedFromLocalTier.sum()).isEqualTo(cached.length);
        // The downloaded files are now in the tier.
        assertThat(fs.localTier().getVerified(server().bucket(), key(path("rocks/2.sst")))).isPresent();

        // Later ranges are asked only of the version the first described: the server must refuse
        // another ETag (412), or a replaced object could mix into the file unseen.
        io.github.s3tiered.s3.ObjectInfo info = fs.runtime().store().head(server().bucket(), key(path("rocks/2.sst"))).orElseThrow();
        assertThat(info.etag()).isNotBlank();
        fs.runtime().store().openRange(server().bucket(), key(path("rocks/2.sst")), 0, 9, info.etag()).close();
        assertThatThrownBy(() -> fs.runtime().store().openRange(server().bucket(), key(path("rocks/2.sst")), 0, 9, "\"0123456789abcdef\""))
                .isInstanceOfSatisfying(io.github.s3tiered.s3.S3OperationException.class, e -> assertThat(e.statusCode()).isEqualTo(412));

        // An empty object: S3 answers a range of it with 416 (the download asks a HEAD then);
        // some servers answer 200 with no body.
        write(fs, path("rocks/EMPTY"), new byte[0]);
        fs.localTier().drop(server().bucket(), key(path("rocks/EMPTY")));
        fs.copyFiles(List.of(CopyRequest.of(path("rocks/EMPTY"), new Path(restoreDir.resolve("db/EMPTY").toUri()), 0)),
                new CloseableRegistry());
        assertThat(restoreDir.resolve("db/EMPTY")).exists().isEmptyFile();
    }

    @Test
    void entropyInjectionReplacesTheKeyInDataPaths() throws Exception {
        Configuration conf = config(tierDir);
        conf.setString("s3.entropy.key", "_entropy_");
        conf.setString("s3.entropy.length", "6");
        S3TieredFileSystem fs = newFileSystem(conf, server().bucket());
        assertThat(fs.getEntropyInjectionKey()).isEqualTo("_entropy_");

        Path withKey = new Path(base + "/_entropy_/chk-1/data");
        OutputStreamAndPath out = EntropyInjector.createEntropyAware(fs, withKey, FileSystem.WriteMode.NO_OVERWRITE);
        out.stream().write(new byte[] {1, 2, 3});
        out.stream().close();

        String written = out.path().toString();
        assertThat(written).doesNotContain("_entropy_").matches(".*/[0-9a-z]{6}/chk-1/data");
        assertThat(readAll(fs, out.path())).containsExactly(1, 2, 3);
        assertThat(EntropyInjector.removeEntropyMarkerIfPresent(fs, withKey).toString())
                .isEqualTo(base + "/chk-1/data");
    }

    // ------------------------------------------------------------------ helpers

    protected String key(Path p) {
        return p.toUri().getPath().substring(1);
    }

    protected java.nio.file.Path localCopy(S3TieredFileSystem fs, Path p) {
        TierEntry e = fs.localTier().getVerified(server().bucket(), key(p)).orElseThrow();
        return e.data();
    }

    protected long bytesOnDisk() throws IOException {
        try (Stream<java.nio.file.Path> files = Files.walk(tierDir.resolve("v1/objects"))) {
            return files.filter(Files::isRegularFile).filter(f -> !f.toString().endsWith(".meta"))
                    .mapToLong(f -> f.toFile().length()).sum();
        }
    }

    protected static int crc(byte[] data) {
        CRC32C c = new CRC32C();
        c.update(data);
        return (int) c.getValue();
    }

}
