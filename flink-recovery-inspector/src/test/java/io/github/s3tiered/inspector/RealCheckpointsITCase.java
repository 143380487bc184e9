package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Real checkpoints made by MiniCluster jobs (RocksDB incremental; file merging; unaligned with
 * channel state; a savepoint), damaged in place one way per test and repaired afterwards.
 */
class RealCheckpointsITCase {

    private static final long HOUR = Duration.ofHours(1).toMillis();

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(clusterConfig())
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(CheckpointingJob.PARALLELISM)
            .build());

    @TempDir
    static java.nio.file.Path base;

    static CheckpointingJob.Result incremental;
    static CheckpointingJob.Result fileMerging;
    static CheckpointingJob.Result unaligned;
    static CheckpointingJob.Result heapTimers;

    final CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());

    static Configuration clusterConfig() {
        Configuration conf = new Configuration();
        conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("96m"));
        // read by the JobManager's checkpoint store, not from the job's configuration
        conf.setString("execution.checkpointing.num-retained", "3");
        return conf;
    }

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        incremental = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of()), false, 4,
                Duration.ofMillis(250), true);
        fileMerging = CheckpointingJob.run(cluster, CheckpointingJob.config(base,
                Map.of("execution.checkpointing.file-merging.enabled", "true")), false, 3, Duration.ofMillis(250), false);
        unaligned = CheckpointingJob.run(cluster, CheckpointingJob.config(base, Map.of(
                "execution.checkpointing.unaligned.enabled", "true",
                "execution.checkpointing.aligned-checkpoint-timeout", "0s")), true, 2, Duration.ofMillis(1500), false);
        // RocksDB with timers on the heap: Flink writes them into raw keyed state at each checkpoint
        heapTimers = CheckpointingJob.run(cluster, CheckpointingJob.config(base,
                Map.of("state.backend.rocksdb.timer-service.factory", "HEAP")), false, 1, Duration.ofMillis(250), false);
    }

    /**
     * Timers in raw keyed state: Flink's restore reads them at each key group's offset and skips a
     * key group without one, so a key group's offset moved onto the next one's, or removed, loses
     * its timers without an error.
     */
    @Test
    void timersInRawKeyedStateAreFoundAtEveryKeyGroupAndAMovedOrRemovedOffsetIsNotRestorable() throws Exception {
        Path cp = newest(heapTimers);
        Validation intact = inspector.validate(cp, true);
        assertThat(intact.verdict()).as(intact.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(intact.deepCheck().files()).as("a raw keyed state file of timers")
                .anySatisfy(p -> assertThat(p.how()).contains("raw keyed state of timers"));
        java.nio.file.Path metadataFile = local(new Path(cp, "_metadata"));
        byte[] bytes = Files.readAllBytes(metadataFile);
        for (boolean removed : new boolean[] {false, true}) {
            byte[] damaged = withRawKeyGroupOffsetChanged(bytes, cp, removed);
            try (Damage d = new Damage()) {
                d.replace(metadataFile, damaged);
                Validation v = inspector.validate(cp, true);
                assertThat(v.verdict()).as((removed ? "removed: " : "moved: ") + v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
                assertThat(v.reason()).contains("timers");
            }
        }
    }

    /**
     * The first key group's section of timers with one byte of Flink's version identifier changed:
     * Flink reads the 4 bytes as an older format's count of timer services, negative, and restores
     * none of that key group's timers, without an error.
     */
    @Test
    void timersInRawKeyedStateWhoseFirstKeyGroupLostItsIdentifierAreNotRestorable() throws Exception {
        Path cp = newest(heapTimers);
        ClassLoader cl = RealCheckpointsITCase.class.getClassLoader();
        org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata md = org.apache.flink.runtime.checkpoint.Checkpoints
                .loadCheckpointMetadata(new java.io.DataInputStream(new java.io.ByteArrayInputStream(
                        Files.readAllBytes(local(new Path(cp, "_metadata"))))), cl, cp.toString());
        org.apache.flink.runtime.state.KeyGroupsStateHandle raw = md.getOperatorStates().stream()
                .flatMap(op -> op.getSubtaskStates().values().stream())
                .flatMap(s -> s.getRawKeyedState().stream())
                .filter(h -> h instanceof org.apache.flink.runtime.state.KeyGroupsStateHandle)
                .map(h -> (org.apache.flink.runtime.state.KeyGroupsStateHandle) h)
                .findFirst().orElseThrow(() -> new AssertionError("no raw keyed state of timers"));
        int first = raw.getKeyGroupRange().getStartKeyGroup();
        long at = raw.getGroupRangeOffsets().getKeyGroupOffset(first);
        java.nio.file.Path file = local(((org.apache.flink.runtime.state.filesystem.FileStateHandle) raw.getDelegateStateHandle())
                .getFilePath());
        byte[] bytes = Files.readAllBytes(file);
        bytes[(int) at + 1] ^= 0x01; // 0xCD of F1 CD 85 9F: the int stays negative
        try (Damage d = new Damage()) {
            d.replace(file, bytes);
            Validation v = inspector.validate(cp, true);
            assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
            assertThat(v.reason()).contains("key group " + first).contains("timers");
        }
    }

    /** The second key group's raw keyed offset set to the third's (or to -1) in one subtask. */
    private static byte[] withRawKeyGroupOffsetChanged(byte[] metadataBytes, Path cp, boolean removed) throws Exception {
        ClassLoader cl = RealCheckpointsITCase.class.getClassLoader();
        org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata md = org.apache.flink.runtime.checkpoint.Checkpoints
                .loadCheckpointMetadata(new java.io.DataInputStream(new java.io.ByteArrayInputStream(metadataBytes)), cl, cp.toString());
        List<org.apache.flink.runtime.checkpoint.OperatorState> ops = new ArrayList<>();
        boolean done = false;
        for (org.apache.flink.runtime.checkpoint.OperatorState op : md.getOperatorStates()) {
            org.apache.flink.runtime.checkpoint.OperatorState copy = io.github.s3tiered.inspector.metadata.OperatorStates.create(
                    io.github.s3tiered.inspector.metadata.OperatorStates.name(op).orElse(null),
                    io.github.s3tiered.inspector.metadata.OperatorStates.uid(op).orElse(null), op.getOperatorID(),
                    op.getParallelism(), op.getMaxParallelism());
            if (op.getCoordinatorState() != null) {
                copy.setCoordinatorState(op.getCoordinatorState());
            }
            for (Map.Entry<Integer, org.apache.flink.runtime.checkpoint.OperatorSubtaskState> e : op.getSubtaskStates().entrySet()) {
                org.apache.flink.runtime.checkpoint.OperatorSubtaskState s = e.getValue();
                org.apache.flink.runtime.state.KeyedStateHandle raw = s.getRawKeyedState().isEmpty() ? null
                        : s.getRawKeyedState().iterator().next();
                if (!done && raw instanceof org.apache.flink.runtime.state.KeyGroupsStateHandle kg
                        && kg.getKeyGroupRange().getNumberOfKeyGroups() >= 3) {
                    org.apache.flink.runtime.state.KeyGroupRange range = kg.getKeyGroupRange();
                    long[] offsets = new long[range.getNumberOfKeyGroups()];
                    for (int i = 0; i < offsets.length; i++) {
                        offsets[i] = kg.getGroupRangeOffsets().getKeyGroupOffset(range.getStartKeyGroup() + i);
                    }
                    offsets[1] = removed ? -1 : offsets[2];
                    s = s.toBuilder().setRawKeyedState(new org.apache.flink.runtime.state.KeyGroupsStateHandle(
                            new org.apache.flink.runtime.state.KeyGroupRangeOffsets(range, offsets), kg.getDelegateStateHandle()))
                            .build();
                    done = true;
                }
                copy.putState(e.getKey(), s);
            }
            ops.add(copy);
        }
        assertThat(done).as("a subtask with raw keyed state").isTrue();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        org.apache.flink.runtime.checkpoint.Checkpoints.storeCheckpointMetadata(
                new org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata(md.getCheckpointId(), ops,
                        md.getMasterStates(), md.getCheckpointProperties()), new java.io.DataOutputStream(out));
        return out.toByteArray();
    }

    // ---------------------------------------------------------------- intact checkpoints

    @Test
    void intactCheckpointsAndTheSavepointAreRestorableWithOneListingPerDirectory() throws Exception {
        List<Path> all = new ArrayList<>(retained(incremental));
        all.add(path(incremental.savepoint()));
        for (Path cp : all) {
            Validation v = inspector.validate(cp, false);
            assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
            assertThat(v.problems()).isEmpty();
            assertThat(v.files()).isNotEmpty();
            assertThat(v.unsupportedHandles()).isEmpty();
            Set<String> parents = v.files().stream().map(f -> PathKey.of(f.path().getParent())).collect(Collectors.toSet());
            parents.add(PathKey.of(cp));
            assertThat(v.requests().listStatus()).isEqualTo(parents.size());
            assertThat(v.requests().open()).isEqualTo(1);
            assertThat(v.requests().getFileStatus()).isZero();
            assertThat(v.requests().total()).isLessThanOrEqualTo(parents.size() + 1L);
        }
        Validation newest = inspector.validate(newest(incremental), false);
        assertThat(newest.checkpointId()).isEqualTo(CheckpointNames.idFromName(newest(incremental).getName()));
        assertThat(newest.kind()).isEqualTo(CheckpointKind.CHECKPOINT);
        Set<String> kinds = newest.files().stream().flatMap(f -> f.kinds().stream()).collect(Collectors.toSet());
        assertThat(kinds).contains("keyed-shared", "keyed-private", "keyed-meta", "operator");
        Validation savepoint = inspector.validate(path(incremental.savepoint()), false);
        assertThat(savepoint.kind()).isEqualTo(CheckpointKind.SAVEPOINT);
        assertThat(savepoint.checkpointId()).isGreaterThan(newest.checkpointId());
    }

    @Test
    void restorePointIsTheNewestCheckpointAndTheSavepointOnlyByOption() throws Exception {
        RestorePoint rp = inspector.restorePoint(jobDir(incremental), false);
        assertThat(rp.path()).contains(newest(incremental));
        assertThat(rp.skipped()).isEmpty();
        assertThat(rp.candidates()).isEqualTo(3);

        RestorePoint withSavepoints = inspector.restorePoint(jobDir(incremental), true);
        assertThat(withSavepoints.path().map(PathKey::of)).contains(PathKey.of(path(incremental.savepoint())));
        assertThat(withSavepoints.candidates()).isEqualTo(4);
    }

    @Test
    void discoveryAndClassification() throws Exception {
        List<JobDirectory> jobs = inspector.discover(flink(base));
        assertThat(jobs).extracting(j -> j.path().getName()).containsExactlyInAnyOrder(
                incremental.jobId().toString(), fileMerging.jobId().toString(), unaligned.jobId().toString(),
                heapTimers.jobId().toString());
        JobDirectory inc = jobs.stream().filter(j -> j.path().getName().equals(incremental.jobId().toString())).findFirst().orElseThrow();
        assertThat(inc.checkpoints()).extracting(c -> c.path().getName())
                .startsWith(retained(incremental).stream().map(Path::getName).toArray(String[]::new));
        assertThat(inc.ofKind(CheckpointKind.SAVEPOINT)).hasSize(1);

        assertThat(inspector.classify(flink(base))).isEqualTo(PathRole.BASE_DIRECTORY);
        assertThat(inspector.classify(jobDir(incremental))).isEqualTo(PathRole.JOB_DIRECTORY);
        assertThat(inspector.classify(newest(incremental))).isEqualTo(PathRole.CHECKPOINT);
        assertThat(CheckpointInspector.namesSingleCheckpoint(newest(incremental))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(new Path(newest(incremental), "_metadata"))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(path(incremental.savepoint()))).isTrue();
        assertThat(CheckpointInspector.namesSingleCheckpoint(jobDir(incremental))).isFalse();
    }

    // ---------------------------------------------------------------- damaged checkpoints

    @Test
    void deletedSharedSstFileMakesTheCheckpointsReferencingItMissingFiles() throws Exception {
        ReferencedFile sst = onlyInNewest(incremental, f -> f.kinds().contains("keyed-shared"));
        try (Damage d = new Damage()) {
            d.delete(local(sst.path()));
            Validation v = inspector.validate(newest(incremental), false);
            assertThat(v.verdict()).isEqualTo(Verdict.MISSING_FILES);
            assertThat(v.filesConcerned()).containsExactly(sst.path().toString());
            assertRestorePointAvoids(incremental, sst.path(), Verdict.MISSING_FILES, false, inspector);
        }
        assertThat(inspector.validate(newest(incremental), false).verdict()).isEqualTo(Verdict.RESTORABLE);
    }

    @Test
    void truncatedFileIsASizeMismatch() throws Exception {
        ReferencedFile file = onlyInNewest(incremental, f -> f.kinds().contains("keyed-private") && f.minSize() > 1);
        try (Damage d = new Damage()) {
            d.truncate(local(file.path()), file.minSize() / 2);
            Validation v = inspector.validate(newest(incremental), false);
            assertThat(v.verdict()).isEqualTo(Verdict.SIZE_MISMATCH);
            assertThat(v.filesConcerned()).containsExactly(file.path().toString());
            assertThat(v.problems().get(0).reason()).contains(String.valueOf(file.minSize()), String.valueOf(file.minSize() / 2));
            assertRestorePointAvoids(incremental, file.path(), Verdict.SIZE_MISMATCH, false, inspector);
        }
    }

    @Test
    void flippedByteIsFoundOnlyByDeepModeAgainstRecordedChecksums() throws Exception {
        PrecomputedChecksums recorded = new PrecomputedChecksums();
        for (Path cp : retained(incremental)) {
            recorded.record(new Path(cp, "_metadata"));
            for (ReferencedFile f : inspector.validate(cp, false).files()) {
                recorded.record(f.path());
            }
        }
        CheckpointInspector deepInspector = inspector.withChecksums(recorded);
        Validation intact = deepInspector.validate(newest(incremental), true);
        assertThat(intact.verdict()).as(intact.reason()).isEqualTo(Verdict.RESTORABLE);
        assertThat(intact.deepCheck().checksumsMatched()).isEqualTo(intact.files().size() + 1);

        ReferencedFile sst = onlyInNewest(incremental, f -> f.kinds().contains("keyed-shared") && f.minSize() > 100);
        try (Damage d = new Damage()) {
            d.flipByte(local(sst.path()), sst.minSize() / 2);
            assertThat(inspector.validate(newest(incremental), false).verdict()).isEqualTo(Verdict.RESTORABLE);

            Validation deep = deepInspector.validate(newest(incremental), true);
            assertThat(deep.verdict()).isEqualTo(Verdict.CHECKSUM_MISMATCH);
            assertThat(deep.filesConcerned()).containsExactly(sst.path().toString());
            assertThat(deep.deepCheck().checksumsMismatched()).isEqualTo(1);
            assertThat(deep.requests().open()).as("_metadata once, then every file").isEqualTo(deep.files().size() + 1L);
            assertRestorePointAvoids(incremental, sst.path(), Verdict.CHECKSUM_MISMATCH, true, deepInspector);

            // file:// records no checksum, but the restore rehearsal verifies the SST file with
            // RocksDB's own block checksums, as a restore would fail on it
            Validation plainDeep = inspector.validate(newest(incremental), true);
            assertThat(plainDeep.verdict()).as(plainDeep.reason()).isEqualTo(Verdict.CORRUPT_STATE);
            assertThat(plainDeep.filesConcerned()).containsExactly(sst.path().toString());
            assertThat(plainDeep.problems().get(0).reason()).contains("RocksDB", "checksum");
            assertThat(plainDeep.deepCheck().fileSystemRecordsChecksums()).isFalse();
            assertThat(plainDeep.deepCheck().filesRead()).isEqualTo(plainDeep.files().size() + 1);
            assertThat(plainDeep.deepCheck().summary()).contains("records none");
        }
    }

    /**
     * One run completes its checkpoints in the order of their ids: a lower id written after the
     * newest is another run's under the same job id (restored from an older savepoint), and the
     * highest id may be the state it rolled back from. The search names no restore point then.
     */
    @Test
    void aLowerIdWrittenAfterTheNewestLeavesNoRestorePoint() throws Exception {
        Path older = retained(incremental).get(2);
        long newestWritten = java.nio.file.Files.getLastModifiedTime(local(new Path(newest(incremental), "_metadata"))).toMillis();
        try (Damage d = new Damage()) {
            d.touch(local(new Path(older, "_metadata")), newestWritten + 60_000);
            RestorePoint rp = inspector.restorePoint(jobDir(incremental), false);
            assertThat(rp.runsDisagree()).as(rp.explanation()).isTrue();
            assertThat(rp.outcome()).isEqualTo(Outcome.UNKNOWN);
            assertThat(rp.path()).isEmpty();
            assertThat(rp.chosen()).map(Validation::path).contains(newest(incremental));
            assertThat(rp.writtenLater()).extracting(w -> w.path().getName()).containsExactly(older.getName());
            assertThat(rp.explanation()).contains(older.getName()).contains("Name the checkpoint to resume from");

            // within the margin left for the storage's clocks, the ids decide
            d.touch(local(new Path(older, "_metadata")), newestWritten + 1_000);
            RestorePoint withinMargin = inspector.restorePoint(jobDir(incremental), false);
            assertThat(withinMargin.path()).as(withinMargin.explanation()).contains(newest(incremental));
        }
        assertThat(inspector.restorePoint(jobDir(incremental), false).path()).contains(newest(incremental));
    }

    @Test
    void deletedMetadataMeansNoMetadata() throws Exception {
        try (Damage d = new Damage()) {
            d.delete(local(new Path(newest(incremental), "_metadata")));
            Validation v = inspector.validate(newest(incremental), false);
            assertThat(v.verdict()).isEqualTo(Verdict.NO_METADATA);
            RestorePoint rp = inspector.restorePoint(jobDir(incremental), false);
            assertThat(rp.path()).contains(retained(incremental).get(1));
            assertThat(rp.skipped()).extracting(Validation::verdict).containsExactly(Verdict.NO_METADATA);
        }
    }

    @Test
    void garbledMetadataIsCorruptAndBlocksOrphanDeletion() throws Exception {
        try (Damage d = new Damage()) {
            d.garble(local(new Path(newest(incremental), "_metadata")));
            Validation v = inspector.validate(newest(incremental), false);
            assertThat(v.verdict()).isEqualTo(Verdict.CORRUPT_METADATA);
            assertThat(v.problems().get(0).reason()).contains("_metadata");
            RestorePoint rp = inspector.restorePoint(jobDir(incremental), false);
            assertThat(rp.path()).contains(retained(incremental).get(1));
            assertThat(rp.skipped()).extracting(Validation::verdict).containsExactly(Verdict.CORRUPT_METADATA);

            java.nio.file.Path leaked = d.create(local(jobDir(incremental)).resolve("shared/leaked-while-corrupt"), new byte[10], 2 * HOUR);
            for (boolean delete : new boolean[] {false, true}) {
                Orphans o = inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ofHours(1), delete, true));
                assertThat(o.unreadableMetadata()).hasSize(1);
                // a list without --delete is acted on too: files that checkpoint may reference are not on it
                assertThat(o.orphans()).isEmpty();
                assertThat(o.deleted()).isEmpty();
                assertThat(o.deletionRefused()).contains("cannot be read").contains("no orphans reported");
                assertThat(leaked).exists();
            }
        }
    }

    @Test
    void checkpointDirectoryWithoutMetadataIsSkipped() throws Exception {
        try (Damage d = new Damage()) {
            java.nio.file.Path stray = local(jobDir(incremental)).resolve("chk-99");
            d.create(stray.resolve("some-state"), new byte[100], 0);
            Validation v = inspector.validate(flink(stray), false);
            assertThat(v.verdict()).isEqualTo(Verdict.NO_METADATA);
            assertThat(v.checkpointId()).isEqualTo(-1);
            RestorePoint rp = inspector.restorePoint(jobDir(incremental), false);
            assertThat(rp.path()).contains(newest(incremental));
            assertThat(rp.skipped()).extracting(s -> s.path().getName()).containsExactly("chk-99");
        }
    }

    @Test
    void fileMergingCheckpointIsValidatedBySegments() throws Exception {
        Validation v = inspector.validate(newest(fileMerging), false);
        assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.RESTORABLE);
        List<ReferencedFile> segmentFiles = v.files().stream().filter(f -> !f.exactSize()).toList();
        assertThat(segmentFiles).as("file merging writes segment handles").isNotEmpty();
        assertThat(inspector.restorePoint(jobDir(fileMerging), false).path()).contains(newest(fileMerging));

        ReferencedFile segmentFile = segmentFiles.get(segmentFiles.size() - 1);
        try (Damage d = new Damage()) {
            d.truncate(local(segmentFile.path()), segmentFile.minSize() - 1);
            Validation damaged = inspector.validate(newest(fileMerging), false);
            assertThat(damaged.verdict()).isEqualTo(Verdict.SIZE_MISMATCH);
            assertThat(damaged.filesConcerned()).containsExactly(segmentFile.path().toString());
            assertThat(damaged.problems().get(0).reason()).contains("at least " + segmentFile.minSize());
            assertRestorePointAvoids(fileMerging, segmentFile.path(), Verdict.SIZE_MISMATCH, false, inspector);
        }
    }

    @Test
    void unalignedCheckpointReferencesItsChannelState() throws Exception {
        Validation v = null;
        ReferencedFile channelFile = null;
        for (Path cp : retained(unaligned)) {
            Validation candidate = inspector.validate(cp, false);
            assertThat(candidate.verdict()).as(candidate.reason()).isEqualTo(Verdict.RESTORABLE);
            Optional<ReferencedFile> ch = candidate.files().stream().filter(f -> f.kinds().contains("channel")).findFirst();
            if (ch.isPresent() && v == null) {
                v = candidate;
                channelFile = ch.get();
            }
        }
        assumeTrue(channelFile != null, "the backpressured job's unaligned checkpoints carried no in-flight data in files"
                + " (buffers drained before the barrier): cannot test channel state deterministically here");
        try (Damage d = new Damage()) {
            d.delete(local(channelFile.path()));
            Validation damaged = inspector.validate(v.path(), false);
            assertThat(damaged.verdict()).isEqualTo(Verdict.MISSING_FILES);
            assertThat(damaged.filesConcerned()).contains(channelFile.path().toString());
            assertRestorePointAvoids(unaligned, channelFile.path(), Verdict.MISSING_FILES, false, inspector);
        }
    }

    @Test
    void orphansAreOldUnreferencedFilesOnlyAndDeletionKeepsCheckpointsRestorable(@InjectMiniCluster MiniCluster cluster,
            @TempDir java.nio.file.Path elsewhere) throws Exception {
        java.nio.file.Path job = local(jobDir(incremental));
        Set<String> referencedAnywhere = referencedByAllRetained();
        try (Damage d = new Damage()) {
            d.create(job.resolve("shared/leaked-sst"), new byte[1000], 2 * HOUR);
            d.create(job.resolve("taskowned/leaked-private"), new byte[500], 2 * HOUR);
            d.create(job.resolve("shared/young-file"), new byte[10], 0);
            java.nio.file.Path strayChk = job.resolve("chk-77");
            d.create(strayChk.resolve("aborted-state"), new byte[300], 2 * HOUR);
            Files.setLastModifiedTime(strayChk, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 2 * HOUR));

            Orphans report = inspector.orphans(jobDir(incremental), OrphanOptions.reportOnly());
            assertThat(report.orphans()).extracting(o -> o.path().getName())
                    .containsExactlyInAnyOrder("leaked-sst", "leaked-private", "chk-77");
            assertThat(report.orphans()).extracting(OrphanFile::kind).containsExactlyInAnyOrder(
                    OrphanFile.Kind.SHARED_FILE, OrphanFile.Kind.TASK_OWNED_FILE, OrphanFile.Kind.STRAY_CHECKPOINT_DIRECTORY);
            assertThat(report.tooYoung()).isGreaterThanOrEqualTo(1);
            assertThat(report.unreadableMetadata()).isEmpty();
            assertThat(report.deleted()).isEmpty();
            assertThat(job.resolve("shared/leaked-sst")).exists();

            // with no minimum age every unreferenced file is listed, and still no referenced one
            Orphans all = inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ZERO, false, true));
            assertThat(all.orphans()).extracting(o -> o.path().getName()).contains("leaked-sst", "young-file");
            assertThat(all.orphans()).extracting(o -> PathKey.of(o.path())).doesNotContainAnyElementsOf(referencedAnywhere);
            for (String dir : List.of(fileMerging.jobId().toString(), unaligned.jobId().toString())) {
                Orphans other = inspector.orphans(flink(base.resolve(dir)), new OrphanOptions(Duration.ZERO, false, true));
                assertThat(other.unreadableMetadata()).isEmpty();
                assertThat(other.orphans()).extracting(o -> PathKey.of(o.path())).doesNotContainAnyElementsOf(referencedAnywhere);
            }

            Orphans deleted = inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ofHours(1), true, true));
            assertThat(deleted.deletionRefused()).isNull();
            assertThat(deleted.deleted()).hasSize(3);
            assertThat(job.resolve("shared/leaked-sst")).doesNotExist();
            assertThat(job.resolve("taskowned/leaked-private")).doesNotExist();
            assertThat(strayChk).doesNotExist();
            assertThat(job.resolve("shared/young-file")).exists();
        }
        for (Path cp : retained(incremental)) {
            assertThat(inspector.validate(cp, false).verdict()).isEqualTo(Verdict.RESTORABLE);
        }

        // With no minimum age every unreferenced file goes. The verdicts above read the references as the
        // deletion does; Flink restoring the newest retained checkpoint from what is left does not
        Orphans none = inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ZERO, true, true));
        assertThat(none.deletionRefused()).isNull();
        Path newest = retained(incremental).get(0);
        CheckpointingJob.Result resumed = CheckpointingJob.run(cluster, CheckpointingJob.config(elsewhere,
                Map.of("execution.state-recovery.path", newest.toUri().toString())), false, 1, Duration.ofMillis(200), false);
        var restored = cluster.getArchivedExecutionGraph(resumed.jobId()).get().getCheckpointStatsSnapshot()
                .getLatestRestoredCheckpoint();
        assertThat(restored).as("Flink restored " + newest).isNotNull();
        assertThat(restored.getExternalPath()).as("the checkpoint Flink restored")
                .matches(".*/" + java.util.regex.Pattern.quote(newest.getName()) + "(/_metadata)?/?");
    }

    @Test
    void uploadsAheadOfCheckpointsAreOrphansOnlyAfterTheGraceTheJobsStorageRecorded() throws Exception {
        java.nio.file.Path job = local(jobDir(incremental));
        String young = "a".repeat(64) + "-0123456789abcdef.sst";
        String old = "b".repeat(64) + ".sst"; // as 0.2.0 named them
        try (Damage d = new Damage()) {
            d.create(job.resolve("shared/" + young), new byte[100], 90 * 60_000L);
            d.create(job.resolve("shared/" + old), new byte[100], 5 * HOUR);
            d.create(job.resolve("shared/flink-named-leak"), new byte[100], 90 * 60_000L);
            OrphanOptions oneHour = new OrphanOptions(Duration.ofHours(1), false, true);

            // no record (a job of an older version): every upload ahead of a checkpoint is kept, the rest is not
            Orphans noRecord = inspector.orphans(jobDir(incremental), oneHour);
            assertThat(noRecord.orphans()).extracting(o -> o.path().getName()).containsExactly("flink-named-leak");
            assertThat(noRecord.preUploadGraceMillis()).isEqualTo(-1);
            assertThat(noRecord.preUploadsKept()).isEqualTo(2);
            // unless the operator gives the grace
            assertThat(inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ofHours(1), false, true,
                    Duration.ofHours(2))).orphans()).extracting(o -> o.path().getName())
                    .containsExactlyInAnyOrder(old, "flink-named-leak");

            // the storage recorded a 2 h grace (a 30 min checkpoint interval): the 90 min old upload stays
            java.nio.file.Path record = d.create(job.resolve("s3tiered-preupload.json"), ("{\"schemaVersion\": 1, \"enabled\": true,"
                    + " \"reuseWindowMillis\": 3600000, \"orphanSearchGraceMillis\": 7200000, \"written\": \"x\"}")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8), 0);
            Orphans withGrace = inspector.orphans(jobDir(incremental), oneHour);
            assertThat(withGrace.orphans()).extracting(o -> o.path().getName()).containsExactlyInAnyOrder(old, "flink-named-leak");
            assertThat(withGrace.preUploadGraceMillis()).isEqualTo(2 * HOUR);
            assertThat(withGrace.preUploadsKept()).isEqualTo(1);

            // a grace below the minimum age changes nothing: the minimum age holds for every file
            Files.writeString(record, "{\"schemaVersion\": 1, \"orphanSearchGraceMillis\": 1200000}");
            assertThat(inspector.orphans(jobDir(incremental), oneHour).orphans()).extracting(o -> o.path().getName())
                    .containsExactlyInAnyOrder(young, old, "flink-named-leak");
            assertThat(inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ofHours(2), false, true)).orphans())
                    .extracting(o -> o.path().getName()).containsExactly(old);

            // a record cut short (even inside the number) is not read as a short grace
            for (String cut : List.of("{\"schemaVersion\": 1, \"orphanSearchGraceMillis\": 72",
                    "{\"schemaVersion\": 1, \"orphanSearchGraceMillis\": 7200000, \"writ", "")) {
                Files.writeString(record, cut);
                Orphans unreadable = inspector.orphans(jobDir(incremental), new OrphanOptions(Duration.ZERO, false, true));
                assertThat(unreadable.preUploadGraceMillis()).as(cut).isEqualTo(-1);
                assertThat(unreadable.orphans()).as(cut).extracting(o -> o.path().getName()).contains("flink-named-leak")
                        .doesNotContain(young, old);
            }
        }
        for (Path cp : retained(incremental)) {
            assertThat(inspector.validate(cp, false).verdict()).isEqualTo(Verdict.RESTORABLE);
        }
    }

    @Test
    void compatibilityWithAJobReportsUnmappedStateAndMaxParallelism() throws Exception {
        Validation v = inspector.validate(newest(incremental), false);
        List<OperatorSummary> ops = inspector.describe(newest(incremental)).operators();
        OperatorSummary count = ops.stream().filter(o -> "count".equals(o.uid())).findFirst().orElseThrow();
        assertThat(count.managedKeyedBytes()).isPositive();
        assertThat(count.parallelism()).isEqualTo(CheckpointingJob.PARALLELISM);
        Set<String> allIds = ops.stream().map(OperatorSummary::operatorId).collect(Collectors.toSet());

        assertThat(inspector.checkCompatibility(v, new JobShape(allIds, count.maxParallelism()))).isEmpty();

        Set<String> withoutCount = new HashSet<>(allIds);
        withoutCount.remove(count.operatorId());
        RestorePoint rp = inspector.restorePoint(jobDir(incremental),
                new RestorePointOptions(false, false, new JobShape(withoutCount, count.maxParallelism() + 1)));
        assertThat(rp.compatibility()).extracting(CompatibilityIssue::kind)
                .contains(CompatibilityIssue.Kind.STATE_WITHOUT_OPERATOR, CompatibilityIssue.Kind.MAX_PARALLELISM_MISMATCH);
        assertThat(rp.compatibility()).filteredOn(i -> i.kind() == CompatibilityIssue.Kind.STATE_WITHOUT_OPERATOR)
                .extracting(CompatibilityIssue::operatorId).containsExactly(count.operatorId());
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The restore point must be the newest checkpoint that does not reference the damaged file,
     * computed from the intact references, and every newer one must be skipped with the verdict.
     */
    private void assertRestorePointAvoids(CheckpointingJob.Result job, Path damaged, Verdict verdict, boolean deep,
            CheckpointInspector using) throws Exception {
        RestorePoint rp = using.restorePoint(jobDir(job), new RestorePointOptions(false, deep, null));
        Path expected = null;
        List<Path> expectedSkipped = new ArrayList<>();
        for (Path cp : retained(job)) {
            boolean refs = referencedBy(cp).contains(PathKey.of(damaged));
            if (!refs) {
                expected = cp;
                break;
            }
            expectedSkipped.add(cp);
        }
        assertThat(rp.path().map(PathKey::of)).isEqualTo(Optional.ofNullable(expected).map(PathKey::of));
        assertThat(rp.skipped()).extracting(s -> PathKey.of(s.path()))
                .containsExactlyElementsOf(expectedSkipped.stream().map(PathKey::of).toList());
        assertThat(rp.skipped()).extracting(Validation::verdict).containsOnly(verdict);
    }

    /** References read straight from the metadata, independently of validation. */
    private Set<String> referencedBy(Path checkpoint) throws Exception {
        return CheckpointReferences.of(CheckpointMetadataReader.load(checkpoint, getClass().getClassLoader())).files()
                .stream().map(f -> PathKey.of(f.path())).collect(Collectors.toSet());
    }

    private Set<String> referencedByAllRetained() throws Exception {
        Set<String> all = new HashSet<>();
        for (CheckpointingJob.Result r : List.of(incremental, fileMerging, unaligned)) {
            for (Path cp : retained(r)) {
                all.addAll(referencedBy(cp));
            }
        }
        all.addAll(referencedBy(path(incremental.savepoint())));
        return all;
    }

    /** A file of the newest checkpoint that the second newest does not reference. */
    private ReferencedFile onlyInNewest(CheckpointingJob.Result job, java.util.function.Predicate<ReferencedFile> what) throws Exception {
        Set<String> older = referencedBy(retained(job).get(1));
        return inspector.validate(newest(job), false).files().stream()
                .filter(what)
                .filter(f -> !older.contains(PathKey.of(f.path())))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no such file only in the newest checkpoint of " + job.jobDir()));
    }

    /** Retained checkpoints, newest first (the last {@code num-retained} triggered ones). */
    static List<Path> retained(CheckpointingJob.Result job) {
        List<Path> out = new ArrayList<>();
        for (int i = job.checkpoints().size() - 1; i >= Math.max(0, job.checkpoints().size() - 3); i--) {
            out.add(path(job.checkpoints().get(i)));
        }
        return out;
    }

    static Path newest(CheckpointingJob.Result job) {
        return retained(job).get(0);
    }

    static Path jobDir(CheckpointingJob.Result job) {
        return flink(job.jobDir());
    }

    static Path path(String pointer) {
        return new Path(pointer);
    }

    static Path flink(java.nio.file.Path p) {
        return new Path(p.toUri().toString());
    }

    static java.nio.file.Path local(Path p) {
        return java.nio.file.Path.of(p.toUri().getPath());
    }
}
