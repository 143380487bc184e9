package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.channel.InputChannelInfo;
import org.apache.flink.runtime.state.InputChannelStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.file.Files;
import java.util.List;

/** A channel state file as Flink's {@code ChannelStateSerializerImpl} writes it: the format version, then length-prefixed buffers. */
class ChannelStateCheckTest {

    @TempDir java.nio.file.Path dir;

    @Test
    void aChannelsBuffersMustNotShareBytes() throws Exception {
        FileStateHandle file = channelStateFile(10, 10, 6); // buffers at bytes 4, 18 and 32
        ChannelStateCheck check = new ChannelStateCheck();
        assertThatCode(() -> check.check(channel(file, List.of(4L, 18L), 28), file)).doesNotThrowAnyException();
        assertThatCode(() -> check.check(channel(file, List.of(32L), 10), file)).doesNotThrowAnyException();

        // the second offset moved onto the first buffer, of the same length: sizes still add up
        assertThatThrownBy(() -> check.check(channel(file, List.of(4L, 4L), 28), file))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("names the buffer at byte 4 twice");
        // moved inside the first buffer, onto bytes that read as a length of 10 (the second's)
        java.nio.file.Path overlapping = dir.resolve("overlapping");
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(overlapping))) {
            out.writeInt(0);
            out.writeInt(14); // a buffer of 14 bytes at byte 4 whose bytes 4-7 read as 10
            out.writeInt(10);
            out.write(new byte[10]);
        }
        FileStateHandle overlappingFile = new FileStateHandle(new Path(overlapping.toUri()), Files.size(overlapping));
        assertThatThrownBy(() -> check.check(channel(overlappingFile, List.of(4L, 8L), 32), overlappingFile))
                .isInstanceOf(StateDecodingException.class).hasMessageContaining("inside the one ending at byte 22");
    }

    private static InputChannelStateHandle channel(FileStateHandle file, List<Long> offsets, long size) {
        return new InputChannelStateHandle(0, new InputChannelInfo(0, 0), file, offsets, size);
    }

    private FileStateHandle channelStateFile(int... lengths) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0);
        byte fill = 1;
        for (int length : lengths) {
            out.writeInt(length);
            byte[] b = new byte[length];
            java.util.Arrays.fill(b, fill++);
            out.write(b);
        }
        java.nio.file.Path f = Files.write(dir.resolve("channel-state"), bytes.toByteArray());
        return new FileStateHandle(new Path(f.toUri()), Files.size(f));
    }
}
