package io.github.s3tiered.inspector.metadata;

import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.checkpoint.CheckpointProperties;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.SavepointType;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.channel.InputChannelInfo;
import org.apache.flink.runtime.checkpoint.channel.ResultSubpartitionInfo;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;
import org.apache.flink.runtime.state.filemerging.EmptyFileMergingOperatorStreamStateHandle;
import org.apache.flink.runtime.state.filemerging.EmptySegmentFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import java.util.ArrayList;
import java.util.HashMap;
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
 *   <li>the files of a RocksDB incremental snapshot: plain, distinct names, one CURRENT, a MANIFEST;
 *   <li>an operator state's distribution mode in every subtask (the job registers each state once);
 *   <li>a file-merging handle marked empty and what it holds (Flink's restore skips it unread);
 *   <li>file-merging segments: a position and size that can be read, and no byte of a physical
 *       file in two logical files' segments;
 *   <li>the channels of an unaligned checkpoint's in-flight data: indices that can exist (a gate or
 *       partition below 32768, a channel or subpartition below the job's largest max parallelism),
 *       each channel once per subtask, and a merged handle's size and its channels' sizes;
 *   <li>a source coordinator's state and the frame Flink's {@code SourceCoordinator} writes (its
 *       serde version, the enumerator checkpoint's length);
 *   <li>a canonical savepoint and the handle type of its keyed state;
 *   <li>the checkpoint's id and the ids of the RocksDB incremental snapshots it holds, none of
 *       which is newer than the checkpoint.
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
        // Checkpoint ids start at 1; id 0 is the State Processor API's, whose savepoints may drop
        // operators and carry an existing snapshot's handles unchanged: the two checks that rely on
        // the checkpoint coordinator having written the file apply only to the coordinator's.
        boolean fromCoordinator = metadata.getCheckpointId() > 0;
        int channels = fromCoordinator ? channelBound(metadata) : KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM;
        java.util.Set<org.apache.flink.runtime.jobgraph.OperatorID> ids = new java.util.HashSet<>();
        for (OperatorState op : metadata.getOperatorStates()) {
            if (!ids.add(op.getOperatorID())) {
                // Flink never writes one twice; its restore keeps the last and drops the other's state
                out.add("operator " + op.getOperatorID().toHexString().toLowerCase(Locale.ROOT) + " is recorded twice");
            }
            checkOperator(op, channels, out);
            if (fromCoordinator) {
                checkSnapshotIds(op, metadata.getCheckpointId(), out);
            }
        }
        checkSavepointFormat(metadata, out);
        checkChannelBuffersDistinct(metadata, out);
        out.addAll(CheckpointReferences.of(metadata).segmentContradictions());
        return out;
    }

    /**
     * A canonical savepoint's keyed state is in the canonical format, which Flink's backends
     * recognise by its handle type ({@code KeyGroupsSavepointStateHandle}) alone; any other
     * snapshot never has that type. A heap backend given a canonical file under another handle
     * type reads it as its own format and fails ("Unexpected key-group in restore").
     */
    private static void checkSavepointFormat(CheckpointMetadata metadata, List<String> out) {
        CheckpointProperties properties = metadata.getCheckpointProperties();
        if (properties == null) {
            return; // not recorded by the oldest formats
        }
        boolean canonical = properties.getCheckpointType() instanceof SavepointType savepoint
                && savepoint.getFormatType() == SavepointFormatType.CANONICAL;
        for (OperatorState op : metadata.getOperatorStates()) {
            for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
                for (KeyedStateHandle h : e.getValue().getManagedKeyedState()) {
                    if (h != null && (h instanceof KeyGroupsSavepointStateHandle) != canonical) {
                        out.add("operator " + op.getOperatorID().toHexString().toLowerCase(Locale.ROOT) + " subtask "
                                + e.getKey() + " keyed state is a " + h.getClass().getSimpleName() + " in "
                                + (canonical ? "a canonical savepoint" : "a snapshot that is not a canonical savepoint")
                                + " (Flink's backends tell the canonical format by that handle type)");
                        return;
                    }
                }
            }
        }
    }

    /**
     * A RocksDB (or ForSt) incremental snapshot is taken by the checkpoint that records it, or by an
     * earlier one, never by a later one. Flink registers the restored snapshots' shared files under
     * those ids; a newer id makes the first checkpoint after the restore fail ("Attempt to reference
     * unknown state") while the job runs on. A changelog's materialized snapshots are not judged:
     * they carry materialization ids, a count of their own that may pass the checkpoints'.
     */
    private static void checkSnapshotIds(OperatorState op, long checkpointId, List<String> out) {
        for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
            List<KeyedStateHandle> keyed = new ArrayList<>(e.getValue().getManagedKeyedState());
            keyed.addAll(e.getValue().getRawKeyedState());
            for (KeyedStateHandle h : keyed) {
                if (h instanceof IncrementalRemoteKeyedStateHandle inc && inc.getCheckpointId() > checkpointId) {
                    out.add("operator " + op.getOperatorID().toHexString().toLowerCase(Locale.ROOT) + " subtask " + e.getKey()
                            + " holds an incremental snapshot of checkpoint " + inc.getCheckpointId() + ", newer than checkpoint "
                            + checkpointId + " that records it");
                    return;
                }
            }
        }
    }

    /**
     * A bound on every channel and subpartition index of this checkpoint's in-flight data. A task's
     * input channels in one gate are at most its upstream's parallelism, and a partition's
     * subpartitions at most its consumer's parallelism (or, where Flink sizes them by the consumer's
     * max parallelism, that); every operator of the job is in the metadata, stateless ones too, so
     * the largest max parallelism recorded bounds both. The operator on the other side of an edge is
     * not recorded, so no tighter bound holds for every edge.
     */
    private static int channelBound(CheckpointMetadata metadata) {
        int bound = 0;
        for (OperatorState op : metadata.getOperatorStates()) {
            bound = Math.max(bound, Math.max(op.getParallelism(), op.getMaxParallelism()));
        }
        return Math.min(bound, KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM);
    }

    private static void checkOperator(OperatorState op, int channels, List<String> out) {
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
        checkSourceCoordinator(op, id, out);
        Map<String, OperatorStateHandle.Mode> managedModes = new HashMap<>();
        Map<String, OperatorStateHandle.Mode> rawModes = new HashMap<>();
        for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
            int subtask = e.getKey();
            OperatorSubtaskState s = e.getValue();
            KeyGroupRange expected = KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex(maxP, p, subtask);
            String where = "operator " + id + " subtask " + subtask;
            for (KeyedStateHandle h : s.getManagedKeyedState()) {
                checkKeyed(h, expected, maxP, where + " keyed state", false, out);
            }
            for (KeyedStateHandle h : s.getRawKeyedState()) {
                checkKeyed(h, expected, maxP, where + " raw keyed state", true, out);
            }
            for (OperatorStateHandle h : s.getManagedOperatorState()) {
                checkOperatorState(h, managedModes, where + " operator state", out);
            }
            for (OperatorStateHandle h : s.getRawOperatorState()) {
                checkOperatorState(h, rawModes, where + " raw operator state", out);
            }
            try {
                List<AbstractChannelStateHandle<?>> inputs = OperatorStates.unmergedInputHandles(s);
                List<AbstractChannelStateHandle<?>> outputs = OperatorStates.unmergedOutputHandles(s);
                inputs.forEach(h -> checkChannel(h, subtask, channels, where, out));
                outputs.forEach(h -> checkChannel(h, subtask, channels, where, out));
                checkChannelsDistinct(inputs, where, out);
                checkChannelsDistinct(outputs, where, out);
                OperatorStates.mergedChannelContradictions(s).forEach(c -> out.add(where + " " + c));
            } catch (RuntimeException bad) {
                out.add(where + ": its merged channel state offsets cannot be read: " + bad.getMessage());
            }
        }
    }

    private static void checkKeyed(KeyedStateHandle h, KeyGroupRange expected, int maxP, String where, boolean raw,
            List<String> out) {
        if (h == null) {
            return;
        }
        if (!h.getKeyGroupRange().equals(expected)) {
            out.add(where + " covers key groups " + range(h.getKeyGroupRange()) + ", Flink assigns it " + range(expected)
                    + " for the recorded parallelism and max parallelism");
        }
        checkParts(h, maxP, where, raw, out);
    }

    /**
     * What is inside a keyed handle whose range was checked. The changelog backend writes its last
     * materialization's handles again in every checkpoint until the next materialization, as it
     * restored them: after a rescale, those of the old subtasks. RocksDB's keep their old ranges,
     * which must share key groups with the subtask's and stay within the operator's; heap and full
     * snapshots are narrowed to the new subtask's share ({@code KeyGroupsStateHandle#getIntersection}),
     * which must lie within the subtask's (Flink's restore fails on a key group beyond it). Raw
     * keyed state is written by the operator itself, one key group at a time: Flink records -1
     * ({@code NO_OFFSET_SET}) for a key group it did not write, and its restore skips those.
     */
    private static void checkParts(KeyedStateHandle h, int maxP, String where, boolean raw, List<String> out) {
        if (h instanceof ChangelogStateBackendHandle changelog) {
            KeyGroupRange own = changelog.getKeyGroupRange();
            for (KeyedStateHandle materialized : changelog.getMaterializedStateHandles()) {
                if (materialized == null) {
                    continue;
                }
                KeyGroupRange r = materialized.getKeyGroupRange();
                if (materialized instanceof KeyGroupsStateHandle) {
                    if (r.getNumberOfKeyGroups() == 0 || !r.getIntersection(own).equals(r)) {
                        out.add(where + " (materialized part) covers key groups " + range(r) + ", not within the subtask's "
                                + range(own));
                    }
                } else if (r.getNumberOfKeyGroups() == 0 || r.getIntersection(own).getNumberOfKeyGroups() == 0
                        || r.getStartKeyGroup() < 0 || r.getEndKeyGroup() >= maxP) {
                    out.add(where + " (materialized part) covers key groups " + range(r) + ", none of the subtask's "
                            + range(own) + " or beyond the operator's 0-" + (maxP - 1));
                }
                checkParts(materialized, maxP, where + " (materialized part)", false, out);
            }
            for (org.apache.flink.runtime.state.changelog.ChangelogStateHandle delta : changelog.getNonMaterializedStateHandles()) {
                if (delta == null) {
                    continue;
                }
                String unknown = unknownChangelogStorage(delta.getStorageIdentifier());
                if (unknown != null) {
                    out.add(where + " (changelog): " + unknown);
                }
                if (delta instanceof org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl stream) {
                    checkChangelogOffsets(stream, where, out);
                }
            }
        } else if (h instanceof KeyGroupsStateHandle kg) {
            long size = sizeOf(kg.getDelegateStateHandle());
            for (int group : kg.getKeyGroupRange()) {
                long offset = kg.getOffsetForKeyGroup(group);
                if (raw && offset == -1) {
                    continue; // not written by the operator (KeyedStateCheckpointOutputStream.NO_OFFSET_SET)
                }
                // an operator may start a raw key group and write nothing into it, the last one too
                if (offset < 0 || size >= 0 && (raw ? offset > size : offset >= size)) {
                    out.add(where + ": key group " + group + " starts at byte " + offset + " of a " + size + "-byte state file");
                    break;
                }
            }
        } else if (h instanceof IncrementalRemoteKeyedStateHandle inc) {
            checkRocksDbFiles(inc, where, out);
        }
    }

    /**
     * The names of changelog storages Flink can restore from here: its own two ({@code filesystem}
     * of flink-dstl-dfs, {@code memory}) and any other factory on the class path, lower-cased as
     * Flink's loader registers them. A factory in a Flink plugin is not on it.
     */
    private static final Set<String> CHANGELOG_STORAGES = changelogStorages();

    private static Set<String> changelogStorages() {
        Set<String> names = new HashSet<>(Set.of("filesystem", "memory"));
        java.util.Iterator<org.apache.flink.runtime.state.changelog.StateChangelogStorageFactory> factories =
                java.util.ServiceLoader.load(org.apache.flink.runtime.state.changelog.StateChangelogStorageFactory.class,
                        MetadataConsistency.class.getClassLoader()).iterator();
        while (true) {
            try {
                if (!factories.hasNext()) {
                    break;
                }
                names.add(factories.next().getIdentifier().toLowerCase(java.util.Locale.ROOT));
            } catch (java.util.ServiceConfigurationError | RuntimeException e) {
                // a factory that cannot load adds no name; the others still do
            }
        }
        return Set.copyOf(names);
    }

    /**
     * Why a changelog storage's name cannot be one Flink restores from, or null. Flink's restore
     * looks the name up exactly as written among lower-case names ({@code StateChangelogStorageLoader}),
     * on each TaskManager for the first handle of the job it restores. A name no factory can match
     * (empty, or not lower-case) is damage, and so is one a single character from one of Flink's
     * (a storage of a plugin so named is not plausible); any other unknown name may be a plugin's,
     * which the inspector cannot see, and is not judged.
     */
    static String unknownChangelogStorage(String name) {
        if (name != null && CHANGELOG_STORAGES.contains(name)) {
            return null;
        }
        String which = "changes kept by changelog storage '" + name + "', ";
        if (name == null || name.isEmpty() || !name.equals(name.toLowerCase(java.util.Locale.ROOT))) {
            return which + "a name no changelog storage factory can have (Flink registers them lower-cased and looks the"
                    + " name up as written)";
        }
        for (String known : CHANGELOG_STORAGES) {
            if (known.length() == name.length()) {
                int differing = 0;
                for (int i = 0; i < known.length(); i++) {
                    if (known.charAt(i) != name.charAt(i)) {
                        differing++;
                    }
                }
                if (differing == 1) {
                    return which + "one character from Flink's '" + known + "', which has no factory of its own: a"
                            + " damaged name, with which Flink's restore fails";
                }
            }
        }
        return null;
    }

    /**
     * Each change set starts inside its changelog file (where several tasks' changes may share one).
     * Offsets and the recorded size count the same bytes: those after the file's compression flag,
     * before compression.
     */
    private static void checkChangelogOffsets(org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl stream,
            String where, List<String> out) {
        for (org.apache.flink.api.java.tuple.Tuple2<StreamStateHandle, Long> part : stream.getHandlesAndOffsets()) {
            long size = sizeOf(part.f0);
            if (part.f1 < 0 || size >= 0 && part.f1 >= size) { // each change set has bytes: none starts at the end
                out.add(where + " (changelog): changes start at byte " + part.f1 + " of a " + size + "-byte changelog file");
                return;
            }
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

    /**
     * A file-merging handle read as empty is skipped by Flink's restore, so one that holds state
     * would lose it; Flink writes an empty one only with no state and no segment. A state's mode
     * decides how it is redistributed: one subtask's differing mode would make Flink broadcast or
     * drop elements (SPLIT_DISTRIBUTE read as UNION hands one subtask's splits to every subtask).
     */
    private static void checkOperatorState(OperatorStateHandle h, Map<String, OperatorStateHandle.Mode> modes,
            String where, List<String> out) {
        if (h instanceof EmptyFileMergingOperatorStreamStateHandle
                && (!h.getStateNameToPartitionOffsets().isEmpty()
                        || !(h.getDelegateStateHandle() instanceof EmptySegmentFileStateHandle))) {
            out.add(where + " is marked empty (Flink's restore skips it) but records "
                    + h.getStateNameToPartitionOffsets().keySet() + " in " + h.getDelegateStateHandle());
        } else if (!(h instanceof EmptyFileMergingOperatorStreamStateHandle)
                && h.getDelegateStateHandle() instanceof EmptySegmentFileStateHandle) {
            out.add(where + " is not marked empty but has no segment to read (Flink's restore fails: it cannot open"
                    + " an empty segment)");
        }
        for (Map.Entry<String, OperatorStateHandle.StateMetaInfo> e : h.getStateNameToPartitionOffsets().entrySet()) {
            OperatorStateHandle.Mode mode = e.getValue().getDistributionMode();
            OperatorStateHandle.Mode other = modes.putIfAbsent(e.getKey(), mode);
            if (other != null && other != mode) {
                out.add(where + ": state '" + e.getKey() + "' is " + mode + " here and " + other
                        + " in another subtask of the operator (Flink registers a state with one mode)");
            }
        }
        checkOperatorStateOffsets(h, where, out);
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

    /**
     * Flink writes a channel's in-flight data of one subtask in one place; its restore refuses a
     * channel listed twice ("Duplicate channel info"), whose buffers could otherwise be reordered.
     */
    private static void checkChannelsDistinct(List<AbstractChannelStateHandle<?>> handles, String where, List<String> out) {
        Set<List<Object>> seen = new HashSet<>();
        for (AbstractChannelStateHandle<?> h : handles) {
            if (!seen.add(List.of(h.getInfo(), h.getSubtaskIndex()))) {
                out.add(where + " channel state " + h.getInfo() + " is recorded twice (Flink's restore refuses a channel"
                        + " listed twice)");
                return;
            }
        }
    }

    /**
     * Flink writes each buffer of in-flight data once, for one channel of one subtask, and several
     * subtasks' channels share a file ({@code max-subtasks-per-channel-state-file}); its restore
     * reads, for each channel, the buffers at that channel's offsets. An offset that two channels
     * (or one channel twice) claim in the same file is one buffer given to both, and another's
     * never read: records duplicated and lost without any error. Each offset is checked against
     * its own file's size elsewhere; only this sees them all together.
     */
    private static void checkChannelBuffersDistinct(CheckpointMetadata metadata, List<String> out) {
        Map<String, Map<Long, String>> ownerByOffsetByFile = new HashMap<>();
        for (OperatorState op : metadata.getOperatorStates()) {
            String id = op.getOperatorID().toHexString().toLowerCase(Locale.ROOT);
            for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
                List<AbstractChannelStateHandle<?>> handles = new ArrayList<>();
                try {
                    handles.addAll(OperatorStates.unmergedInputHandles(e.getValue()));
                    handles.addAll(OperatorStates.unmergedOutputHandles(e.getValue()));
                } catch (RuntimeException unreadable) {
                    continue; // reported by the subtask's own check
                }
                for (AbstractChannelStateHandle<?> h : handles) {
                    String file = bufferFile(h.getDelegate());
                    if (file == null) {
                        continue;
                    }
                    String owner = "channel " + h.getInfo() + " of operator " + id + " subtask " + e.getKey();
                    Map<Long, String> owners = ownerByOffsetByFile.computeIfAbsent(file, k -> new HashMap<>());
                    for (long offset : h.getOffsets()) {
                        String earlier = owners.putIfAbsent(offset, owner);
                        if (earlier != null) {
                            out.add("the in-flight buffer at byte " + offset + " of " + file + " is claimed by " + earlier
                                    + (earlier.equals(owner) ? " twice" : " and by " + owner) + " (Flink writes each"
                                    + " buffer once, for one channel)");
                            return;
                        }
                    }
                }
            }
        }
    }

    /** What a channel handle's offsets are positions in; null for a handle type not known here. */
    private static String bufferFile(StreamStateHandle delegate) {
        if (delegate instanceof org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle seg) {
            return seg.getFilePath() + " (segment at byte " + seg.getStartPos() + ")"; // offsets count from the segment
        }
        if (delegate instanceof org.apache.flink.runtime.state.filesystem.FileStateHandle f) {
            return f.getFilePath().toString();
        }
        if (delegate instanceof ByteStreamStateHandle b) {
            return "inline state " + b.getHandleName();
        }
        return null;
    }

    /**
     * Flink's channel state writer ({@code ChannelStateSerializerImpl}) starts each file, or each
     * file-merging segment, with a 4-byte version, and writes every buffer as its 4-byte length and
     * its bytes, recording the buffer's offset and, in the handle's size, both; each handle is
     * built with the writing subtask's index ({@code ChannelStatePendingResult}), under which the
     * checkpoint stores it. Its restore seeks to each offset and reads a length there: at the
     * header it reads the version (0) as an empty buffer and restores none of that channel's
     * records, without an error; and after a rescale it routes the buffers by the handle's index.
     */
    private static void checkChannel(AbstractChannelStateHandle<?> h, int subtask, int channels, String where,
            List<String> out) {
        if (h.getSubtaskIndex() != subtask) {
            out.add(where + " channel state " + h.getInfo() + " records subtask " + h.getSubtaskIndex() + " (Flink records"
                    + " the subtask that wrote it; a rescaled restore would route its buffers as that subtask's)");
            return;
        }
        int[] indices = h.getInfo() instanceof InputChannelInfo in
                ? new int[] {in.getGateIdx(), in.getInputChannelIdx()}
                : h.getInfo() instanceof ResultSubpartitionInfo sub
                        ? new int[] {sub.getPartitionIdx(), sub.getSubPartitionIdx()} : new int[0];
        // a gate's or partition's index is below the number of the task's inputs or outputs, which
        // the metadata does not record; below Flink's bound on parallelism holds for any job
        if (indices.length == 2 && (indices[0] < 0 || indices[0] >= KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM
                || indices[1] < 0 || indices[1] >= KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM)) {
            out.add(where + " channel state " + h.getInfo() + " names a channel no Flink job has (indices are"
                    + " below " + KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM + ")");
            return;
        }
        if (indices.length == 2 && indices[1] >= channels) {
            out.add(where + " channel state " + h.getInfo() + " names channel " + indices[1] + ", beyond this job's"
                    + " channels (its largest parallelism or max parallelism is " + channels + ")");
            return;
        }
        long size = sizeOf(h.getDelegate());
        if (size >= 0 && h.getStateSize() > size) {
            out.add(where + " channel state " + h.getInfo() + " holds " + h.getStateSize() + " bytes of a " + size + "-byte file");
            return;
        }
        if (h.getStateSize() < (long) CHANNEL_LENGTH_BYTES * h.getOffsets().size()) {
            out.add(where + " channel state " + h.getInfo() + " records " + h.getStateSize() + " bytes for "
                    + h.getOffsets().size() + " buffers, each of which Flink writes with a " + CHANNEL_LENGTH_BYTES
                    + "-byte length");
            return;
        }
        for (long offset : h.getOffsets()) {
            if (offset < 0 || size >= 0 && offset >= size) {
                out.add(where + " channel state " + h.getInfo() + " has a buffer at byte " + offset + " of a " + size + "-byte file");
                return;
            }
            if (offset < CHANNEL_HEADER_BYTES || size >= 0 && offset + CHANNEL_LENGTH_BYTES > size) {
                out.add(where + " channel state " + h.getInfo() + " has a buffer at byte " + offset + " of a " + size
                        + "-byte file, where Flink writes none (its " + CHANNEL_HEADER_BYTES + "-byte header comes first,"
                        + " and each buffer starts with a " + CHANNEL_LENGTH_BYTES + "-byte length)");
                return;
            }
        }
    }

    /** {@code ChannelStateSerializerImpl}'s version header at the start of each file or segment. */
    private static final int CHANNEL_HEADER_BYTES = 4;
    /** The length each buffer starts with. */
    private static final int CHANNEL_LENGTH_BYTES = 4;

    /**
     * Flink's {@code SourceCoordinator} checkpoints its enumerator as a serde version (0 or 1), the
     * enumerator serializer's version and the length of the enumerator's bytes, then those bytes
     * (version 1: nothing after them). A state is taken as a source coordinator's when its length
     * field frames the rest exactly, or when the operator is named as Flink names sources
     * ("Source: ..."); other coordinators write their own formats and are not judged.
     */
    private static void checkSourceCoordinator(OperatorState op, String id, List<String> out) {
        ByteStreamStateHandle state = op.getCoordinatorState();
        if (state == null) {
            return;
        }
        byte[] b = state.getData();
        boolean framed = b.length >= 12 && intAt(b, 8) == b.length - 12;
        boolean namedSource = OperatorStates.name(op).map(n -> n.startsWith("Source: ")).orElse(false);
        if (!framed && !namedSource) {
            return;
        }
        String where = "operator " + id + "'s source coordinator state (" + b.length + " bytes)";
        if (b.length < 12) {
            out.add(where + " is shorter than the 12-byte header Flink's SourceCoordinator writes");
            return;
        }
        int version = intAt(b, 0);
        long length = intAt(b, 8);
        if (version != 0 && version != 1) {
            out.add(where + " has serde version " + version + "; Flink's SourceCoordinator reads 0 and 1");
        } else if (length < 0 || length > b.length - 12 || version == 1 && length != b.length - 12) {
            out.add(where + " records an enumerator checkpoint of " + length + " bytes where " + (b.length - 12)
                    + " follow the header");
        }
    }

    private static int intAt(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }

    /** The size of the bytes a handle opens, or -1 when unknown. */
    private static long sizeOf(StreamStateHandle h) {
        return h == null ? -1 : h.getStateSize();
    }

    private static String range(KeyGroupRange r) {
        return r.getNumberOfKeyGroups() == 0 ? "none" : r.getStartKeyGroup() + "-" + r.getEndKeyGroup();
    }
}
