package io.github.s3tiered.examples;

import static io.github.s3tiered.examples.RecoveryTestSupport.PARALLELISM;
import static io.github.s3tiered.examples.RecoveryTestSupport.TIMEOUT;
import static io.github.s3tiered.examples.RecoveryTestSupport.environment;
import static io.github.s3tiered.examples.RecoveryTestSupport.failureText;
import static io.github.s3tiered.examples.RecoveryTestSupport.fileSystemConfig;
import static io.github.s3tiered.examples.RecoveryTestSupport.initializeFileSystems;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Validation;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.testing.S3ServerExtension;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The changelog state backend with its changes in files on {@code s3tiered://}, as Flink's
 * changelog storage writes them: a compression flag byte, then change sets, with {@code _metadata}
 * recording a size that is not the file's (counted after the flag, before compression). The
 * changelog storage is built by each TaskManager from its own configuration, not from the job's
 * ({@code TaskExecutor} passes its own configuration to {@code StateChangelogStorageLoader}): so
 * each case runs on a MiniCluster of its own that names the storage, uncompressed or compressed.
 * Materialization is off, so all state is in those files. The newest checkpoint is judged
 * restorable by sizes and by deep validation, which reads every change set. While a file of it
 * is cut short by a byte (still there, not empty), validation by sizes, deep validation and the
 * storage's guard refuse it (uncompressed, its flag byte says it must hold one byte more than
 * recorded; compressed, its Snappy frames end inside a chunk); a compressed file's flag is read
 * from S3, never from this host's intact copy; put back whole, it resumes exactly on a fresh host.
 */
class ChangelogStorageITCase implements AwaitsBackgroundUploads {

    @RegisterExtension
    static final S3ServerExtension S3 = new S3ServerExtension();

    @TempDir java.nio.file.Path localTier;
    @TempDir java.nio.file.Path freshHostTier;
    @TempDir java.nio.file.Path output;

    @ParameterizedTest(name = "compressed: {0}")
    @ValueSource(booleans = {false, true})
    void changesInFilesAreProvenAndRestoreExactly(boolean compressed) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), localTier));
        String dir = "s3tiered://" + S3.server().bucket() + "/" + S3.server().runPrefix() + "/changelog-" + compressed;
        Configuration cluster = RecoveryTestSupport.clusterConfig();
        cluster.setString("state.changelog.storage", "filesystem");
        cluster.setString("state.changelog.dstl.dfs.base-path", dir + "-changes");
        cluster.setString("state.changelog.dstl.dfs.compression.enabled", Boolean.toString(compressed));
        Map<String, String> options = Map.of("state.changelog.enabled", "true",
                "state.changelog.periodic-materialize.enabled", "false");

        try (MiniCluster miniCluster = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(cluster).setNumTaskManagers(1).setNumSlotsPerTaskManager(PARALLELISM).build())) {
            miniCluster.start();
            // a failure after a few checkpoints (500 ms apart), then more checkpoints after the restore;
            // at least fifteen checkpoints before the input ends: the cancel after ten finds it running
            RecoveryJob.Settings s = new RecoveryJob.Settings(400_000, 5_000, 25_000, 60_000, output.toString())
                    .gatedEvery(12_000);
            StreamExecutionEnvironment env = environment(dir, null, options);
            RecoveryJob.build(env, s);
            JobID job = JobRunner.submit(miniCluster, env);
            JobRunner.awaitCheckpoints(miniCluster, job, 10, TIMEOUT);
            miniCluster.cancelJob(job).get();
            JobRunner.awaitStatus(miniCluster, job, JobStatus.CANCELED, TIMEOUT);
            List<CompletedCheckpointStats> done = JobRunner.completedCheckpoints(miniCluster, job);
            String retained = done.get(done.size() - 1).getExternalPath();

            CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
            Validation validation = inspector.validate(new Path(retained), false);
            assertThat(validation.verdict()).as(validation.reason()).isEqualTo(Verdict.RESTORABLE);
            List<ReferencedFile> changes = validation.files().stream()
                    .filter(f -> f.kinds().stream().anyMatch(k -> k.endsWith("-changelog"))).toList();
            assertThat(changes).as("files of changes, among %s (and %d handles inside _metadata)",
                    validation.files().stream().flatMap(f -> f.kinds().stream()).distinct().toList(),
                    validation.inlineHandles()).isNotEmpty();
            // _metadata read; the flag byte read only of files that do not hold one byte more than recorded
            if (compressed) {
                assertThat(validation.requests().open()).as(validation.requests().toString()).isGreaterThan(1);
            } else {
                assertThat(validation.requests().open()).as(validation.requests().toString()).isEqualTo(1);
            }
            Validation deep = inspector.validate(new Path(retained), true);
            assertThat(deep.verdict()).as(deep.reason()).isEqualTo(Verdict.RESTORABLE);
            for (ReferencedFile f : changes) {
                assertThat(deep.deepCheck().files()).filteredOn(p -> p.path().equals(f.path().toString())).singleElement()
                        .satisfies(p -> assertThat(p.how()).contains("change sets read at their offsets"));
            }

            changeSetOfAnotherSubtaskIsNotRestorable(inspector, retained);

            Path victim = changes.get(0).path();
            String key = victim.toUri().getPath().substring(1);
            try (S3Client raw = RecoveryTestSupport.rawClient(S3.server())) {
                ResponseBytes<GetObjectResponse> intact = raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(key));
                byte[] bytes = intact.asByteArray();
                assertThat(bytes[0]).as("compression flag of " + key).isEqualTo((byte) (compressed ? 1 : 0));
                if (compressed) {
                    // whole, its flag byte another in S3 only (no recorded checksum), while this host's
                    // local tier holds the intact copy: the flag must be read from S3, not from the copy
                    byte[] flagged = bytes.clone();
                    flagged[0] = 7;
                    raw.putObject(b -> b.bucket(S3.server().bucket()).key(key), RequestBody.fromBytes(flagged));
                    assertThat(RecoveryTestSupport.tieredFileSystem(S3.server().bucket()).localTier()
                            .getVerified(S3.server().bucket(), key)).as("this host's copy of " + key).isPresent();
                    Validation flag = inspector.validate(new Path(retained), false);
                    assertThat(flag.verdict()).as(flag.reason()).isEqualTo(Verdict.CORRUPT_STATE);
                    assertThat(flag.filesConcerned()).containsExactly(victim.toString());
                    assertThat(flag.reason()).contains("starts with byte 7");
                }
                // put back a byte short, without a recorded checksum (as another tool would write it);
                // the local tier keeps the intact copy: validation reads what S3 holds
                raw.putObject(b -> b.bucket(S3.server().bucket()).key(key),
                        RequestBody.fromBytes(Arrays.copyOf(bytes, bytes.length - 1)));
                Validation bySize = inspector.validate(new Path(retained), false);
                Validation cut = inspector.validate(new Path(retained), true);
                // uncompressed, its flag says it must hold one byte more than recorded; compressed,
                // its Snappy frames end inside a chunk: both told without deep validation
                assertThat(bySize.verdict()).as(bySize.reason()).isEqualTo(Verdict.SIZE_MISMATCH);
                assertThat(bySize.filesConcerned()).containsExactly(victim.toString());
                assertThat(bySize.reason()).contains(compressed ? "cut short" : "uncompressed changelog file");
                assertThat(cut.restorable()).as(cut.reason()).isFalse();
                assertThat(cut.filesConcerned()).containsExactly(victim.toString());
                assertThat(failureText(RecoveryTestSupport.run(miniCluster, environment(dir, retained, options), s)))
                        .contains("Refusing to resume from execution.state-recovery.path").contains(key);
                if (!compressed) {
                    // whole, but the first change set's number of key groups changed: only reading it tells
                    byte[] changed = bytes.clone();
                    changed[1] = 0x7f;
                    raw.putObject(b -> b.bucket(S3.server().bucket()).key(key), RequestBody.fromBytes(changed));
                    assertThat(inspector.validate(new Path(retained), false).restorable()).as("sizes alone cannot see it")
                            .isTrue();
                    Validation decoded = inspector.validate(new Path(retained), true);
                    assertThat(decoded.verdict()).as(decoded.reason()).isEqualTo(Verdict.CORRUPT_STATE);
                    assertThat(decoded.filesConcerned()).containsExactly(victim.toString());
                    assertThat(decoded.reason()).contains("key groups");
                }
                raw.putObject(b -> b.bucket(S3.server().bucket()).key(key).metadata(intact.response().metadata()),
                        RequestBody.fromBytes(bytes));
            }

            resumesExactlyOnAFreshHost(miniCluster, dir, retained, options, s);
        }
    }

    /**
     * One subtask's reference to a change set (file and offset) in {@code _metadata} replaced by
     * another subtask's: the change set reads as well as its own, and Flink's restore applies it,
     * skipping the changes of key groups not the subtask's, so the subtask silently loses its own
     * changes since the last materialization. Deep validation must see it (the handle's recorded
     * size and key groups), also in a file one upload batched for several subtasks.
     */
    private static void changeSetOfAnotherSubtaskIsNotRestorable(CheckpointInspector inspector, String retained)
            throws Exception {
        String metadataKey = new Path(retained).toUri().getPath().substring(1)
                + (retained.endsWith("/_metadata") ? "" : "/_metadata");
        try (S3Client raw = RecoveryTestSupport.rawClient(S3.server())) {
            ResponseBytes<GetObjectResponse> intact = raw.getObjectAsBytes(b -> b.bucket(S3.server().bucket()).key(metadataKey));
            org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata metadata =
                    org.apache.flink.runtime.checkpoint.Checkpoints.loadCheckpointMetadata(new java.io.DataInputStream(
                            new java.io.ByteArrayInputStream(intact.asByteArray())), ChangelogStorageITCase.class.getClassLoader(),
                            retained);
            List<org.apache.flink.runtime.checkpoint.OperatorState> damaged = new java.util.ArrayList<>();
            boolean done = false;
            for (org.apache.flink.runtime.checkpoint.OperatorState op : metadata.getOperatorStates()) {
                org.apache.flink.runtime.checkpoint.OperatorState copy = io.github.s3tiered.inspector.metadata.OperatorStates
                        .create(io.github.s3tiered.inspector.metadata.OperatorStates.name(op).orElse(null),
                                io.github.s3tiered.inspector.metadata.OperatorStates.uid(op).orElse(null), op.getOperatorID(),
                                op.getParallelism(), op.getMaxParallelism());
                op.getSubtaskStates().forEach(copy::putState);
                if (op.getCoordinatorState() != null) {
                    copy.setCoordinatorState(op.getCoordinatorState());
                }
                if (!done) {
                    done = retargetOneChangeSet(op, copy);
                }
                damaged.add(copy);
            }
            assertThat(done).as("two subtasks of one operator with change sets in " + retained).isTrue();
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            org.apache.flink.runtime.checkpoint.Checkpoints.storeCheckpointMetadata(
                    new org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata(metadata.getCheckpointId(), damaged,
                            metadata.getMasterStates(), metadata.getCheckpointProperties()),
                    new java.io.DataOutputStream(bytes));
            raw.putObject(b -> b.bucket(S3.server().bucket()).key(metadataKey), RequestBody.fromBytes(bytes.toByteArray()));
            try {
                Validation v = inspector.validate(new Path(retained), true);
                assertThat(v.verdict()).as(v.reason()).isEqualTo(Verdict.CORRUPT_STATE);
                assertThat(v.reason()).containsAnyOf("outside its handle's key groups", "another change set");
            } finally {
                raw.putObject(b -> b.bucket(S3.server().bucket()).key(metadataKey).metadata(intact.response().metadata()),
                        RequestBody.fromBytes(intact.asByteArray()));
            }
        }
    }

    /** In {@code copy}, subtask 0's first change set reference replaced by subtask 1's; false when there are not two. */
    private static boolean retargetOneChangeSet(org.apache.flink.runtime.checkpoint.OperatorState op,
            org.apache.flink.runtime.checkpoint.OperatorState copy) {
        org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle[] both =
                new org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle[2];
        for (int subtask = 0; subtask < 2; subtask++) {
            org.apache.flink.runtime.checkpoint.OperatorSubtaskState s = op.getState(subtask);
            if (s == null) {
                return false;
            }
            for (org.apache.flink.runtime.state.KeyedStateHandle h : s.getManagedKeyedState()) {
                if (h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle c
                        && !c.getNonMaterializedStateHandles().isEmpty()
                        && c.getNonMaterializedStateHandles().get(0)
                                instanceof org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl) {
                    both[subtask] = c;
                }
            }
            if (both[subtask] == null) {
                return false;
            }
        }
        var own = (org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl)
                both[0].getNonMaterializedStateHandles().get(0);
        var other = (org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl)
                both[1].getNonMaterializedStateHandles().get(0);
        List<org.apache.flink.api.java.tuple.Tuple2<org.apache.flink.runtime.state.StreamStateHandle, Long>> sets =
                new java.util.ArrayList<>(own.getHandlesAndOffsets());
        sets.set(0, other.getHandlesAndOffsets().get(0));
        List<org.apache.flink.runtime.state.changelog.ChangelogStateHandle> nonMaterialized =
                new java.util.ArrayList<>(both[0].getNonMaterializedStateHandles());
        nonMaterialized.set(0, new org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl(sets,
                own.getKeyGroupRange(), own.getStateSize(), own.getCheckpointedSize(), own.getStorageIdentifier()));
        var handle = new org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl(
                both[0].getMaterializedStateHandles(), nonMaterialized, both[0].getKeyGroupRange(), both[0].getCheckpointId(),
                both[0].getMaterializationID(), both[0].getCheckpointedSize());
        org.apache.flink.runtime.checkpoint.OperatorSubtaskState s0 = op.getState(0);
        copy.putState(0, s0.toBuilder().setManagedKeyedState(handle).build());
        return true;
    }

    /**
     * Resumes from {@code retained} on a host without local copies; the job finishes with exact
     * state. In claim mode: without materialization the changelog backend cannot take the full
     * snapshot that Flink's default (no claim) demands first.
     */
    private void resumesExactlyOnAFreshHost(MiniCluster cluster, String dir, String retained, Map<String, String> options,
            RecoveryJob.Settings s) throws Exception {
        initializeFileSystems(fileSystemConfig(S3.server(), freshHostTier));
        Map<String, String> claiming = new java.util.HashMap<>(options);
        claiming.put("execution.state-recovery.claim-mode", "CLAIM");
        RecoveryTestSupport.resumesExactly(cluster, dir, retained, claiming, s, output);
    }
}
