package io.github.s3tiered.inspector.validation;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.Outcome;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint whose files are named through a scheme no file system serves where it is checked:
 * a plugin missing on this host (a well-known scheme) is no proof that the file is missing; a
 * scheme no file system has (a damaged path) is read by no restore either.
 */
class ForeignSchemeTest {

    @TempDir
    java.nio.file.Path dir;

    private Validation validateReferencing(String file) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("job/chk-1"));
        OperatorState state = io.github.s3tiered.inspector.metadata.OperatorStates.create("op", "op",
                io.github.s3tiered.inspector.metadata.OperatorIds.fromUid("op"), 1, 128);
        state.putState(0, OperatorSubtaskState.builder()
                .setManagedOperatorState(new OperatorStreamStateHandle(Map.of(), new FileStateHandle(new Path(file), 64)))
                .build());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(1, List.of(state), List.of()),
                    new java.io.DataOutputStream(out));
        }
        return new CheckpointInspector(getClass().getClassLoader()).validate(new Path(chk.toUri()), false);
    }

    @Test
    void aFileThroughAPluginMissingHereIsUnknownNotMissing() throws Exception {
        // no gs:// file system on this classpath, as a host without the plugin
        Validation v = validateReferencing("gs://bucket/job/shared/state");

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.UNKNOWN);
        assertThat(v.outcome()).isEqualTo(Outcome.UNKNOWN);
        assertThat(v.reason()).contains("'gs'").contains("plugin");
    }

    @Test
    void aFileThroughASchemeNoFileSystemHasIsMissing() throws Exception {
        Validation v = validateReferencing("fime:/job/shared/state");

        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.MISSING_FILES);
    }
}
