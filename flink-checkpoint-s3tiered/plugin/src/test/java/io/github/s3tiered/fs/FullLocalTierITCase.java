package io.github.s3tiered.fs;

import static io.github.s3tiered.fs.S3TieredTestSupport.flinkConfig;
import static io.github.s3tiered.fs.S3TieredTestSupport.newFileSystem;
import static io.github.s3tiered.fs.S3TieredTestSupport.randomBytes;
import static io.github.s3tiered.fs.S3TieredTestSupport.rawClient;
import static io.github.s3tiered.fs.S3TieredTestSupport.readAll;
import static io.github.s3tiered.fs.S3TieredTestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.CloseableRegistry;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.PathsCopyingFileSystem.CopyRequest;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The local tier on a volume that fills up or turns read-only under a running file system (a
 * small tmpfs mounted for the test): writes fail with an error naming the tier's directory and
 * leave nothing in S3; restores and reads come from S3 with exact bytes and keep no copy.
 *
 * <p>Mounting needs root (or CAP_SYS_ADMIN); where the OS refuses it the class is skipped with
 * the reason. CI runs as root.
 */
class FullLocalTierITCase {

    @RegisterExtension static final S3ServerExtension S3 = new S3ServerExtension();

    private static final int MIB = 1024 * 1024;
    private static java.nio.file.Path volume;
    private static String mountRefused;

    @TempDir java.nio.file.Path seedTierDir;
    @TempDir java.nio.file.Path restoreDir;

    private java.nio.file.Path tierDir;
    private String base;
    private S3TieredFileSystem fs;
    private S3TieredFileSystem seed;

    @BeforeAll
    static void mountSmallVolume() throws Exception {
        volume = Files.createTempDirectory("s3tiered-small-volume");
        mountRefused = run("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", volume.toString());
    }

    @AfterAll
    static void unmount() throws Exception {
        if (mountRefused == null) {
            run("umount", volume.toString());
        }
        Files.deleteIfExists(volume);
    }

    @BeforeEach
    void setUp(TestInfo info) throws IOException {
        assumeTrue(mountRefused == null, () -> "cannot mount a small tmpfs for the tier here: " + mountRefused);
        tierDir = volume.resolve(info.getTestMethod().orElseThrow().getName());
        base = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/full-tier/"
                + info.getTestMethod().orElseThrow().getName();
        fs = newFileSystem(config(tierDir), S3.server().bucket());
        seed = newFileSystem(config(seedTierDir), S3.server().bucket());
    }

    @AfterEach
    void cleanUp() throws Exception {
        if (mountRefused == null) {
            run("mount", "-o", "remount,rw", volume.toString());
            try (Stream<java.nio.file.Path> files = Files.list(volume)) {
                for (java.nio.file.Path p : files.toList()) {
                    org.apache.flink.util.FileUtils.deleteFileOrDirectory(p.toFile());
                }
            }
        }
    }

    private static Configuration config(java.nio.file.Path localDir) {
        Configuration conf = flinkConfig(S3.server(), localDir);
        // a budget far above the volume: the disk fills before the budget does
        conf.setString(S3TieredOptions.LOCAL_MAX_BYTES.key(), "1gb");
        conf.setString(S3TieredOptions.MULTIPART_THRESHOLD.key(), "5mb");
        conf.setString(S3TieredOptions.DOWNLOAD_PART_SIZE.key(), "256kb");
        return conf;
    }

    @Test
    void onAFullDiskAWriteFailsNamingTheTierDirectoryAndLeavesNothing() throws Exception {
        fillVolume();
        Path p = new Path(base + "/state-file");

        assertThatThrownBy(() -> write(fs, p, randomBytes(MIB, 1)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(tierDir.toString())
                .hasMessageContaining("s3tiered.local.dir")
                .hasMessageContaining(p.getPath().substring(1));

        assertThat(inS3(p)).isFalse();
        assertThat(stagingFiles()).isZero();
    }

    /**
     * The volume full of the tier's own copies, under its budget (the budget counts the tier's
     * files only; RocksDB's on the same volume fill it as well): a checkpoint's write evicts the
     * least recently used copies and goes on, instead of failing every checkpoint until someone
     * clears the disk.
     */
    @Test
    void aWriteThatFindsTheVolumeFullOfCopiesEvictsThemAndSucceeds() throws Exception {
        List<Path> cached = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Path p = new Path(base + "/cached-" + i);
            write(fs, p, randomBytes(500 * 1024, 40 + i));
            cached.add(p);
        }
        assertThat(fs.localTier().getVerified(S3.server().bucket(), cached.get(4).getPath().substring(1))).isPresent();
        fillVolumeAsRocksDbWould();
        Path p = new Path(base + "/state-file");
        byte[] data = randomBytes(MIB, 50);

        write(fs, p, data);

        assertThat(inS3(p)).isTrue();
        assertThat(readAll(seed, p)).isEqualTo(data);
        assertThat(cached).as("the least recently used copies made room")
                .anySatisfy(c -> assertThat(fs.localTier().getVerified(S3.server().bucket(), c.getPath().substring(1))).isEmpty());
        assertThat(stagingFiles()).isZero();
    }

    /**
     * RocksDB's files on another volume than the tier's: the pre-upload copies the file into the
     * tier instead of linking it, and the tier's volume fills during the copy. The partial copy
     * must not stay (it would hold the space until the leftover scan, hours later, and fail the
     * checkpoints' own staging on this host).
     */
    @Test
    void aPreUploadCopyThatFillsTheDiskFailsNamingTheFileAndLeavesNothing() throws Exception {
        java.nio.file.Path sst = seedTierDir.resolve("000042.sst"); // not on the tier's volume
        Files.write(sst, randomBytes(5 * MIB, 4));
        Path dir = new Path(base + "/shared");

        assertThatThrownBy(() -> PreUpload.run(fs.runtime(), fs.objectPathOf(dir), sst, 60_000_000_000L, true))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(sst.toString())
                .hasMessageContaining(tierDir.toString());

        assertThat(stagingFiles()).as("no partial copy left in the tier").isZero();
    }

    @Test
    void onAFullDiskARestoreAndAReadComeFromS3AndKeepNoCopy() throws Exception {
        List<byte[]> data = new ArrayList<>();
        List<CopyRequest> requests = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            byte[] bytes = randomBytes(MIB + i, 10 + i);
            data.add(bytes);
            Path p = new Path(base + "/sst-" + i);
            write(seed, p, bytes);
            requests.add(CopyRequest.of(p, new Path(restoreDir.resolve("sst-" + i).toUri()), -1));
        }
        fillVolume();

        fs.copyFiles(requests, new CloseableRegistry());
        for (int i = 0; i < 3; i++) {
            assertThat(Files.readAllBytes(restoreDir.resolve("sst-" + i))).isEqualTo(data.get(i));
        }
        assertThat(readAll(fs, new Path(base + "/sst-0"))).isEqualTo(data.get(0));

        assertThat(fs.s3Statistics().restoreBytesFromS3.sum()).isEqualTo(3L * MIB + 3);
        assertThat(fs.localTier().getVerified(S3.server().bucket(), new Path(base + "/sst-0").getPath().substring(1)))
                .as("no copy kept on a full disk").isEmpty();
        assertThat(stagingFiles()).isZero();
    }

    /**
     * As for a write: a restore (a failover's) on a volume full of the tier's own copies, with
     * RocksDB's directory on it too, evicts the least recently used copies and goes on, instead of
     * failing every restore of the TaskManager while the copies stay.
     */
    @Test
    void aRestoreThatFindsTheVolumeFullOfCopiesEvictsThemAndSucceeds() throws Exception {
        List<Path> cached = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Path p = new Path(base + "/cached-" + i);
            write(fs, p, randomBytes(400 * 1024, 60 + i));
            cached.add(p);
        }
        Path p = new Path(base + "/sst-after-failover");
        byte[] data = randomBytes(MIB, 70);
        write(seed, p, data); // written by another TaskManager: not in this one's tier
        java.nio.file.Path target = Files.createDirectories(volume.resolve("rocksdb")).resolve("000042.sst");
        fillVolumeAsRocksDbWould();

        fs.copyFiles(List.of(CopyRequest.of(p, new Path(target.toUri()), -1)), new CloseableRegistry());

        assertThat(Files.readAllBytes(target)).isEqualTo(data);
        assertThat(cached).as("the least recently used copies made room")
                .anySatisfy(c -> assertThat(fs.localTier().getVerified(S3.server().bucket(), c.getPath().substring(1))).isEmpty());
        assertThat(stagingFiles()).isZero();
    }

    @Test
    void aRestoreIntoAFullDiskFailsNamingTheFileWithoutReadingTheRangeAgain() throws Exception {
        // RocksDB's directory on the full volume too: the downloaded bytes cannot be written
        Path p = new Path(base + "/sst-into-full-disk");
        write(seed, p, randomBytes(MIB, 30));
        java.nio.file.Path target = Files.createDirectories(volume.resolve("rocksdb")).resolve("000042.sst");
        fillVolume();
        // room for the file to be created, not for its bytes: the disk fills during the download
        try (java.nio.channels.FileChannel filler = java.nio.channels.FileChannel.open(volume.resolve("filler"),
                java.nio.file.StandardOpenOption.WRITE)) {
            filler.truncate(filler.size() - 64 * 1024);
        }
        long reopensBefore = fs.s3Statistics().reopens.sum();

        assertThatThrownBy(() -> fs.copyFiles(List.of(CopyRequest.of(p, new Path(target.toUri()), -1)),
                new CloseableRegistry()))
                .isInstanceOf(IOException.class)
                .hasStackTraceContaining("could not write " + target)
                .hasStackTraceContaining(p.getPath().substring(1));
        assertThat(fs.s3Statistics().reopens.sum() - reopensBefore)
                .as("a failed local write is not a broken response: the range is not read again").isZero();
    }

    @Test
    void onAReadOnlyVolumeWritesFailNamingTheDirectoryAndRestoresComeFromS3() throws Exception {
        Path kept = new Path(base + "/kept");
        byte[] keptBytes = randomBytes(200_000, 20);
        write(fs, kept, keptBytes); // a copy in the tier before the volume turns read-only
        Path restored = new Path(base + "/restored");
        byte[] restoredBytes = randomBytes(MIB, 21);
        write(seed, restored, restoredBytes);
        String refused = run("mount", "-o", "remount,ro", volume.toString());
        assumeTrue(refused == null, () -> "cannot remount the tmpfs read-only: " + refused);

        Path p = new Path(base + "/state-file");
        assertThatThrownBy(() -> write(fs, p, randomBytes(1000, 22)))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(tierDir.toString());
        assertThat(inS3(p)).isFalse();

        fs.copyFiles(List.of(
                CopyRequest.of(kept, new Path(restoreDir.resolve("kept").toUri()), -1),
                CopyRequest.of(restored, new Path(restoreDir.resolve("restored").toUri()), -1)), new CloseableRegistry());
        assertThat(Files.readAllBytes(restoreDir.resolve("kept"))).as("the intact copy still serves").isEqualTo(keptBytes);
        assertThat(Files.readAllBytes(restoreDir.resolve("restored"))).isEqualTo(restoredBytes);
        assertThat(readAll(fs, restored)).isEqualTo(restoredBytes);
    }

    // ------------------------------------------------------------------ helpers

    /** Fills the volume to the last byte, as another process sharing the disk would. */
    /** What RocksDB would have written beside the tier's copies: the volume is full after it. */
    private static void fillVolumeAsRocksDbWould() throws IOException {
        try (OutputStream out = Files.newOutputStream(volume.resolve("rocksdb-files"))) {
            byte[] block = new byte[64 * 1024];
            while (Files.getFileStore(volume).getUsableSpace() >= block.length) {
                out.write(block);
            }
        } catch (IOException full) {
            // filled
        }
    }

    private void fillVolume() throws IOException {
        byte[] block = new byte[64 * 1024];
        try (OutputStream out = Files.newOutputStream(volume.resolve("filler"))) {
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            // not the message, whose language follows the host's locale
            assertThat(Files.getFileStore(volume).getUsableSpace()).as("usable bytes left after %s", full.toString())
                    .isLessThan(block.length);
        }
    }

    private boolean inS3(Path p) {
        try (S3Client raw = rawClient(S3.server())) {
            raw.headObject(b -> b.bucket(S3.server().bucket()).key(p.getPath().substring(1)));
            return true;
        } catch (S3Exception e) {
            if (e.statusCode() == 404) {
                return false;
            }
            throw e;
        }
    }

    private long stagingFiles() throws IOException {
        java.nio.file.Path staging = tierDir.resolve("v1").resolve("staging");
        if (!Files.isDirectory(staging)) {
            return 0;
        }
        try (Stream<java.nio.file.Path> files = Files.list(staging)) {
            return files.count();
        }
    }

    /** Runs a command; null when it succeeded, else what it printed. */
    private static String run(String... command) throws IOException, InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            return e.getMessage();
        }
        byte[] output = process.getInputStream().readAllBytes();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            return String.join(" ", command) + " did not finish";
        }
        return process.exitValue() == 0 ? null
                : String.join(" ", command) + ": " + new String(output, StandardCharsets.UTF_8).trim();
    }
}
