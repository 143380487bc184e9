package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.metadata.OperatorStates;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.EmptySegmentFileStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The byte ranges of state files that a checkpoint's {@code _metadata} points at, each with what it
 * holds: the test's own reading of the metadata (independent of the inspector), to pick victims for
 * damage and to know which checkpoints a damaged byte concerns.
 */
final class StateFiles {

    /** What a piece of a state file holds. */
    enum Role { SST, MANIFEST, CURRENT, ROCKSDB_OTHER, KEYED_META, KEY_GROUPS, OPERATOR, CHANNEL }

    /**
     * Bytes {@code [start, start + length)} of {@code file} (the whole file when {@code wholeFile}).
     *
     * @param localName RocksDB's name of the file (e.g. 000012.sst), or null
     * @param keyGroups the key-grouped handle the piece belongs to, or null
     */
    record Piece(Path file, long start, long length, boolean wholeFile, Role role, String localName,
            KeyGroupsStateHandle keyGroups) {

        long end() {
            return start + length;
        }

        boolean covers(long offset) {
            return offset >= start && offset < end();
        }

        String key() {
            return PathKey.of(file);
        }
    }

    private final List<Piece> pieces = new ArrayList<>();
    private int inline;

    private StateFiles() {}

    static StateFiles of(CheckpointMetadata metadata) {
        StateFiles out = new StateFiles();
        for (OperatorState op : metadata.getOperatorStates()) {
            for (OperatorSubtaskState s : op.getStates()) {
                s.getManagedKeyedState().forEach(out::keyed);
                s.getRawKeyedState().forEach(out::keyed);
                s.getManagedOperatorState().forEach(h -> out.operator(h));
                s.getRawOperatorState().forEach(h -> out.operator(h));
                out.channels(OperatorStates.channelHandles(s));
            }
        }
        return out;
    }

    List<Piece> pieces() {
        return List.copyOf(pieces);
    }

    List<Piece> pieces(Role role) {
        return pieces.stream().filter(p -> p.role() == role).toList();
    }

    /** Handles whose bytes are inside {@code _metadata} (no file). */
    int inlineHandles() {
        return inline;
    }

    /** True when some piece of {@code file} covers {@code offset}. */
    boolean covers(Path file, long offset) {
        String key = PathKey.of(file);
        return pieces.stream().anyMatch(p -> p.key().equals(key) && p.covers(offset));
    }

    private void keyed(KeyedStateHandle h) {
        if (h instanceof IncrementalRemoteKeyedStateHandle inc) {
            List<HandleAndLocalPath> files = new ArrayList<>(inc.getSharedState());
            files.addAll(inc.getPrivateState());
            for (HandleAndLocalPath f : files) {
                String name = f.getLocalPath();
                Role role = name.endsWith(".sst") ? Role.SST
                        : name.startsWith("MANIFEST-") ? Role.MANIFEST
                        : name.equals("CURRENT") ? Role.CURRENT : Role.ROCKSDB_OTHER;
                add(f.getHandle(), role, name, null);
            }
            add(inc.getMetaDataStateHandle(), Role.KEYED_META, null, null);
        } else if (h instanceof KeyGroupsStateHandle kg) {
            add(kg.getDelegateStateHandle(), Role.KEY_GROUPS, null, kg);
        }
    }

    private void operator(OperatorStateHandle h) {
        if (h != null) {
            add(h.getDelegateStateHandle(), Role.OPERATOR, null, null);
        }
    }

    private void channels(Collection<? extends StateObject> handles) {
        for (StateObject h : handles) {
            if (h instanceof AbstractChannelStateHandle<?> ch) {
                add(ch.getDelegate(), Role.CHANNEL, null, null);
            } else if (OperatorStates.mergedChannelDelegate(h) != null) {
                add(OperatorStates.mergedChannelDelegate(h), Role.CHANNEL, null, null);
            }
        }
    }

    private void add(StreamStateHandle h, Role role, String localName, KeyGroupsStateHandle keyGroups) {
        if (h == null || h instanceof EmptySegmentFileStateHandle) {
            return;
        }
        if (h instanceof SegmentFileStateHandle seg) {
            pieces.add(new Piece(seg.getFilePath(), seg.getStartPos(), seg.getStateSize(), false, role, localName, keyGroups));
        } else if (h instanceof FileStateHandle file) {
            pieces.add(new Piece(file.getFilePath(), 0, file.getStateSize(), true, role, localName, keyGroups));
        } else {
            inline++;
        }
    }
}
