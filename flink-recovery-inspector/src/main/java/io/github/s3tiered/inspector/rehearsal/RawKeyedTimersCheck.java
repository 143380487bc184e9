package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.Arrays;

/**
 * Raw keyed state holding an operator's timers, as Flink writes them when the keyed backend keeps
 * timers on the heap beside RocksDB ({@code state.backend.rocksdb.timer-service.factory: HEAP}):
 * {@code InternalTimeServiceManagerImpl#snapshotToRawKeyedState} starts every key group of the
 * subtask, and writes each as an {@code InternalTimerServiceSerializationProxy}, which opens with
 * {@code PostVersionedIOReadableWritable}'s identifier and its version. Flink's restore reads the
 * timers at each key group's offset and skips a key group without one: an offset moved onto the
 * next key group's, or removed, loses that key group's timers (windows that never fire) without
 * an error. An operator writing its own raw keyed state cannot also have timers there (Flink
 * refuses it), and its own format is not judged: only state where a key group opens with the
 * identifier is taken for timers, and then every key group must.
 */
final class RawKeyedTimersCheck {

    /** {@code PostVersionedIOReadableWritable.VERSIONED_IDENTIFIER}. */
    private static final byte[] VERSIONED_IDENTIFIER = {-15, -51, -123, -97};
    /** The versions of {@code InternalTimerServiceSerializationProxy} Flink has written. */
    private static final int MAX_PROXY_VERSION = 2;

    private RawKeyedTimersCheck() {}

    /**
     * True when {@code h} holds timers, each key group's section checked; false when it holds
     * something else (left to its operator). Throws on a contradiction.
     */
    static boolean check(KeyGroupsStateHandle h) throws IOException {
        KeyGroupRangeOffsets offsets = h.getGroupRangeOffsets();
        int[] groups = h.getKeyGroupRange().getNumberOfKeyGroups() > 0 ? rangeOf(h) : new int[0];
        long size = h.getDelegateStateHandle().getStateSize();
        try (FSDataInputStream in = h.openInputStream()) {
            // any key group's section, not only the first: the first one's identifier damaged is
            // what Flink reads as an older format's count of timer services, negative, so it
            // restores none of that key group's timers without an error
            boolean timers = false;
            for (int g : groups) {
                long at = offsets.getKeyGroupOffset(g);
                if (at >= 0 && at < size && opensWithIdentifier(in, at)) {
                    timers = true;
                    break;
                }
            }
            if (!timers) {
                return false;
            }
            long previous = -1;
            int previousGroup = -1;
            for (int g : groups) {
                long at = offsets.getKeyGroupOffset(g);
                if (at < 0) {
                    throw damage("key group " + g + " has no offset in raw keyed state holding timers (Flink writes every"
                            + " key group's timers, and its restore would skip this one's)");
                }
                if (at <= previous) {
                    throw damage("key group " + g + "'s timers are recorded at byte " + at + ", not after key group "
                            + previousGroup + "'s at byte " + previous + " (Flink writes each key group's after the one"
                            + " before)");
                }
                if (at >= size || !opensWithIdentifier(in, at)) {
                    throw damage("key group " + g + "'s timers recorded at byte " + at + " do not start there (no timer"
                            + " service section of Flink's)");
                }
                previous = at;
                previousGroup = g;
            }
            return true;
        }
    }

    private static int[] rangeOf(KeyGroupsStateHandle h) {
        int start = h.getKeyGroupRange().getStartKeyGroup();
        int[] out = new int[h.getKeyGroupRange().getNumberOfKeyGroups()];
        for (int i = 0; i < out.length; i++) {
            out[i] = start + i;
        }
        return out;
    }

    private static boolean opensWithIdentifier(FSDataInputStream in, long at) throws IOException {
        in.seek(at);
        DataInputStream data = new DataInputStream(in);
        byte[] head = new byte[VERSIONED_IDENTIFIER.length];
        try {
            data.readFully(head);
            int version = data.readInt();
            return Arrays.equals(head, VERSIONED_IDENTIFIER) && version >= 1 && version <= MAX_PROXY_VERSION;
        } catch (EOFException e) {
            return false;
        }
    }

    private static StateDecodingException damage(String message) {
        return new StateDecodingException(message, true, null);
    }
}
