package io.github.s3tiered.inspector.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.metadata.OperatorIds;
import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.StateObjectCollection;
import org.apache.flink.runtime.checkpoint.channel.InputChannelInfo;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.InputChannelStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.util.List;

/**
 * The command line judges a checkpoint as Flink restores it with the configuration it is given: with
 * {@code execution.state-recovery.without-channel-state.checkpoint-id} naming the checkpoint, a lost
 * file of in-flight data only does not stop the restore; naming another checkpoint changes nothing.
 */
class InFlightDataOptionTest {

    private static final String KEY = "execution.state-recovery.without-channel-state.checkpoint-id";

    @TempDir
    java.nio.file.Path dir;

    @Test
    void aCheckpointMissingOnlyInFlightDataIsRestorableWhenTheConfigurationDiscardsIt() throws Exception {
        java.nio.file.Path conf = Files.createDirectories(dir.resolve("conf"));
        writeConfiguration(conf, "parallelism.default: 1\n");
        java.nio.file.Path chk = checkpointMissingItsInFlightData(3);

        Run plain = validate("--flink-conf-dir", conf.toString(), chk.toString());
        Run another = validate("--flink-conf-dir", conf.toString(), "-D", KEY + "=2", chk.toString());
        Run discarded = validate("--flink-conf-dir", conf.toString(), "-D", KEY + "=3", chk.toString());
        writeConfiguration(conf, KEY + ": 3\n");
        Run fromFile = validate("--flink-conf-dir", conf.toString(), chk.toString());

        assertThat(plain.code).as(plain.out).isEqualTo(InspectorSubcommand.NOT_RESTORABLE);
        assertThat(plain.out).contains("MISSING_FILES", KEY);
        assertThat(another.code).as(another.out).isEqualTo(InspectorSubcommand.NOT_RESTORABLE);
        assertThat(discarded.code).as(discarded.out).isEqualTo(InspectorSubcommand.RESTORABLE);
        assertThat(fromFile.code).as(fromFile.out).isEqualTo(InspectorSubcommand.RESTORABLE);
    }

    /** Flink 2.x reads config.yaml, 1.20 either. */
    private static void writeConfiguration(java.nio.file.Path conf, String yaml) throws Exception {
        Files.writeString(conf.resolve("config.yaml"), yaml);
        Files.writeString(conf.resolve("flink-conf.yaml"), yaml);
    }

    private java.nio.file.Path checkpointMissingItsInFlightData(long id) throws Exception {
        java.nio.file.Path chk = Files.createDirectories(dir.resolve("job/chk-" + id));
        OperatorState op = OperatorStates.create("count", "count", OperatorIds.fromUid("count"), 1, 128);
        op.putState(0, OperatorSubtaskState.builder().setInputChannelState(new StateObjectCollection<>(List.of(
                new InputChannelStateHandle(0, new InputChannelInfo(0, 0),
                        new FileStateHandle(new Path(chk.resolve("in-flight").toUri()), 29), List.of(4L), 25))))
                .build());
        try (OutputStream out = Files.newOutputStream(chk.resolve("_metadata"))) {
            Checkpoints.storeCheckpointMetadata(new CheckpointMetadata(id, List.of(op), List.of()), new DataOutputStream(out));
        }
        return chk;
    }

    private static Run validate(String... args) {
        StringWriter out = new StringWriter();
        String[] all = new String[args.length + 2];
        all[0] = "validate";
        all[1] = "-q";
        System.arraycopy(args, 0, all, 2, args.length);
        int code = RecoveryInspector.run(new PrintWriter(out, true), new PrintWriter(out, true), all);
        return new Run(code, out.toString());
    }

    private record Run(int code, String out) {}
}
