package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.core.memory.DataOutputViewStreamWrapper;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * A RocksDB snapshot's files are placed in the rehearsal's scratch directory before RocksDB reads
 * them: a scratch directory that cannot take them (a full disk) is this host's shortage, and says
 * nothing about the checkpoint, which a restore point search must not skip for it.
 */
class RocksDbScratchTest {

    @TempDir
    Path dir;

    private static IncrementalRemoteKeyedStateHandle snapshotWithAManifestInTheMetadata() throws Exception {
        ByteArrayOutputStream meta = new ByteArrayOutputStream();
        new KeyedBackendSerializationProxy<>(LongSerializer.INSTANCE, List.of(), false)
                .write(new DataOutputViewStreamWrapper(meta));
        // small files travel inside _metadata: each is written into the scratch directory for RocksDB
        ByteStreamStateHandle manifest = new ByteStreamStateHandle("manifest", "not a manifest".getBytes());
        return new IncrementalRemoteKeyedStateHandle(UUID.randomUUID(), KeyGroupRange.of(0, 127), 1, List.of(),
                List.of(HandleAndLocalPath.of(manifest, "MANIFEST-000004")), new ByteStreamStateHandle("meta", meta.toByteArray()));
    }

    private Findings check(Path scratch) throws Exception {
        Findings findings = new Findings();
        new RocksDbSnapshotCheck(new RehearsalContext(getClass().getClassLoader(), true, scratch, "_metadata"))
                .check(snapshotWithAManifestInTheMetadata(), p -> { throw new AssertionError("no file to fetch: " + p); },
                        findings, "subtask 0");
        return findings;
    }

    @Test
    void aScratchDirectoryThatCannotBeWrittenIsNoDamage() throws Exception {
        assumeTrue(RocksDbLibrary.load(), "RocksDB's native library does not load here");
        Path notADirectory = Files.writeString(dir.resolve("full"), "a file where the scratch directory should be");

        Findings findings = check(notADirectory);

        assertThat(findings.failures()).isEmpty();
        assertThat(findings.notes()).anySatisfy(n -> assertThat(n).contains("scratch directory could not hold")
                .contains("not verified"));
        // nor proof: the deep validation makes it UNKNOWN where no recorded checksum proves the bytes
        assertThat(findings.shortfalls()).singleElement().satisfies(s -> {
            assertThat(s.files()).contains("_metadata");
            assertThat(s.reason()).contains("scratch directory could not hold");
        });

        // where the scratch directory takes them, the same bytes are read and found damaged
        assertThat(check(Files.createDirectories(dir.resolve("scratch"))).failures()).isNotEmpty();
    }
}
