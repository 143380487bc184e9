package io.github.s3tiered.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The scan that the cluster test runs over every log finds a planted secret, by file and line. */
class SecretScanTest {

    static final String SECRET = "S3cretCanary0123456789abcdef";

    @TempDir Path dir;

    @Test
    void findsAPlantedSecretNamingFileAndLineWithoutRepeatingIt() throws Exception {
        Files.createDirectories(dir.resolve("log"));
        Path clean = Files.writeString(dir.resolve("log/jobmanager.log"), "line 1\nline 2 s3.secret-key: ******\n");
        Path leaking = Files.writeString(dir.resolve("log/taskmanager-1.out"),
                "line 1\nline 2\nCaused by: config {s3.secret-key=" + SECRET + "}\nline 4\n");
        Path binary = dir.resolve("log/binary.dat");
        Files.write(binary, concat(new byte[] {(byte) 0xff, (byte) 0xfe, 0, 10}, SECRET.getBytes(StandardCharsets.US_ASCII)));

        List<String> hits = SecretScan.find(SECRET, SecretScan.filesUnder(dir));

        assertThat(hits).containsExactly(
                binary + ":2: <SECRET>",
                leaking + ":3: Caused by: config {s3.secret-key=<SECRET>}");
        assertThat(String.join("\n", hits)).doesNotContain(SECRET);
        assertThat(SecretScan.find(SECRET, List.of(clean))).isEmpty();
        assertThat(SecretScan.filesUnder(dir)).hasSize(3);
        assertThat(SecretScan.filesUnder(dir.resolve("absent"))).isEmpty();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
