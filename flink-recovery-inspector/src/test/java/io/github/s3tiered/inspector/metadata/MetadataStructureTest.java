package io.github.s3tiered.inspector.metadata;

import io.github.s3tiered.inspector.metadata.MetadataStructure.Field;
import io.github.s3tiered.inspector.metadata.MetadataStructure.Kind;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CheckpointProperties;
import org.apache.flink.runtime.checkpoint.CheckpointRetentionPolicy;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.FinishedOperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.FullyFinishedOperatorState;
import org.apache.flink.runtime.checkpoint.MasterState;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.StateObjectCollection;
import org.apache.flink.runtime.checkpoint.channel.InputChannelInfo;
import org.apache.flink.runtime.checkpoint.channel.ResultSubpartitionInfo;
import org.apache.flink.runtime.checkpoint.filemerging.LogicalFile;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.checkpoint.metadata.MetadataSerializer;
import org.apache.flink.runtime.checkpoint.metadata.MetadataSerializers;
import org.apache.flink.runtime.checkpoint.metadata.MetadataV2V3SerializerBase;
import org.apache.flink.runtime.checkpoint.metadata.MetadataV3Serializer;
import org.apache.flink.runtime.checkpoint.metadata.MetadataV4Serializer;
import org.apache.flink.runtime.checkpoint.metadata.MetadataV5Serializer;
import org.apache.flink.runtime.checkpoint.metadata.MetadataV6Serializer;
import org.apache.flink.runtime.jobgraph.OperatorID;
import org.apache.flink.runtime.state.AbstractMergedChannelStateHandle;
import org.apache.flink.runtime.state.CheckpointedStateScope;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.InputChannelStateHandle;
import org.apache.flink.runtime.state.InputStateHandle;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.MergedInputChannelStateHandle;
import org.apache.flink.runtime.state.MergedResultSubpartitionStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle.StateMetaInfo;
import org.apache.flink.runtime.state.OperatorStreamStateHandle;
import org.apache.flink.runtime.state.OutputStateHandle;
import org.apache.flink.runtime.state.ResultSubpartitionStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle.ChangelogStateBackendHandleImpl;
import org.apache.flink.runtime.state.changelog.ChangelogStateHandleStreamImpl;
import org.apache.flink.runtime.state.changelog.SequenceNumber;
import org.apache.flink.runtime.state.changelog.StateChange;
import org.apache.flink.runtime.state.changelog.inmemory.InMemoryChangelogStateHandle;
import org.apache.flink.runtime.state.filemerging.DirectoryStreamStateHandle;
import org.apache.flink.runtime.state.filemerging.EmptyFileMergingOperatorStreamStateHandle;
import org.apache.flink.runtime.state.filemerging.EmptySegmentFileStateHandle;
import org.apache.flink.runtime.state.filemerging.FileMergingOperatorStreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.filesystem.RelativeFileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/**
 * The walk against metadata written by Flink's own serializers (every version Flink 2.3 reads, every
 * handle type), against every count and length set to an extreme, and against random damage. Flink's reader
 * only ever sees bytes the walk accepted.
 */
class MetadataStructureTest {

    private static final long CHECKPOINT_ID = 42;
    /** "A few milliseconds"; rejections take microseconds, the rest is slack for a loaded build machine. */
    private static final long REJECTION_BUDGET_NANOS = 20_000_000L;
    private static final long READ_BUDGET_NANOS = 2_000_000_000L;

    @TempDir
    static java.nio.file.Path tempDir;

    /** The checkpoint directory Flink resolves relative handles against; it needs a _metadata file. */
    private static String pointer;

    /** Valid files, by a short name, all walked once so that timings below are of warm code. */
    private static final Map<String, byte[]> FILES = new LinkedHashMap<>();

    @BeforeAll
    static void writeFiles() throws Exception {
        java.nio.file.Path dir = Files.createDirectories(tempDir.resolve("chk-" + CHECKPOINT_ID));
        Files.createFile(dir.resolve("_metadata"));
        pointer = dir.toUri().toString();

        FILES.put("v2", new V2Writer().write(metadata(2, savepoint())));
        FILES.put("v3", write(metadata(3, null), MetadataV3Serializer.INSTANCE));
        FILES.put("v4", write(metadata(4, savepoint()), MetadataV4Serializer.INSTANCE));
        FILES.put("v5", write(metadata(5, checkpoint()), MetadataV5Serializer.INSTANCE));
        FILES.put("v6", write(metadata(6, checkpoint()), MetadataV6Serializer.INSTANCE));
        FILES.put("v6-legacy-keyed-handles", legacyKeyedHandles());
        for (byte[] file : FILES.values()) {
            MetadataStructure.walk(file).fields();
        }
    }

    // ------------------------------------------------------------------------
    //  valid files
    // ------------------------------------------------------------------------

    @Test
    void acceptsWhatFlinkWritesAndFlinkReadsItBack() throws Exception {
        for (Map.Entry<String, byte[]> file : FILES.entrySet()) {
            byte[] bytes = file.getValue();
            MetadataStructure walked = MetadataStructure.walk(bytes);
            List<Field> fields = walked.fields();

            assertThat(walked.version()).as(file.getKey()).isEqualTo(file.getKey().charAt(1) - '0');
            assertThat(walked.checkpointId()).isEqualTo(CHECKPOINT_ID);
            assertThat(walked.trailingBytes()).as(file.getKey()).isZero();
            assertThat(fields).as(file.getKey()).isNotEmpty();
            for (int i = 0; i < fields.size(); i++) {
                Field f = fields.get(i);
                assertThat(f.offset() + f.width()).isLessThanOrEqualTo(bytes.length);
                if (i > 0) {
                    Field previous = fields.get(i - 1);
                    assertThat(f.offset()).isGreaterThanOrEqualTo(previous.offset() + previous.width());
                }
            }

            CheckpointMetadata read = flinkRead(bytes);
            assertThat(read.getCheckpointId()).isEqualTo(CHECKPOINT_ID);
            assertThat(read.getMasterStates()).hasSize(2);
            assertThat(read.getOperatorStates()).isNotEmpty();
            unmergeChannelState(read);
            assertFlinkReadsSafely(bytes, file.getKey());
        }
    }

    @Test
    void everyHandleTypeOfFlinkIsCovered() throws Exception {
        Map<String, Set<Integer>> tags = new TreeMap<>();
        for (byte[] bytes : FILES.values()) {
            for (Field f : MetadataStructure.walk(bytes).fields()) {
                if (f.kind() == Kind.TYPE_TAG && f.width() == 1) {
                    tags.computeIfAbsent(f.name(), k -> new TreeSet<>()).add(bytes[f.offset()] & 0xff);
                }
            }
        }
        assertThat(tags).containsEntry("stream state handle type", Set.of(0, 1, 2, 3, 6, 15, 16));
        assertThat(tags).containsEntry("keyed state handle type", Set.of(0, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14));
        // Flink guards operator state handles with a presence flag, so it never writes their null tag
        assertThat(tags).containsEntry("operator state handle type", Set.of(4, 17));
        assertThat(tags).containsEntry("channel state handle type", Set.of(1, 2, 3, 4));
    }

    @Test
    void changelogHandlesAreToldWithoutFlinksReader() throws Exception {
        for (Map.Entry<String, byte[]> file : FILES.entrySet()) {
            boolean changelog = false;
            for (org.apache.flink.runtime.checkpoint.OperatorState op : flinkRead(file.getValue()).getOperatorStates()) {
                for (OperatorSubtaskState st : op.getStates()) {
                    for (org.apache.flink.runtime.state.KeyedStateHandle h : st.getManagedKeyedState()) {
                        changelog |= h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle
                                || h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
                    }
                    for (org.apache.flink.runtime.state.KeyedStateHandle h : st.getRawKeyedState()) {
                        changelog |= h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateBackendHandle
                                || h instanceof org.apache.flink.runtime.state.changelog.ChangelogStateHandle;
                    }
                }
            }
            assertThat(MetadataStructure.walk(file.getValue()).hasChangelogHandles()).as(file.getKey()).isEqualTo(changelog);
        }
        assertThat(FILES.values()).anyMatch(b -> {
            try {
                return MetadataStructure.walk(b).hasChangelogHandles();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    @Test
    void legacyKeyedHandlesReadAsFlinkReadsThem() throws Exception {
        CheckpointMetadata read = flinkRead(FILES.get("v6-legacy-keyed-handles"));
        Map<Integer, OperatorSubtaskState> subtasks = read.getOperatorStates().iterator().next().getSubtaskStates();
        assertThat(managedKeyed(subtasks.get(0))).isExactlyInstanceOf(KeyGroupsStateHandle.class);
        assertThat(managedKeyed(subtasks.get(1))).isExactlyInstanceOf(IncrementalRemoteKeyedStateHandle.class);
        assertThat(managedKeyed(subtasks.get(2))).isExactlyInstanceOf(ChangelogStateBackendHandleImpl.class);
        assertThat(managedKeyed(subtasks.get(3))).isExactlyInstanceOf(ChangelogStateHandleStreamImpl.class);
    }

    @Test
    void bytesAfterTheMetadataAreReportedNotRejected() throws Exception {
        for (String name : List.of("v2", "v3", "v6")) {
            byte[] original = FILES.get(name);
            byte[] padded = Arrays.copyOf(original, original.length + 17);
            Arrays.fill(padded, original.length, padded.length, (byte) 0x7F);

            MetadataStructure walked = MetadataStructure.walk(padded);

            assertThat(walked.trailingBytes()).as(name).isEqualTo(17);
            assertThat(flinkRead(padded).getCheckpointId()).isEqualTo(CHECKPOINT_ID);
            assertFlinkReadsSafely(padded, name + " with 17 bytes appended"); // consumes exactly the original
        }
    }

    @Test
    void everyTruncationIsRejected() {
        for (Map.Entry<String, byte[]> file : FILES.entrySet()) {
            byte[] bytes = file.getValue();
            for (int length = 0; length < bytes.length; length++) {
                byte[] prefix = Arrays.copyOf(bytes, length);
                assertThatThrownBy(() -> MetadataStructure.walk(prefix))
                        .as("%s cut to %d bytes", file.getKey(), length)
                        .isInstanceOf(IOException.class)
                        .hasMessageStartingWith("_metadata byte ");
            }
        }
    }

    // ------------------------------------------------------------------------
    //  damaged files
    // ------------------------------------------------------------------------

    @Test
    void messageNamesTheOffsetAndTheField() throws Exception {
        byte[] bytes = FILES.get("v6").clone();
        Field shared = field(bytes, "number of shared state handles");
        put(bytes, shared, Integer.MAX_VALUE);

        assertThatThrownBy(() -> MetadataStructure.walk(bytes))
                .isInstanceOf(IOException.class)
                .hasMessageMatching("_metadata byte " + shared.offset() + ": number of shared state handles 2147483647"
                        + " cannot fit in the remaining \\d+ bytes \\(each needs at least 3\\)");
    }

    @Test
    void aFullyFinishedOperatorIsMarkedOnlyAsFlinkMarksIt() throws Exception {
        byte[] intact = FILES.get("v6");
        Field finished = MetadataStructure.walk(intact).fields().stream()
                .filter(f -> f.name().equals("number of subtask states"))
                .filter(f -> java.nio.ByteBuffer.wrap(intact, f.offset(), 4).getInt() == -1)
                .findFirst().orElseThrow();
        // Flink's reader takes any negative count for "fully finished"; its writer writes -1 only
        for (int count : new int[] {Integer.MIN_VALUE, -2}) {
            byte[] bytes = intact.clone();
            put(bytes, finished, count);
            assertThatThrownBy(() -> MetadataStructure.walk(bytes)).isInstanceOf(IOException.class)
                    .hasMessageContaining("number of subtask states " + count + ": Flink writes -1");
        }
    }

    @Test
    void extremeCountsAndLengthsAreRejectedQuicklyOrReadSafely() throws Exception {
        int mutations = 0;
        int rejected = 0;
        List<Long> rejectionNanos = new ArrayList<>();
        Set<String> acceptedFields = new TreeSet<>();
        for (Map.Entry<String, byte[]> file : FILES.entrySet()) {
            byte[] original = file.getValue();
            for (Field f : MetadataStructure.walk(original).fields()) {
                if (f.kind() != Kind.COUNT && f.kind() != Kind.LENGTH && f.kind() != Kind.PARALLELISM) {
                    continue;
                }
                int[] values = f.width() == 2
                        ? new int[] {0x7FFF, 0xFFFF, 0x8000, 0}
                        : new int[] {Integer.MAX_VALUE, Integer.MIN_VALUE, -1, 0, 0x7FFF};
                for (int value : values) {
                    byte[] mutated = original.clone();
                    put(mutated, f, value);
                    mutations++;
                    try {
                        MetadataStructure.walk(mutated);
                    } catch (IOException e) {
                        assertThat(e).hasMessageStartingWith("_metadata byte ");
                        long took = rejectionNanos(mutated);
                        rejectionNanos.add(took);
                        assertThat(took).as("rejecting %s = %d in %s", f, value, file.getKey())
                                .isLessThan(REJECTION_BUDGET_NANOS);
                        rejected++;
                        continue;
                    }
                    acceptedFields.add(f.name() + "=" + value);
                    assertFlinkReadsSafely(mutated, file.getKey() + " " + f + " = " + value);
                }
            }
        }
        rejectionNanos.sort(null);
        System.out.printf("extreme values: %d mutations, %d rejected (median %.3f ms, 99th percentile %.3f ms,"
                + " slowest %.2f ms), %d accepted and read by Flink: %s%n", mutations, rejected,
                rejectionNanos.get(rejected / 2) / 1e6, rejectionNanos.get(rejected * 99 / 100) / 1e6,
                rejectionNanos.get(rejected - 1) / 1e6, mutations - rejected, acceptedFields);
        assertThat(mutations).isGreaterThan(500);
        assertThat(mutations - rejected).isPositive();
        // only a key-group range allocates nothing by its size; every other count or length that big is refused
        assertThat(acceptedFields)
                .filteredOn(s -> s.endsWith("=2147483647") && !s.startsWith("number of key groups="))
                .allMatch(s -> s.startsWith("max parallelism="));
    }

    /**
     * Random damage with a fixed seed: flipped bits, random bytes, and (for a quarter of the changes) a field
     * the walk reports set to an edge value. {@code -Dmetadata.fuzz.mutations} and {@code -Dmetadata.fuzz.seed}
     * run a longer or different campaign.
     */
    @Test
    void randomDamageNeverReachesFlinkUnsafely() throws Exception {
        long seed = Long.getLong("metadata.fuzz.seed", 0x5EED_2026L);
        int mutations = Integer.getInteger("metadata.fuzz.mutations", 4000);
        Random random = new Random(seed);
        List<Map.Entry<String, byte[]>> bases = new ArrayList<>(FILES.entrySet());
        Map<String, List<Field>> fields = new HashMap<>();
        for (Map.Entry<String, byte[]> base : bases) {
            fields.put(base.getKey(), MetadataStructure.walk(base.getValue()).fields());
        }
        byte[] interestingBytes = {0, 1, 3, 17, (byte) 0x7F, (byte) 0x80, (byte) 0xFF};
        int[] interestingInts = {
            0, 1, 2, -1, -2, 3, 8, 0x7F, 0x7FFF, 0xFFFF, 0x10000, Integer.MAX_VALUE, Integer.MIN_VALUE
        };
        int accepted = 0;
        int readByFlink = 0;
        long slowestRead = 0;
        long start = System.nanoTime();
        for (int i = 0; i < mutations; i++) {
            Map.Entry<String, byte[]> base = bases.get(i % bases.size());
            byte[] mutated = base.getValue().clone();
            int changes = 1 + random.nextInt(3);
            for (int c = 0; c < changes; c++) {
                int at = random.nextInt(mutated.length);
                switch (random.nextInt(4)) {
                    case 0 -> mutated[at] ^= (byte) (1 << random.nextInt(8));
                    case 1 -> mutated[at] = (byte) random.nextInt(256);
                    case 2 -> mutated[at] = interestingBytes[random.nextInt(interestingBytes.length)];
                    default -> {
                        List<Field> known = fields.get(base.getKey());
                        int value = random.nextBoolean()
                                ? interestingInts[random.nextInt(interestingInts.length)]
                                : random.nextInt(64) - 8;
                        put(mutated, known.get(random.nextInt(known.size())), value);
                    }
                }
            }
            try {
                MetadataStructure.walk(mutated);
            } catch (IOException rejected) {
                assertThat(rejected).hasMessageStartingWith("_metadata byte ");
                continue;
            }
            accepted++;
            long readStart = System.nanoTime();
            if (assertFlinkReadsSafely(mutated, base.getKey() + " mutation " + i + " of seed " + seed)) {
                readByFlink++;
            }
            slowestRead = Math.max(slowestRead, System.nanoTime() - readStart);
        }
        long took = System.nanoTime() - start;
        System.out.printf("fuzz (seed %d): %d mutations in %.0f ms; the walk accepted %d, of which Flink's reader"
                + " read %d to the same end and threw on %d (slowest read %.1f ms)%n", seed, mutations, took / 1e6,
                accepted, readByFlink, accepted - readByFlink, slowestRead / 1e6);
        assertThat(took).isLessThan(10_000_000_000L * Math.max(1, mutations / 4000));
    }

    @Test
    void malformedStringsAndOrdinalsAreRejected() {
        assertRejected("v6", "operator name",
                bytes -> bytes[field(bytes, "length of operator name").offset() + 2] = (byte) 0xC0,
                "operator name is not modified UTF-8");
        assertRejected("v6", "distribution mode", bytes -> bytes[field(bytes, "distribution mode").offset()] = 3,
                "distribution mode 3 is not an OperatorStateHandle.Mode ordinal");
        assertRejected("v6", "state scope", bytes -> put(bytes, field(bytes, "state scope"), 2),
                "state scope 2 is not a CheckpointedStateScope ordinal");
        assertRejected("v6", "magic", bytes -> bytes[0] = 0, "not a Flink checkpoint metadata file");
        assertRejected("v6", "version", bytes -> bytes[7] = 7, "format version 7 is not one Flink 2.3 reads");
        assertRejected("v6", "version", bytes -> bytes[7] = 1, "version 1 is Flink 1.1/1.2");
        assertRejected("v6", "keyed tag", bytes -> bytes[field(bytes, "keyed state handle type").offset()] = 18,
                "has unknown keyed state handle type 18");
    }

    @Test
    void deeplyNestedHandlesAreRejectedWithoutOverflowingTheStack() throws Exception {
        byte[] shallow = nestedKeyGroupsDelegates(MetadataWalker.MAX_NESTING - 1);
        MetadataStructure.walk(shallow);
        assertFlinkReadsSafely(shallow, "nested " + (MetadataWalker.MAX_NESTING - 1));

        byte[] deep = nestedKeyGroupsDelegates(200_000);
        assertThatThrownBy(() -> MetadataStructure.walk(deep))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("nested 17 handles deep");
        assertThat(rejectionNanos(deep)).isLessThan(REJECTION_BUDGET_NANOS);
    }

    @Test
    void parallelismThatNoBytesBackIsCapped() throws Exception {
        byte[] some = write(highParallelismOperators(16), MetadataV6Serializer.INSTANCE);
        MetadataStructure.walk(some);
        assertFlinkReadsSafely(some, "16 operators of parallelism 32768");

        byte[] many = write(highParallelismOperators(64), MetadataV6Serializer.INSTANCE);
        assertThatThrownBy(() -> MetadataStructure.walk(many))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("brings the parallelism of operators with subtask states to");
    }

    // ------------------------------------------------------------------------
    //  the Java-serialized properties of version 4 and later
    // ------------------------------------------------------------------------

    @Test
    void propertiesTailIsTheSerializedPropertiesAndPasses() throws Exception {
        byte[] file = FILES.get("v6");
        byte[] properties = javaSerialize(checkpoint());
        assertThat(Arrays.copyOfRange(file, file.length - properties.length, file.length)).isEqualTo(properties);

        byte[] nullProperties = withPropertiesTail(javaSerialize(null));
        assertThat(MetadataStructure.walk(nullProperties).trailingBytes()).isZero();
        assertThat(flinkRead(nullProperties).getCheckpointProperties()).isNull();
    }

    @Test
    void hostilePropertiesAreRejected() throws Exception {
        assertPropertiesRejected(javaSerialize(new ArrayList<>(List.of("x"))), "java.util.ArrayList");
        assertPropertiesRejected(javaSerialize(new OperatorID()), "OperatorID");
        assertPropertiesRejected(javaSerialize(new HashMap<>(Map.of("k", checkpoint()))), "java.util.HashMap");
        // an allowed class, but not a CheckpointProperties: Flink's cast would fail
        assertPropertiesRejected(javaSerialize(SavepointFormatType.NATIVE), "not a CheckpointProperties");
        // an array whose length says 2^31-1: rejected before anything is allocated
        byte[] array = javaSerialize(new long[0]);
        ByteBuffer.wrap(array).putInt(array.length - 4, Integer.MAX_VALUE);
        assertPropertiesRejected(array, "checkpoint properties");
        // a chain of objects nested beyond the depth limit, built from allowed-looking data
        assertPropertiesRejected(javaSerialize(new Nest(new Nest(new Nest(new Nest(null))))), "Nest");
        assertPropertiesRejected(new byte[] {1, 2, 3, 4, 5}, "checkpoint properties");
        assertPropertiesRejected(new byte[0], "missing");
    }

    // ------------------------------------------------------------------------
    //  Flink changes that the walk must follow
    // ------------------------------------------------------------------------

    @Test
    void walkKnowsExactlyFlinksTypeTags() throws Exception {
        assertThat(walkerConstants(flinkConstants(MetadataV2V3SerializerBase.class, byte.class)))
                .isEqualTo(flinkConstants(MetadataV2V3SerializerBase.class, byte.class));
        Class<?> channelSerializer = Class.forName(
                "org.apache.flink.runtime.checkpoint.metadata.ChannelStateHandleSerializerV2");
        assertThat(walkerConstants(flinkConstants(channelSerializer, byte.class)))
                .isEqualTo(flinkConstants(channelSerializer, byte.class));
        assertThat(flinkConstants(MetadataV2V3SerializerBase.class, int.class))
                .containsEntry("MASTER_STATE_MAGIC_NUMBER", MetadataWalker.MASTER_STATE_MAGIC_NUMBER);
    }

    @Test
    void walkKnowsExactlyFlinksVersions() {
        for (int version = MetadataWalker.OLDEST_VERSION; version <= MetadataWalker.NEWEST_VERSION; version++) {
            assertThat(MetadataSerializers.getSerializer(version).getVersion()).isEqualTo(version);
        }
        assertThatThrownBy(() -> MetadataSerializers.getSerializer(MetadataWalker.NEWEST_VERSION + 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(Checkpoints.HEADER_MAGIC_NUMBER).isEqualTo(0x4960672d);
    }

    // ------------------------------------------------------------------------
    //  metadata built with Flink's classes
    // ------------------------------------------------------------------------

    private static CheckpointProperties checkpoint() {
        return CheckpointProperties.forCheckpoint(CheckpointRetentionPolicy.RETAIN_ON_CANCELLATION);
    }

    private static CheckpointProperties savepoint() {
        return CheckpointProperties.forSyncSavepoint(true, true, SavepointFormatType.NATIVE);
    }

    /**
     * Every handle type that Flink's writer of {@code version} can write. Version 2 has neither coordinator
     * nor channel state nor fully finished operators; versions 3 to 5 write channel state without merging.
     */
    private static CheckpointMetadata metadata(int version, CheckpointProperties properties) {
        List<MasterState> masters = masterStates();

        OperatorState source = new OperatorState("Source: numbers", "source-uid", new OperatorID(1, 2), 5, 128);
        source.setCoordinatorState(new ByteStreamStateHandle("coordinator", bytes(9)));
        source.putState(0, OperatorSubtaskState.builder()
                .setManagedOperatorState(new OperatorStreamStateHandle(partitions(), file("op-0", 64)))
                .setRawOperatorState(new FileMergingOperatorStreamStateHandle(dir("taskowned"), dir("shared"),
                        partitions(), segment("op-raw-0")))
                .setManagedKeyedState(new KeyGroupsStateHandle(new KeyGroupRangeOffsets(0, 3, new long[] {0, 1, 2, 3}),
                        relative("kg-0")))
                .setRawKeyedState(new KeyGroupsSavepointStateHandle(new KeyGroupRangeOffsets(4, 5, new long[] {0, 7}),
                        stream("savepoint-kg")))
                .setInputChannelState(inputChannels(version))
                .setResultSubpartitionState(outputChannels(version))
                .build());
        source.putState(1, OperatorSubtaskState.builder()
                .setManagedKeyedState(incremental("1"))
                .setRawOperatorState(new EmptyFileMergingOperatorStreamStateHandle(dir("taskowned"), dir("shared"),
                        Map.of(), EmptySegmentFileStateHandle.INSTANCE))
                .build());
        source.putState(2, OperatorSubtaskState.builder()
                .setManagedKeyedState(changelog())
                .setManagedOperatorState(new OperatorStreamStateHandle(partitions(),
                        new KeyGroupsStateHandle(new KeyGroupRangeOffsets(0, 1, new long[] {0, 10}),
                                file("kg-stream", 20))))
                .build());
        source.putState(3, FinishedOperatorSubtaskState.INSTANCE);

        OperatorState unnamed = new OperatorState(null, null, new OperatorID(3, 4), 1, 1);
        unnamed.putState(0, OperatorSubtaskState.builder().build());

        List<OperatorState> operators = new ArrayList<>(List.of(source, unnamed));
        if (version >= 3) {
            operators.add(new FullyFinishedOperatorState("Sink: done", "sink-uid", new OperatorID(5, 6), 2, 128));
        }
        return new CheckpointMetadata(CHECKPOINT_ID, operators, masters, properties);
    }

    private static List<MasterState> masterStates() {
        return List.of(new MasterState("hook-a", bytes(5), 1), new MasterState("hook-b", new byte[0], 2));
    }

    private static StateObjectCollection<InputStateHandle> inputChannels(int version) {
        List<InputStateHandle> handles = new ArrayList<>();
        handles.add(new InputChannelStateHandle(0, new InputChannelInfo(0, 1), file("in-0", 64), List.of(0L, 32L), 64));
        if (version >= 6) {
            StreamStateHandle shared = file("in-merged", 96);
            handles.add(MergedInputChannelStateHandle.fromChannelHandles(List.of(
                    new InputChannelStateHandle(0, new InputChannelInfo(0, 2), shared, List.of(0L, 16L), 32),
                    new InputChannelStateHandle(0, new InputChannelInfo(1, 0), shared, List.of(32L), 64))));
        }
        return new StateObjectCollection<>(handles);
    }

    private static StateObjectCollection<OutputStateHandle> outputChannels(int version) {
        List<OutputStateHandle> handles = new ArrayList<>();
        handles.add(new ResultSubpartitionStateHandle(0, new ResultSubpartitionInfo(0, 0), stream("out-0"),
                List.of(0L), 3));
        if (version >= 6) {
            StreamStateHandle shared = relative("out-merged");
            handles.add(MergedResultSubpartitionStateHandle.fromChannelHandles(List.of(
                    new ResultSubpartitionStateHandle(0, new ResultSubpartitionInfo(0, 1), shared, List.of(0L), 10),
                    new ResultSubpartitionStateHandle(0, new ResultSubpartitionInfo(0, 2), shared, List.of(10L, 20L),
                            32))));
        }
        return new StateObjectCollection<>(handles);
    }

    private static Map<String, StateMetaInfo> partitions() {
        Map<String, StateMetaInfo> partitions = new LinkedHashMap<>();
        partitions.put("split", new StateMetaInfo(new long[] {0, 8}, OperatorStateHandle.Mode.SPLIT_DISTRIBUTE));
        partitions.put("union", new StateMetaInfo(new long[] {16}, OperatorStateHandle.Mode.UNION));
        partitions.put("broadcast", new StateMetaInfo(new long[0], OperatorStateHandle.Mode.BROADCAST));
        return partitions;
    }

    private static IncrementalRemoteKeyedStateHandle incremental(String id) {
        return new IncrementalRemoteKeyedStateHandle(
                new UUID(7, Long.parseLong(id)),
                KeyGroupRange.of(0, 63),
                CHECKPOINT_ID,
                List.of(HandleAndLocalPath.of(file("000010.sst", 1000), "000010.sst"),
                        HandleAndLocalPath.of(segment("000011.sst"), "000011.sst")),
                List.of(HandleAndLocalPath.of(relative("MANIFEST-000004"), "MANIFEST-000004"),
                        HandleAndLocalPath.of(stream("CURRENT"), "CURRENT")),
                stream("meta-" + id),
                2000);
    }

    private static KeyedStateHandle changelog() {
        InMemoryChangelogStateHandle inMemory = new InMemoryChangelogStateHandle(
                List.of(StateChange.ofDataChange(3, bytes(4)), StateChange.ofMetadataChange(bytes(2))),
                SequenceNumber.of(1), SequenceNumber.of(5), KeyGroupRange.of(0, 63));
        ChangelogStateHandleStreamImpl files = new ChangelogStateHandleStreamImpl(
                List.of(Tuple2.of(file("changelog-1", 100), 0L), Tuple2.of(file("changelog-2", 50), 50L)),
                KeyGroupRange.of(0, 63), 150, 150, "filesystem");
        return new ChangelogStateBackendHandleImpl(
                List.of(incremental("2"),
                        new KeyGroupsStateHandle(new KeyGroupRangeOffsets(0, 0, new long[] {5}), file("base", 9))),
                List.of(inMemory, files),
                KeyGroupRange.of(0, 63), CHECKPOINT_ID, 40, 2150);
    }

    private static StreamStateHandle stream(String name) {
        return new ByteStreamStateHandle(name, bytes(3));
    }

    private static StreamStateHandle file(String name, long size) {
        return new FileStateHandle(new Path("file:///checkpoints/job/shared/" + name), size);
    }

    private static StreamStateHandle relative(String name) {
        return new RelativeFileStateHandle(new Path("file:///checkpoints/job/chk-42/" + name), name, 42);
    }

    private static SegmentFileStateHandle segment(String name) {
        return new SegmentFileStateHandle(new Path("file:///checkpoints/job/shared/segment-" + name), 16, 32,
                CheckpointedStateScope.SHARED, new LogicalFile.LogicalFileId(name));
    }

    private static DirectoryStreamStateHandle dir(String name) {
        return DirectoryStreamStateHandle.of(new Path("file:///checkpoints/job/" + name));
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 37 + 1);
        }
        return b;
    }

    private static CheckpointMetadata highParallelismOperators(int operators) {
        List<OperatorState> states = new ArrayList<>();
        for (int i = 0; i < operators; i++) {
            OperatorState state = new OperatorState(null, null, new OperatorID(i, i), 32768, 32768);
            state.putState(0, FinishedOperatorSubtaskState.INSTANCE);
            states.add(state);
        }
        return new CheckpointMetadata(CHECKPOINT_ID, states, List.of(), checkpoint());
    }

    private static byte[] write(CheckpointMetadata metadata, MetadataSerializer serializer) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            if (serializer == MetadataV6Serializer.INSTANCE) {
                Checkpoints.storeCheckpointMetadata(metadata, out);
            } else {
                Checkpoints.storeCheckpointMetadata(metadata, out, serializer);
            }
        }
        return bytes.toByteArray();
    }

    /**
     * Flink 2.3 reads version 2 but no longer writes it. This writer is MetadataV2Serializer's own
     * serializeOperatorState and serializeSubtaskState (still in Flink's source), on Flink's base serializer.
     */
    private static final class V2Writer extends MetadataV2V3SerializerBase {

        byte[] write(CheckpointMetadata metadata) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(Checkpoints.HEADER_MAGIC_NUMBER);
                out.writeInt(2);
                serializeMetadata(metadata, out);
            }
            return bytes.toByteArray();
        }

        @Override
        protected void serializeOperatorState(OperatorState state, DataOutputStream out) throws IOException {
            out.writeLong(state.getOperatorID().getLowerPart());
            out.writeLong(state.getOperatorID().getUpperPart());
            out.writeInt(state.getParallelism());
            out.writeInt(state.getMaxParallelism());
            out.writeInt(1);
            out.writeInt(state.getSubtaskStates().size());
            for (Map.Entry<Integer, OperatorSubtaskState> subtask : state.getSubtaskStates().entrySet()) {
                out.writeInt(subtask.getKey());
                serializeSubtaskState(subtask.getValue(), out);
            }
        }

        @Override
        protected void serializeSubtaskState(OperatorSubtaskState state, DataOutputStream out) throws IOException {
            out.writeLong(-1);
            out.writeInt(0);
            super.serializeSubtaskState(state, out);
        }

        @Override
        protected OperatorState deserializeOperatorState(DataInputStream in, DeserializationContext context) {
            throw new UnsupportedOperationException();
        }
    }

    /**
     * Keyed handle tags 3, 5, 8 and 10 are only written by older Flink versions, but Flink 2.3 still reads
     * them. A V6 file from Flink's writer gets placeholder keyed handles replaced by those encodings, written
     * here exactly as deserializeKeyedStateHandle reads them.
     */
    private static byte[] legacyKeyedHandles() throws IOException {
        OperatorState operator = new OperatorState("legacy", "legacy-uid", new OperatorID(9, 9), 4, 128);
        List<byte[]> placeholders = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            KeyedStateHandle placeholder = new KeyGroupsSavepointStateHandle(
                    new KeyGroupRangeOffsets(0, 0, new long[] {i}),
                    new ByteStreamStateHandle("placeholder-" + i, bytes(1)));
            operator.putState(i, OperatorSubtaskState.builder().setManagedKeyedState(placeholder).build());
            ByteArrayOutputStream encoded = new ByteArrayOutputStream();
            MetadataV3Serializer.INSTANCE.serializeKeyedStateHandleUtil(placeholder,
                    new DataOutputStream(encoded));
            placeholders.add(encoded.toByteArray());
        }
        List<MasterState> masters = masterStates();
        byte[] file = write(new CheckpointMetadata(CHECKPOINT_ID, List.of(operator), masters, checkpoint()),
                MetadataV6Serializer.INSTANCE);

        file = splice(file, placeholders.get(0), encode(out -> legacyKeyGroups(out)));
        file = splice(file, placeholders.get(1), encode(out -> {
            out.writeByte(5);
            out.writeLong(41);
            out.writeUTF("backend id from before FLINK-6964");
            out.writeInt(0);
            out.writeInt(64);
            byteStream(out, "meta", 2);
            out.writeInt(1);
            out.writeUTF("000007.sst");
            fileStream(out, "000007.sst", 700);
            out.writeInt(1);
            out.writeUTF("MANIFEST-000001");
            out.writeByte(6);
            out.writeUTF("MANIFEST-000001");
            out.writeLong(10);
        }));
        file = splice(file, placeholders.get(2), encode(out -> {
            out.writeByte(8);
            out.writeInt(0);
            out.writeInt(64);
            out.writeLong(77);
            out.writeInt(2);
            legacyKeyGroups(out);
            out.writeByte(0); // Flink skips a null materialized handle with a warning
            out.writeInt(1);
            legacyChangelogFile(out);
            out.writeLong(40);
            out.writeUTF("legacy-changelog");
        }));
        return splice(file, placeholders.get(3), encode(MetadataStructureTest::legacyChangelogFile));
    }

    private static void legacyKeyGroups(DataOutputStream out) throws IOException {
        out.writeByte(3);
        out.writeInt(0);
        out.writeInt(2);
        out.writeLong(0);
        out.writeLong(5);
        fileStream(out, "legacy-kg", 10);
    }

    private static void legacyChangelogFile(DataOutputStream out) throws IOException {
        out.writeByte(10);
        out.writeInt(0);
        out.writeInt(64);
        out.writeInt(1);
        out.writeLong(0);
        fileStream(out, "legacy-changelog", 100);
        out.writeLong(100);
        out.writeLong(100);
        out.writeUTF("legacy-changelog-file");
    }

    private static void fileStream(DataOutputStream out, String name, long size) throws IOException {
        out.writeByte(2);
        out.writeLong(size);
        out.writeUTF("file:///checkpoints/job/shared/" + name);
    }

    private static void byteStream(DataOutputStream out, String name, int length) throws IOException {
        out.writeByte(1);
        out.writeUTF(name);
        out.writeInt(length);
        out.write(bytes(length));
    }

    /** A V6 file whose one operator-state delegate is a chain of key-groups stream handles {@code depth} deep. */
    private static byte[] nestedKeyGroupsDelegates(int depth) throws IOException {
        StreamStateHandle placeholder = new ByteStreamStateHandle("nesting-placeholder", bytes(1));
        OperatorState operator = new OperatorState(null, null, new OperatorID(8, 8), 1, 1);
        operator.putState(0, OperatorSubtaskState.builder()
                .setManagedOperatorState(new OperatorStreamStateHandle(partitions(), placeholder))
                .build());
        byte[] file = write(new CheckpointMetadata(CHECKPOINT_ID, List.of(operator), List.of(), checkpoint()),
                MetadataV6Serializer.INSTANCE);
        byte[] encoded = encode(out -> byteStream(out, "nesting-placeholder", 1));
        return splice(file, encoded, encode(out -> {
            for (int i = 0; i < depth; i++) {
                out.writeByte(3);
                out.writeInt(0);
                out.writeInt(1);
                out.writeLong(0);
            }
            byteStream(out, "innermost", 1);
        }));
    }

    // ------------------------------------------------------------------------
    //  helpers
    // ------------------------------------------------------------------------

    /** Flink's reader, as the inspector calls it. */
    private static CheckpointMetadata flinkRead(byte[] bytes) throws IOException {
        return Checkpoints.loadCheckpointMetadata(new DataInputStream(new ByteArrayInputStream(bytes)),
                MetadataStructureTest.class.getClassLoader(), pointer);
    }

    /**
     * Flink's reader on bytes the walk accepted: it may throw anything except running out of memory or stack,
     * and must finish in bounded time; merged channel state is unmerged as a restore would. When it reads the
     * bytes, it must stop exactly where the walk said the metadata ends. Returns whether it read them.
     */
    private static boolean assertFlinkReadsSafely(byte[] bytes, String what) throws IOException {
        int metadataEnd = bytes.length - MetadataStructure.walk(bytes).trailingBytes();
        ByteArrayInputStream source = new ByteArrayInputStream(bytes);
        int consumed = -1;
        long start = System.nanoTime();
        try {
            CheckpointMetadata read = Checkpoints.loadCheckpointMetadata(new DataInputStream(source),
                    MetadataStructureTest.class.getClassLoader(), pointer);
            consumed = bytes.length - source.available();
            unmergeChannelState(read);
        } catch (OutOfMemoryError | StackOverflowError e) {
            fail("Flink's reader failed with " + e + " on bytes the walk accepted: " + what, e);
        } catch (Throwable expected) {
            // IOException, IllegalArgumentException, IllegalStateException, NullPointerException...: all fine
        }
        assertThat(System.nanoTime() - start).as("Flink's reader on %s", what).isLessThan(READ_BUDGET_NANOS);
        if (consumed >= 0) {
            // the walk followed the same path through the bytes as Flink's reader
            assertThat(consumed).as("bytes Flink's reader consumed of %s", what).isEqualTo(metadataEnd);
        }
        return consumed >= 0;
    }

    /** What AbstractMergedChannelStateHandle parses lazily, at restore. */
    private static void unmergeChannelState(CheckpointMetadata metadata) {
        for (OperatorState operator : metadata.getOperatorStates()) {
            for (OperatorSubtaskState subtask : operator.getStates()) {
                Stream.concat(subtask.getInputChannelState().stream(), subtask.getResultSubpartitionState().stream())
                        .filter(h -> h instanceof AbstractMergedChannelStateHandle)
                        .forEach(h -> ((AbstractMergedChannelStateHandle<?, ?>) h).getInfos());
            }
        }
    }

    private static KeyedStateHandle managedKeyed(OperatorSubtaskState subtask) {
        return subtask.getManagedKeyedState().iterator().next();
    }

    private static Field field(byte[] bytes, String name) {
        try {
            return MetadataStructure.walk(bytes).fields().stream()
                    .filter(f -> f.name().equals(name))
                    .findFirst()
                    .orElseThrow(() -> new AssertionError("no field " + name));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void put(byte[] bytes, Field field, int value) {
        for (int i = 0; i < field.width(); i++) {
            bytes[field.offset() + i] = (byte) (value >>> (8 * (field.width() - 1 - i)));
        }
    }

    private interface Mutation {
        void apply(byte[] bytes);
    }

    private static void assertRejected(String file, String what, Mutation mutation, String message) {
        byte[] bytes = FILES.get(file).clone();
        mutation.apply(bytes);
        assertThatThrownBy(() -> MetadataStructure.walk(bytes))
                .as(what)
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("_metadata byte ")
                .hasMessageContaining(message);
    }

    /** Where the properties start in the V6 file. */
    private static int propertiesOffset() throws IOException {
        return FILES.get("v6").length - javaSerialize(checkpoint()).length;
    }

    private static byte[] withPropertiesTail(byte[] tail) throws IOException {
        byte[] file = FILES.get("v6");
        int start = propertiesOffset();
        byte[] replaced = Arrays.copyOf(file, start + tail.length);
        System.arraycopy(tail, 0, replaced, start, tail.length);
        return replaced;
    }

    private static void assertPropertiesRejected(byte[] tail, String message) throws IOException {
        byte[] bytes = withPropertiesTail(tail);
        assertThatThrownBy(() -> MetadataStructure.walk(bytes))
                .isInstanceOf(IOException.class)
                .hasMessageStartingWith("_metadata byte " + propertiesOffset())
                .hasMessageContaining(message);
        assertThat(rejectionNanos(bytes)).isLessThan(REJECTION_BUDGET_NANOS);
    }

    /**
     * How long the walk takes to reject {@code bytes}: the fastest of three tries, so that a garbage
     * collection or a descheduled thread is not mistaken for slow code (slow code is slow every time).
     */
    private static long rejectionNanos(byte[] bytes) {
        long fastest = Long.MAX_VALUE;
        for (int attempt = 0; attempt < 3; attempt++) {
            long start = System.nanoTime();
            try {
                MetadataStructure.walk(bytes);
                fail("the walk accepted bytes it rejected before");
            } catch (IOException expected) {
                fastest = Math.min(fastest, System.nanoTime() - start);
            }
        }
        return fastest;
    }

    private static byte[] javaSerialize(Object object) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(object);
        }
        return bytes.toByteArray();
    }

    /** A serializable chain that the properties filter must refuse. */
    private record Nest(Nest inner) implements Serializable {}

    private interface Encoder {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] encode(Encoder encoder) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            encoder.write(out);
        }
        return bytes.toByteArray();
    }

    private static byte[] splice(byte[] file, byte[] what, byte[] with) {
        int at = -1;
        for (int i = 0; i + what.length <= file.length && at < 0; i++) {
            if (Arrays.equals(file, i, i + what.length, what, 0, what.length)) {
                at = i;
            }
        }
        assertThat(at).as("placeholder found").isNotNegative();
        byte[] out = new byte[file.length - what.length + with.length];
        System.arraycopy(file, 0, out, 0, at);
        System.arraycopy(with, 0, out, at, with.length);
        System.arraycopy(file, at + what.length, out, at + with.length, file.length - at - what.length);
        return out;
    }

    /** The static constants of {@code type} (a Flink class) of the given primitive type, by name. */
    private static Map<String, Integer> flinkConstants(Class<?> type, Class<?> primitive) throws Exception {
        Map<String, Integer> constants = new TreeMap<>();
        for (java.lang.reflect.Field f : type.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == primitive) {
                f.setAccessible(true);
                constants.put(f.getName(), ((Number) f.get(null)).intValue());
            }
        }
        return constants;
    }

    /** The walk's constants with the same names. */
    private static Map<String, Integer> walkerConstants(Map<String, Integer> names) throws Exception {
        Map<String, Integer> constants = new TreeMap<>();
        Set<String> wanted = new HashSet<>(names.keySet());
        for (java.lang.reflect.Field f : MetadataWalker.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class && wanted.contains(f.getName())) {
                constants.put(f.getName(), f.getInt(null));
            }
        }
        return constants;
    }
}
