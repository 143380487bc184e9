package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import java.io.DataInputStream;

/**
 * Reads the in-flight data of an unaligned checkpoint as Flink's {@code
 * SequentialChannelStateReaderImpl} does: the format version at the start of the file, then at
 * each recorded offset a length and that many bytes. The lengths must add up to the state size
 * {@code _metadata} records, and no two buffers of a channel may share a byte: Flink writes each
 * buffer once, so an offset moved onto another buffer of the same length would replay that one
 * twice and drop the other, silently. The buffers hold serialized records, which only the job could decode:
 * their bytes are not interpreted.
 */
final class ChannelStateCheck {

    /** The only format version Flink writes ({@code ChannelStateSerializerImpl}). */
    private static final int SERIALIZATION_VERSION = 0;

    void check(AbstractChannelStateHandle<?> handle, StreamStateHandle localDelegate) throws Exception {
        long fileSize = localDelegate.getStateSize();
        long total = 0;
        StringBuilder seen = new StringBuilder();
        java.util.TreeMap<Long, Integer> buffers = new java.util.TreeMap<>();
        try (FSDataInputStream in = localDelegate.openInputStream()) {
            DataInputStream data = new DataInputStream(in);
            int version = data.readInt();
            if (version != SERIALIZATION_VERSION) {
                throw new StateDecodingException("channel state file starts with format version " + version
                        + ", Flink writes " + SERIALIZATION_VERSION, true, null);
            }
            for (long offset : handle.getOffsets()) {
                in.seek(offset);
                int length = data.readInt();
                if (length < 0 || offset + Integer.BYTES + length > fileSize) {
                    throw new StateDecodingException("channel state " + handle.getInfo() + " has a buffer of " + length
                            + " bytes at byte " + offset + " of " + fileSize, true, null);
                }
                total += Integer.BYTES + length;
                seen.append(' ').append(offset).append(':').append(length);
                Integer before = buffers.put(offset, length);
                if (before != null) {
                    throw new StateDecodingException("channel state " + handle.getInfo() + " names the buffer at byte "
                            + offset + " twice", true, null);
                }
            }
        }
        long end = Integer.BYTES; // the format version
        for (java.util.Map.Entry<Long, Integer> b : buffers.entrySet()) {
            if (b.getKey() < end) {
                throw new StateDecodingException("channel state " + handle.getInfo() + " has a buffer at byte " + b.getKey()
                        + " inside the one ending at byte " + end, true, null);
            }
            end = b.getKey() + Integer.BYTES + b.getValue();
        }
        // State small enough to sit inside _metadata is copied out per channel, with its own format
        // header, and Flink records that copy's whole size (ChannelStatePendingResult#createHandle).
        long expected = localDelegate instanceof ByteStreamStateHandle ? total + Integer.BYTES : total;
        if (expected != handle.getStateSize()) {
            throw new StateDecodingException("the buffers of channel state " + handle.getInfo() + " hold " + total
                    + " bytes, _metadata records " + handle.getStateSize() + " (offset:length" + seen + "; file of " + fileSize
                    + " bytes)", true, null);
        }
    }
}
