package io.github.s3tiered.inspector.metadata;

import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a {@code _metadata} that Flink's reader accepts must still satisfy, because Flink wrote it
 * so: facts recorded twice that must agree. A damaged byte that leaves the file parseable usually
 * breaks one of them, and Flink's restore would then fail or put state in the wrong place:
 *
 * <ul>
 *   <li>the id in {@code chk-N} and the checkpoint id inside;
 *   <li>an operator's id and the uid it was derived from (Flink hashes the uid set in the job);
 *   <li>each subtask's key-group range and the range Flink assigns that subtask for the recorded
 *       parallelism and max parallelism;
 *   <li>offsets into a state file and the file's recorded size;
 *   <li>the files of a RocksDB incremental snapshot: plain, distinct names, one CURRENT, a MANIFEST.
 * </ul>
 *
 * Each check holds for every checkpoint Flink 2.x writes; none needs the files themselves.
 */
public final class MetadataConsistency {

    private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-(\\d+)");

    private MetadataConsistency() {}

    /** Every contradiction found, each as one sentence; empty when consistent. */
    public static List<String> check(CheckpointMetadata metadata, String directoryName) {
        List<String> out = new ArrayList<>();
        Matcher m = CHECKPOINT_DIR.matcher(directoryName);
        if (m.matches() && !m.group(1).equals(Long.toString(metadata.getCheckpointId()))) {
            out.add("the directory " + directoryName + " holds checkpoint id " + metadata.getCheckpointId() + " in its _metadata");
        }
        for (OperatorState op : metadata.getOperatorStates()) {
            checkOperator(op, out);
        }
        return out;
    }

    private static void checkOperator(OperatorState op, List<String> out) {
        String id = op.getOperatorID().toHexString().toLowerCase(Locale.ROOT);
        if (OperatorStates.uid(op).isPresent()) {
            OperatorID expected = OperatorIds.fromUid(OperatorStates.uid(op).get());
            if (!expected.equals(op.getOperatorID())) {
                out.add("operator " + id + " has uid '" + OperatorStates.uid(op).get() + "', from which Flink derives id "
                        + expected.toHexString().toLowerCase(Locale.ROOT));
            }
        }
        int p = op.getParallelism();
        int maxP = op.getMaxParallelism();
        if (p < 1 || maxP < p || maxP > KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM) {
            out.add("operator " + id + " has parallelism " + p + " and max parallelism " + maxP
                    + ", which Flink never writes (1 <= parallelism <= max parallelism <= "
                    + KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM + ")");
            return;
        }
        for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
            int subtask = e.getKey();
            OperatorSubtaskState s = e.getValue();
            KeyGroupRange expected = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxP, p, subtask);
            String where = "operator " + id + " subtask " + subtask;
            for (KeyedStateHandle h : s.getManagedKeyedState()) {
                checkKeyed(h, expected, where + " keyed state", out);
            }
            for (KeyedStateHandle h : s.getRawKeyedState()) {
                checkKeyed(h, expected, where + " raw keyed state", out);
            }
            for (OperatorStateHandle h : s.getManagedOperatorState()) {
                checkOperatorStateOffsets(h, where + " operator state", out);
            }
            for (OperatorStateHandle h : s.getRawOperatorState()) {
                checkOperatorStateOffsets(h, where + " raw operator state", out);
            }
            try {
                OperatorStates.unmergedInputHandles(s).forEach(h -> checkChannel(h, where, out));
                OperatorStates.unmergedOutputHandles(s).forEach(h -> checkChannel(h, where, out));
            } catch (RuntimeException bad) {
                out.add(where + ": its merged channel state offsets cannot be read: " + bad.getMessage());
            }
        }
    }

    private static void checkKeyed(KeyedStateHandle h, KeyGroupRange expected, String where, List<String> out) {
        if (h == null) {
            return;
        }
        if (!h.getKeyGroupRange().equals(expected)) {
            out.add(where + " covers key groups " + range(h.getKeyGroupRange()) + ", Flink assigns it " + range(expected)
                    + " for the recorded parallelism and max parallelism");
        }
        if (h instanceof ChangelogStateBackendHandle changelog) {
            for (KeyedStateHandle materialized : changelog.getMaterializedStateHandles()) {
                checkKeyed(materialized, expected, where + " (materialized part)", out);
            }
        } else if (h instanceof KeyGroupsStateHandle kg) {
            long size = sizeOf(kg.getDelegateStateHandle());
            for (int group : kg.getKeyGroupRange()) {
                long offset = kg.getOffsetForKeyGroup(group);
                if (offset < 0 || size >= 0 && offset >= size) {
                    out.add(where + ": key group " + group + " starts at byte " + offset + " of a " + size + "-byte state file");
                    break;
                }
            }
        } else if (h instanceof IncrementalRemoteKeyedStateHandle inc) {
            checkRocksDbFiles(inc, where, out);
        }
    }

    private static void checkRocksDbFiles(IncrementalRemoteKeyedStateHandle inc, String where, List<String> out) {
        Set<String> names = new HashSet<>();
        int current = 0;
        int manifests = 0;
        List<HandleAndLocalPath> all = new ArrayList<>(inc.getSharedState());
        all.addAll(inc.getPrivateState());
        for (HandleAndLocalPath f : all) {
            String name = f.getLocalPath();
            if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")) {
                out.add(where + ": RocksDB file name '" + name + "' is not a plain file name");
            } else if (!names.add(name)) {
                out.add(where + ": RocksDB file name " + name + " appears twice");
            }
            if (name.equals("CURRENT")) {
                current++;
            } else if (name.startsWith("MANIFEST-")) {
                manifests++;
            }
        }
        for (HandleAndLocalPath f : inc.getSharedState()) {
            if (!f.getLocalPath().endsWith(".sst")) {
                out.add(where + ": shared RocksDB file " + f.getLocalPath() + " is not an SST file (Flink shares only *.sst)");
            }
        }
        if (current != 1 || manifests == 0) {
            out.add(where + ": the RocksDB snapshot has " + current + " CURRENT and " + manifests
                    + " MANIFEST files; RocksDB needs one CURRENT naming a MANIFEST to open it");
        }
    }

    private static void checkOperatorStateOffsets(OperatorStateHandle h, String where, List<String> out) {
        long size = sizeOf(h.getDelegateStateHandle());
        for (Map.Entry<String, OperatorStateHandle.StateMetaInfo> e : h.getStateNameToPartitionOffsets().entrySet()) {
            for (long offset : e.getValue().getOffsets()) {
                if (offset < 0 || size >= 0 && offset >= size) {
                    out.add(where + ": state '" + e.getKey() + "' has an element at byte " + offset + " of a " + size
                            + "-byte state file");
                    return;
                }
            }
        }
    }

    private static void checkChannel(AbstractChannelStateHandle<?> h, String where, List<String> out) {
        long size = sizeOf(h.getDelegate());
        if (size >= 0 && h.getStateSize() > size) {
            out.add(where + " channel state " + h.getInfo() + " holds " + h.getStateSize() + " bytes of a " + size + "-byte file");
            return;
        }
        for (long offset : h.getOffsets()) {
            if (offset < 0 || size >= 0 && offset >= size) {
                out.add(where + " channel state " + h.getInfo() + " has a buffer at byte " + offset + " of a " + size + "-byte file");
                return;
            }
        }
    }

    /** The size of the bytes a handle opens, or -1 when unknown. */
    private static long sizeOf(StreamStateHandle h) {
        return h == null ? -1 : h.getStateSize();
    }

    private static String range(KeyGroupRange r) {
        return r.getNumberOfKeyGroups() == 0 ? "none" : r.getStartKeyGroup() + "-" + r.getEndKeyGroup();
    }
}
