package io.github.s3tiered.inspector.rehearsal;

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
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;
import org.apache.flink.runtime.state.filemerging.EmptyFileMergingOperatorStreamStateHandle;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What each task would do at restore, planned from {@code _metadata} as units that read a few
 * files each, so that a caller fetches, rehearses and releases one unit's files at a time:
 *
 * <ul>
 *   <li>a RocksDB incremental snapshot (one subtask): {@link RocksDbSnapshotCheck};
 *   <li>a whole keyed snapshot (hashmap backend, full RocksDB snapshot, canonical savepoint):
 *       {@link KeyedSnapshotCheck};
 *   <li>operator state: {@link OperatorStateCheck};
 *   <li>the in-flight data of unaligned checkpoints: {@link ChannelStateCheck};
 *   <li>the changelog state backend's changes since its last materialization: {@link ChangelogCheck}.
 * </ul>
 *
 * Raw keyed and raw operator state are written in each operator's own format: those files are
 * fetched (length, recorded checksum) but not decoded.
 */
public final class RestoreRehearsal {

    private RestoreRehearsal() {}

    /** Restore work that reads a set of files. */
    public abstract static class Unit {
        private final Set<Path> files = new LinkedHashSet<>();
        private final String description;

        Unit(String description) {
            this.description = description;
        }

        /** The files to fetch before {@link #run}. */
        public List<Path> files() {
            return List.copyOf(files);
        }

        public String description() {
            return description;
        }

        /** Rehearses; every outcome goes to {@code findings}, nothing is thrown. */
        public final void run(LocalFiles local, RehearsalContext ctx, Findings findings) {
            try {
                rehearse(local, ctx, findings);
            } catch (Throwable t) {
                RocksDbSnapshotCheck.rethrowFatal(t);
                StateDecodingException e = DecodingFailures.classify(description, t, ctx);
                if (e.damage()) {
                    findings.failed(blame(ctx), e.getMessage());
                } else {
                    // not decoded here (the job's classes are not on the class path): nothing proven either way
                    findings.couldNotCheck(shortOf(ctx), e.getMessage());
                }
            }
        }

        abstract void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception;

        /** The unit's files and {@code _metadata} (which holds its inline state, if any). */
        List<String> shortOf(RehearsalContext ctx) {
            List<String> all = new ArrayList<>();
            files.forEach(f -> all.add(f.toString()));
            all.add(ctx.metadataFile());
            return all;
        }

        /** The file a failure is reported against: the unit's only file, else its first. */
        String blame(RehearsalContext ctx) {
            return files.isEmpty() ? ctx.metadataFile() : files.iterator().next().toString();
        }

        void add(StreamStateHandle h) {
            LocalizedHandles.fileOf(h).ifPresent(files::add);
        }

        String fileOrMetadata(StreamStateHandle h, RehearsalContext ctx) {
            return LocalizedHandles.fileOf(h).map(Object::toString).orElse(ctx.metadataFile());
        }
    }

    /** Every unit of a checkpoint, in the order of its operators and subtasks. */
    public static List<Unit> plan(CheckpointMetadata metadata) {
        List<Unit> units = new ArrayList<>();
        Map<String, Set<Long>> changelogOffsets = ChangelogCheck.offsetsOf(metadata);
        for (OperatorState op : metadata.getOperatorStates()) {
            String id = op.getOperatorID().toHexString().toLowerCase(Locale.ROOT);
            for (Map.Entry<Integer, OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
                String where = "operator " + id + OperatorStates.uid(op).map(u -> " (uid " + u + ")").orElse("") + " subtask " + e.getKey();
                OperatorSubtaskState s = e.getValue();
                s.getManagedKeyedState().forEach(h -> planKeyed(h, op.getMaxParallelism(), where + " keyed state", true, units,
                        changelogOffsets));
                s.getRawKeyedState().forEach(h -> planKeyed(h, op.getMaxParallelism(), where + " raw keyed state", false, units,
                        changelogOffsets));
                s.getManagedOperatorState().forEach(h -> planOperator(h, where + " operator state", true, units));
                s.getRawOperatorState().forEach(h -> planOperator(h, where + " raw operator state", false, units));
                planChannels(s, where, units);
            }
        }
        return units;
    }

    private static void planKeyed(KeyedStateHandle h, int maxParallelism, String where, boolean managed, List<Unit> units,
            Map<String, Set<Long>> changelogOffsets) {
        if (h instanceof IncrementalRemoteKeyedStateHandle inc && managed) {
            units.add(rocksDb(inc, where));
        } else if (h instanceof KeyGroupsStateHandle kg && managed) {
            units.add(keyGroups(kg, maxParallelism, where, false));
        } else if (h instanceof ChangelogStateBackendHandle changelog) {
            for (KeyedStateHandle materialized : changelog.getMaterializedStateHandles()) {
                if (materialized instanceof KeyGroupsStateHandle kg && managed) {
                    // after a rescale, an old subtask's snapshot narrowed to this subtask's share
                    units.add(keyGroups(kg, maxParallelism, where + " (materialized)", true));
                } else {
                    planKeyed(materialized, maxParallelism, where + " (materialized)", managed, units, changelogOffsets);
                }
            }
            for (ChangelogStateHandle delta : changelog.getNonMaterializedStateHandles()) {
                if (delta instanceof ChangelogStateHandleStreamImpl stream) {
                    units.add(changes(stream, maxParallelism, where + " changelog", changelogOffsets));
                }
            }
        } else if (h instanceof KeyGroupsStateHandle kg) {
            units.add(rawKeyGroups(kg, where));
        } else if (h instanceof IncrementalRemoteKeyedStateHandle inc) {
            Unit u = fetchOnly(where);
            u.add(inc.getMetaDataStateHandle());
            inc.getSharedState().forEach(f -> u.add(f.getHandle()));
            inc.getPrivateState().forEach(f -> u.add(f.getHandle()));
            units.add(u);
        }
    }

    private static void planOperator(OperatorStateHandle h, String where, boolean managed, List<Unit> units) {
        if (h == null || h instanceof EmptyFileMergingOperatorStreamStateHandle) {
            return;
        }
        if (!managed) {
            Unit u = fetchOnly(where);
            u.add(h.getDelegateStateHandle());
            units.add(u);
            return;
        }
        Unit u = new Unit(where + " (" + LocalizedHandles.describe(h.getDelegateStateHandle()) + ")") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception {
                new OperatorStateCheck(ctx).check(LocalizedHandles.localize(h, local));
                findings.proved(h.getDelegateStateHandle(), Proof.DECODED, "operator state decoded at its offsets with Flink's serializers");
            }

            @Override
            String blame(RehearsalContext ctx) {
                return fileOrMetadata(h.getDelegateStateHandle(), ctx);
            }
        };
        u.add(h.getDelegateStateHandle());
        units.add(u);
    }

    private static void planChannels(OperatorSubtaskState s, String where, List<Unit> units) {
        List<AbstractChannelStateHandle<?>> handles = new ArrayList<>();
        handles.addAll(OperatorStates.unmergedInputHandles(s));
        handles.addAll(OperatorStates.unmergedOutputHandles(s));
        // one unit per physical file: channel state of many channels shares one file
        Map<String, List<AbstractChannelStateHandle<?>>> byFile = new LinkedHashMap<>();
        for (AbstractChannelStateHandle<?> h : handles) {
            byFile.computeIfAbsent(LocalizedHandles.describe(h.getDelegate()), k -> new ArrayList<>()).add(h);
        }
        for (List<AbstractChannelStateHandle<?>> group : byFile.values()) {
            StreamStateHandle delegate = group.get(0).getDelegate();
            Unit u = new Unit(where + " channel state (" + LocalizedHandles.describe(delegate) + ")") {
                @Override
                void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception {
                    ChannelStateCheck check = new ChannelStateCheck();
                    for (AbstractChannelStateHandle<?> h : group) {
                        check.check(h, LocalizedHandles.localize(h.getDelegate(), local));
                    }
                    for (AbstractChannelStateHandle<?> h : group) {
                        findings.proved(h.getDelegate(), Proof.DECODED, "in-flight buffers read at their offsets (records not decoded)");
                    }
                }

                @Override
                String blame(RehearsalContext ctx) {
                    return fileOrMetadata(delegate, ctx);
                }
            };
            u.add(delegate);
            units.add(u);
        }
    }

    private static Unit rocksDb(IncrementalRemoteKeyedStateHandle h, String where) {
        Unit u = new Unit(where + " (RocksDB incremental snapshot)") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception {
                new RocksDbSnapshotCheck(ctx).check(h, local, findings, where);
            }
        };
        u.add(h.getMetaDataStateHandle());
        for (HandleAndLocalPath f : h.getSharedState()) {
            u.add(f.getHandle());
        }
        for (HandleAndLocalPath f : h.getPrivateState()) {
            u.add(f.getHandle());
        }
        return u;
    }

    private static Unit changes(ChangelogStateHandleStreamImpl h, int maxParallelism, String where,
            Map<String, Set<Long>> changelogOffsets) {
        Unit u = new Unit(where + " (changes since the last materialization)") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) {
                new ChangelogCheck(maxParallelism, changelogOffsets).check(h, local, findings, ctx);
            }
        };
        h.getHandlesAndOffsets().forEach(t -> u.add(t.f0));
        return u;
    }

    private static Unit keyGroups(KeyGroupsStateHandle h, int maxParallelism, String where, boolean narrowable) {
        Unit u = new Unit(where + " (" + LocalizedHandles.describe(h.getDelegateStateHandle()) + ")") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception {
                String format = new KeyedSnapshotCheck(ctx).check(LocalizedHandles.localize(h, local), maxParallelism,
                        narrowable);
                findings.proved(h.getDelegateStateHandle(), Proof.DECODED,
                        "key groups decoded at their offsets with Flink's serializers (" + format + ")");
            }

            @Override
            String blame(RehearsalContext ctx) {
                return fileOrMetadata(h.getDelegateStateHandle(), ctx);
            }
        };
        u.add(h.getDelegateStateHandle());
        return u;
    }

    /**
     * Raw keyed state: an operator's own format, not decoded, unless it holds timers as Flink
     * writes them ({@link RawKeyedTimersCheck}), whose sections are found at every key group.
     */
    private static Unit rawKeyGroups(KeyGroupsStateHandle h, String where) {
        Unit u = new Unit(where + " (" + LocalizedHandles.describe(h.getDelegateStateHandle()) + ")") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) throws Exception {
                if (RawKeyedTimersCheck.check(LocalizedHandles.localize(h, local))) {
                    findings.proved(h.getDelegateStateHandle(), Proof.LENGTH,
                            "raw keyed state of timers: each key group's section found at its offset (timers not decoded)");
                } else {
                    findings.proved(h.getDelegateStateHandle(), Proof.LENGTH, "not decoded (its operator's own format)");
                }
            }

            @Override
            String blame(RehearsalContext ctx) {
                return fileOrMetadata(h.getDelegateStateHandle(), ctx);
            }
        };
        u.add(h.getDelegateStateHandle());
        return u;
    }

    /** A unit that only fetches {@code file}: for files no check decodes. */
    public static Unit fetchOnly(Path file, String what) {
        Unit u = new FetchOnly(what, List.of());
        u.files.add(file);
        return u;
    }

    private static Unit fetchOnly(String where) {
        return new FetchOnly(where, new ArrayList<>());
    }

    /**
     * Files in a format no check decodes (an operator's raw state): fetched,
     * which checks their length and recorded checksum, and marked as proven no further.
     */
    private static final class FetchOnly extends Unit {
        private final List<StreamStateHandle> handles;

        FetchOnly(String where, List<StreamStateHandle> handles) {
            super(where + " (not decoded: written in its operator's own format)");
            this.handles = handles;
        }

        @Override
        void add(StreamStateHandle h) {
            super.add(h);
            handles.add(h);
        }

        @Override
        void rehearse(LocalFiles local, RehearsalContext ctx, Findings findings) {
            for (StreamStateHandle h : handles) {
                findings.proved(h, Proof.LENGTH, "not decoded (its operator's own format)");
            }
        }
    }
}
