package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.ReferencedFile;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.AbstractChannelStateHandle;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.StateObject;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;
import org.apache.flink.runtime.state.changelog.inmemory.InMemoryChangelogStateHandle;
import org.apache.flink.runtime.state.filemerging.DirectoryStreamStateHandle;
import org.apache.flink.runtime.state.filemerging.EmptySegmentFileStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every file a checkpoint needs, read from its metadata: keyed state (full and incremental:
 * shared, private and meta handles), operator state, raw state, the channel state of unaligned
 * checkpoints, and file-merging segments (each physical file once, with the size it must have at
 * least). Inline handles (coordinator and master state, small state) need no file and are only
 * counted.
 */
public final class CheckpointReferences {

    /**
     * By the path as written: Flink's {@code Path} equality ignores the scheme's case, its file
     * system lookup does not, so {@code File:/x} beside {@code file:/x} is a file of its own (one
     * that no file system serves).
     */
    private final Map<String, Builder> files = new LinkedHashMap<>();
    private final List<String> unsupportedHandles = new ArrayList<>();
    private final List<Segment> segments = new ArrayList<>();
    /** The changelog storage's files, by the path as written, with the sizes recorded for them. */
    private final Map<String, ChangelogFile> changelogFiles = new LinkedHashMap<>();
    private int inlineHandles;
    /** Per changelog backend handle, the files of its last materialization (see {@link #materializations}). */
    private final List<List<Path>> materializations = new ArrayList<>();
    /** The files of the materialization being visited, or null outside one. */
    private List<Path> materializationFiles;

    /**
     * A file of the changelog state backend's changes, with the sizes {@code _metadata} records
     * for it: the bytes after its compression flag, counted before compression (Flink records one).
     */
    public record ChangelogFile(Path path, Set<Long> recordedSizes) {}

    private CheckpointReferences() {}

    public static CheckpointReferences of(CheckpointMetadata metadata) {
        CheckpointReferences refs = new CheckpointReferences();
        for (OperatorState op : metadata.getOperatorStates()) {
            String id = op.getOperatorID().toHexString();
            if (op.getCoordinatorState() != null) {
                refs.visitStream(op.getCoordinatorState(), "coordinator", id);
            }
            for (OperatorSubtaskState s : op.getStates()) {
                s.getManagedKeyedState().forEach(h -> refs.visitKeyed(h, "keyed", id));
                s.getRawKeyedState().forEach(h -> refs.visitKeyed(h, "raw-keyed", id));
                s.getManagedOperatorState().forEach(h -> refs.visitAny(h, "operator", id));
                s.getRawOperatorState().forEach(h -> refs.visitAny(h, "raw-operator", id));
                OperatorStates.channelHandles(s).forEach(h -> refs.visitAny(h, "channel", id));
            }
        }
        refs.inlineHandles += metadata.getMasterStates().size();
        return refs;
    }

    /** The files, each once, in the order first seen. */
    public List<ReferencedFile> files() {
        List<ReferencedFile> out = new ArrayList<>(files.size());
        files.values().forEach(b -> out.add(b.build()));
        return out;
    }

    /** The changelog storage's files, each once, in the order first seen. */
    public List<ChangelogFile> changelogFiles() {
        List<ChangelogFile> out = new ArrayList<>(changelogFiles.size());
        changelogFiles.values().forEach(f -> out.add(new ChangelogFile(f.path(),
                Collections.unmodifiableSet(new java.util.TreeSet<>(f.recordedSizes())))));
        return out;
    }

    /**
     * For each handle of the changelog state backend (one per subtask and state backend), the
     * files of the last materialization it holds: new ones and those it took over from earlier
     * materializations; empty when all of it is inline. Empty when the checkpoint holds no
     * changelog state.
     */
    public List<List<Path>> materializations() {
        List<List<Path>> out = new ArrayList<>(materializations.size());
        materializations.forEach(m -> out.add(List.copyOf(m)));
        return out;
    }

    /** Handles whose data live inside the metadata (no file to check). */
    public int inlineHandles() {
        return inlineHandles;
    }

    /** A segment of a file-merging physical file, with where the checkpoint records it. */
    private record Segment(SegmentFileStateHandle handle, String kind, String op) {
        long end() {
            return handle.getStartPos() + handle.getStateSize();
        }

        boolean sameAs(Segment o) {
            return handle.getStartPos() == o.handle.getStartPos() && handle.getStateSize() == o.handle.getStateSize()
                    && java.util.Objects.equals(handle.getLogicalFileId(), o.handle.getLogicalFileId());
        }

        String describe() {
            return "the segment of logical file " + handle.getLogicalFileId() + " (" + kind + " state of operator " + op
                    + ") at bytes " + handle.getStartPos() + "-" + (end() - 1);
        }
    }

    /**
     * What the file-merging segments of this checkpoint contradict, each as one sentence. Flink
     * writes a segment at a non-negative position with a non-negative size (its restore refuses
     * others: {@code FsSegmentDataInputStream}), and appends each logical file's segment after
     * those before it in the physical file, so two logical files never share a byte; a logical
     * file referenced twice (shared state, several subtasks restored from one) is the same
     * segment each time. A segment moved onto another's would hand one subtask's state to another.
     */
    public List<String> segmentContradictions() {
        List<String> out = new ArrayList<>();
        Map<String, List<Segment>> byFile = new LinkedHashMap<>();
        for (Segment seg : segments) {
            SegmentFileStateHandle h = seg.handle();
            if (h.getStartPos() < 0 || h.getStateSize() < 0 || seg.end() < 0) {
                out.add("a segment of " + h.getFilePath() + " (" + seg.kind() + " state of operator " + seg.op()
                        + ") starts at byte " + h.getStartPos() + " and holds " + h.getStateSize()
                        + " bytes, which Flink never writes");
            } else if (h.getStateSize() > 0) {
                byFile.computeIfAbsent(h.getFilePath().toString(), k -> new ArrayList<>()).add(seg);
            }
        }
        for (Map.Entry<String, List<Segment>> e : byFile.entrySet()) {
            List<Segment> inFile = new ArrayList<>(e.getValue());
            inFile.sort(java.util.Comparator.comparingLong((Segment x) -> x.handle().getStartPos())
                    .thenComparingLong(x -> x.handle().getStateSize()));
            Segment reaching = null; // the segment reaching furthest so far
            for (Segment seg : inFile) {
                if (reaching != null && seg.handle().getStartPos() < reaching.end() && !seg.sameAs(reaching)) {
                    out.add(seg.describe() + " overlaps " + reaching.describe() + " in " + e.getKey()
                            + " (Flink writes each logical file's segment after the others)");
                    break;
                }
                if (reaching == null || seg.end() > reaching.end()) {
                    reaching = seg;
                }
            }
        }
        return out;
    }

    /** Handle types this version does not know how to map to files: nothing about them is proven. */
    public List<String> unsupportedHandles() {
        return Collections.unmodifiableList(unsupportedHandles);
    }

    private void visitKeyed(KeyedStateHandle h, String kind, String op) {
        if (h instanceof IncrementalRemoteKeyedStateHandle inc) {
            for (HandleAndLocalPath p : inc.getSharedState()) {
                visitStream(p.getHandle(), kind + "-shared", op);
            }
            for (HandleAndLocalPath p : inc.getPrivateState()) {
                visitStream(p.getHandle(), kind + "-private", op);
            }
            visitStream(inc.getMetaDataStateHandle(), kind + "-meta", op);
        } else if (h instanceof ChangelogStateBackendHandle changelog) {
            // the changelog backend: its last materialization (RocksDB's or the heap's own handles)
            // and the changes logged since, in files of the changelog storage
            List<Path> materialization = new ArrayList<>();
            materializationFiles = materialization;
            try {
                for (KeyedStateHandle materialized : changelog.getMaterializedStateHandles()) {
                    visitKeyed(materialized, kind + "-materialized", op);
                }
            } finally {
                materializationFiles = null;
            }
            materializations.add(materialization);
            for (ChangelogStateHandle changes : changelog.getNonMaterializedStateHandles()) {
                visitChangelog(changes, kind + "-changelog", op);
            }
        } else {
            visitAny(h, kind, op);
        }
    }

    private void visitChangelog(ChangelogStateHandle h, String kind, String op) {
        if (h instanceof ChangelogStateHandleStreamImpl stream) {
            stream.getHandlesAndOffsets().forEach(handleAndOffset -> {
                if (handleAndOffset.f0 instanceof FileStateHandle file) {
                    // Flink records the bytes written after the file's one-byte compression flag,
                    // counted before any compression (OutputStreamWithPos): the file holds one
                    // byte more, or fewer when compressed. So at least the flag, no exact size.
                    add(file.getFilePath(), 1, false, kind, op);
                    changelogFiles.computeIfAbsent(file.getFilePath().toString(),
                            k -> new ChangelogFile(file.getFilePath(), new java.util.TreeSet<>()))
                            .recordedSizes().add(file.getStateSize());
                } else {
                    visitStream(handleAndOffset.f0, kind, op);
                }
            });
        } else if (h instanceof InMemoryChangelogStateHandle) {
            inlineHandles++;
        } else if (h != null) {
            unsupportedHandles.add(h.getClass().getName() + " (" + kind + ", operator " + op + ")");
        }
    }

    private void visitAny(StateObject h, String kind, String op) {
        if (h == null) {
            return;
        }
        if (h instanceof KeyGroupsStateHandle kg) {
            visitStream(kg.getDelegateStateHandle(), kind, op);
        } else if (h instanceof OperatorStreamStateHandle os) {
            visitStream(os.getDelegateStateHandle(), kind, op);
        } else if (h instanceof AbstractChannelStateHandle<?> ch) {
            visitStream(ch.getDelegate(), kind, op);
        } else if (OperatorStates.mergedChannelDelegate(h) != null) {
            visitStream(OperatorStates.mergedChannelDelegate(h), kind, op);
        } else if (h instanceof KeyedStateHandle keyed
                && (h instanceof IncrementalRemoteKeyedStateHandle || h instanceof ChangelogStateBackendHandle)) {
            visitKeyed(keyed, kind, op);
        } else if (h instanceof StreamStateHandle s) {
            visitStream(s, kind, op);
        } else {
            unsupportedHandles.add(h.getClass().getName() + " (" + kind + ", operator " + op + ")");
        }
    }

    private void visitStream(StreamStateHandle h, String kind, String op) {
        if (h == null || h instanceof EmptySegmentFileStateHandle) {
            return;
        }
        if (h instanceof ByteStreamStateHandle) {
            inlineHandles++;
        } else if (h instanceof SegmentFileStateHandle seg) {
            segments.add(new Segment(seg, kind, op));
            long end = seg.getStartPos() + seg.getStateSize();
            // a negative or overflowing range is a contradiction of its own (segmentContradictions)
            add(seg.getFilePath(), seg.getStartPos() >= 0 && seg.getStateSize() >= 0 && end >= 0 ? end : 0, false, kind, op);
        } else if (h instanceof FileStateHandle file) {
            add(file.getFilePath(), file.getStateSize(), true, kind, op);
        } else if (h instanceof DirectoryStreamStateHandle) {
            // a directory of file merging: its files are referenced by their own segment handles
        } else if (h instanceof KeyGroupsStateHandle || h instanceof OperatorStreamStateHandle) {
            visitAny(h, kind, op);
        } else {
            unsupportedHandles.add(h.getClass().getName() + " (" + kind + ", operator " + op + ")");
        }
    }

    private void add(Path path, long size, boolean exact, String kind, String op) {
        if (materializationFiles != null) {
            materializationFiles.add(path);
        }
        files.computeIfAbsent(path.toString(), k -> new Builder(path)).add(size, exact, kind, op);
    }

    private static final class Builder {
        final Path path;
        long minSize;
        boolean exact = true;
        final Collection<String> kinds = new LinkedHashSet<>();
        final Collection<String> operators = new LinkedHashSet<>();

        Builder(Path path) {
            this.path = path;
        }

        void add(long size, boolean exactSize, String kind, String op) {
            minSize = Math.max(minSize, size);
            exact &= exactSize;
            kinds.add(kind);
            operators.add(op);
        }

        ReferencedFile build() {
            return new ReferencedFile(path, minSize, exact, new LinkedHashSet<>(kinds), new LinkedHashSet<>(operators));
        }
    }
}
