package io.github.s3tiered.inspector.rehearsal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.memory.DataOutputViewStreamWrapper;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.RegisteredKeyValueStateBackendMetaInfo;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.util.List;

/**
 * A heap backend snapshot as Flink's {@code HeapSnapshotStrategy} lays it out, written here byte by
 * byte: two {@code ValueState<Long>} of the same serializers, every state once in every key group.
 */
class KeyedSnapshotCheckTest {

    private static final int MAX_PARALLELISM = 128;
    private static final KeyGroupRange RANGE = KeyGroupRange.of(0, 3);

    @TempDir java.nio.file.Path dir;

    @Test
    void aHeapSnapshotIsDecodedAndAStateIdNamedTwiceInAKeyGroupIsNot() throws Exception {
        KeyedSnapshotCheck check = new KeyedSnapshotCheck(new RehearsalContext(getClass().getClassLoader(), true, dir, "_metadata"));
        assertThat(check.check(heapSnapshot("intact", false), MAX_PARALLELISM)).isEqualTo("hashmap backend snapshot");

        // the second state's id in key group 2 changed to the first's: Flink would restore the
        // second state's entries of that key group into the first state
        assertThatThrownBy(() -> check.check(heapSnapshot("damaged", true), MAX_PARALLELISM))
                .isInstanceOf(StateDecodingException.class)
                .hasMessageContaining("key group 2 names state id 0 ('first') twice");
    }

    private KeyGroupsStateHandle heapSnapshot(String name, boolean secondStateNamedAsFirstInGroup2) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputViewStreamWrapper out = new DataOutputViewStreamWrapper(bytes);
        new KeyedBackendSerializationProxy<>(LongSerializer.INSTANCE, List.of(
                valueState("first").snapshot(), valueState("second").snapshot()), false).write(out);
        long[] offsets = new long[RANGE.getNumberOfKeyGroups()];
        for (int kg = RANGE.getStartKeyGroup(); kg <= RANGE.getEndKeyGroup(); kg++) {
            offsets[kg - RANGE.getStartKeyGroup()] = bytes.size();
            out.writeInt(kg);
            long key = keyIn(kg);
            for (int state = 0; state < 2; state++) {
                out.writeShort(secondStateNamedAsFirstInGroup2 && kg == 2 && state == 1 ? 0 : state);
                out.writeInt(1); // entries of this state in this key group
                VoidNamespaceSerializer.INSTANCE.serialize(VoidNamespace.INSTANCE, out);
                LongSerializer.INSTANCE.serialize(key, out);
                LongSerializer.INSTANCE.serialize(1000L * state + kg, out);
            }
        }
        java.nio.file.Path file = Files.write(dir.resolve(name), bytes.toByteArray());
        return new KeyGroupsStateHandle(new KeyGroupRangeOffsets(RANGE, offsets),
                new FileStateHandle(new Path(file.toUri()), Files.size(file)));
    }

    private static RegisteredKeyValueStateBackendMetaInfo<VoidNamespace, Long> valueState(String name) {
        return new RegisteredKeyValueStateBackendMetaInfo<>(StateDescriptor.Type.VALUE, name,
                VoidNamespaceSerializer.INSTANCE, LongSerializer.INSTANCE);
    }

    /** A key Flink assigns to this key group. */
    private static long keyIn(int keyGroup) {
        for (long k = 0; ; k++) {
            if (KeyGroupRangeAssignment.assignToKeyGroup(k, MAX_PARALLELISM) == keyGroup) {
                return k;
            }
        }
    }

    /** A job's type in state: its class is the job's, which the inspector has only when given the job's jar. */
    public static final class Event {
        public long id;
        public String name;

        public Event() {}
    }

    /** The test's class loader but for {@link Event}: the inspector's without the job's jar. */
    private static final class WithoutTheJobsClasses extends ClassLoader {
        WithoutTheJobsClasses() {
            super(KeyedSnapshotCheckTest.class.getClassLoader());
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.equals(Event.class.getName())) {
                throw new ClassNotFoundException(name);
            }
            return super.loadClass(name, resolve);
        }
    }

    @Test
    void withoutTheJobsClassesTheStateIsNotDecodedWhichIsNoDamage() throws Exception {
        RehearsalContext ctx = new RehearsalContext(new WithoutTheJobsClasses(), false, dir, "_metadata");
        Throwable notDecoded = org.assertj.core.api.Assertions.catchThrowable(
                () -> new KeyedSnapshotCheck(ctx).check(heapSnapshotWithAJobType("intact", -1), MAX_PARALLELISM));
        assertThat(DecodingFailures.classify("keyed state", notDecoded, ctx).damage()).as("the job's class is missing here")
                .isFalse();
        // and with the job's classes the same bytes decode
        assertThat(new KeyedSnapshotCheck(new RehearsalContext(getClass().getClassLoader(), true, dir, "_metadata"))
                .check(heapSnapshotWithAJobType("intact-too", -1), MAX_PARALLELISM)).isEqualTo("hashmap backend snapshot");
    }

    @Test
    void aFullSnapshotWithEveryKeyGroupFilledIsNotTakenForAHeapSnapshot() throws Exception {
        // FullSnapshotAsyncWriter starts each key group with a state id (short) and a key's length
        // (int): for state id 0 and a short key the first 4 bytes read as the int 0, key group 0's id
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        DataOutputViewStreamWrapper out = new DataOutputViewStreamWrapper(bytes);
        new KeyedBackendSerializationProxy<>(LongSerializer.INSTANCE, List.of(valueState("count").snapshot()), false)
                .write(out);
        long[] offsets = new long[RANGE.getNumberOfKeyGroups()];
        for (int kg = RANGE.getStartKeyGroup(); kg <= RANGE.getEndKeyGroup(); kg++) {
            offsets[kg - RANGE.getStartKeyGroup()] = bytes.size();
            out.writeShort(0); // the state's id
            org.apache.flink.core.memory.DataOutputSerializer key = new org.apache.flink.core.memory.DataOutputSerializer(32);
            key.writeByte(kg); // the key-group prefix, one byte for max parallelism 128
            LongSerializer.INSTANCE.serialize(keyIn(kg), key);
            VoidNamespaceSerializer.INSTANCE.serialize(VoidNamespace.INSTANCE, key);
            byte[] k = key.getCopyOfBuffer();
            k[0] |= (byte) 0x80; // the last key of its key group: the meta data follows
            out.writeInt(k.length);
            out.write(k);
            org.apache.flink.core.memory.DataOutputSerializer value = new org.apache.flink.core.memory.DataOutputSerializer(16);
            LongSerializer.INSTANCE.serialize(7L, value);
            byte[] v = value.getCopyOfBuffer();
            out.writeInt(v.length);
            out.write(v);
            out.writeShort(0xFFFF); // end of the key group
        }
        java.nio.file.Path file = Files.write(dir.resolve("full"), bytes.toByteArray());
        KeyGroupsStateHandle full = new KeyGroupsStateHandle(new KeyGroupRangeOffsets(RANGE, offsets),
                new FileStateHandle(new Path(file.toUri()), Files.size(file)));

        assertThat(new KeyedSnapshotCheck(new RehearsalContext(getClass().getClassLoader(), true, dir, "_metadata"))
                .check(full, MAX_PARALLELISM)).isEqualTo("full snapshot");
    }

    @Test
    void aUnitNotDecodedForAMissingClassOfTheJobIsAShortfallNotAProof() {
        RehearsalContext ctx = new RehearsalContext(new WithoutTheJobsClasses(), false, dir, "_metadata");
        Findings findings = new Findings();
        new RestoreRehearsal.Unit("operator x subtask 0 keyed state") {
            @Override
            void rehearse(LocalFiles local, RehearsalContext c, Findings f) throws Exception {
                throw new ClassNotFoundException(Event.class.getName());
            }
        }.run(p -> { throw new AssertionError(p); }, ctx, findings);

        assertThat(findings.failures()).isEmpty();
        assertThat(findings.shortfalls()).singleElement().satisfies(s -> {
            assertThat(s.files()).containsExactly("_metadata");
            assertThat(s.reason()).contains("needs class " + Event.class.getName()).contains("pass the job's jar");
        });
    }

    /** A heap snapshot of a {@code ValueState<Event>}; {@code damagedGroup} >= 0 writes 7 for that key group's id. */
    private KeyGroupsStateHandle heapSnapshotWithAJobType(String name, int damagedGroup) throws Exception {
        org.apache.flink.api.common.typeutils.TypeSerializer<Event> events = org.apache.flink.api.common.typeinfo.TypeInformation
                .of(Event.class).createSerializer(new org.apache.flink.api.common.serialization.SerializerConfigImpl());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputViewStreamWrapper out = new DataOutputViewStreamWrapper(bytes);
        new KeyedBackendSerializationProxy<>(LongSerializer.INSTANCE, List.of(new RegisteredKeyValueStateBackendMetaInfo<>(
                StateDescriptor.Type.VALUE, "events", VoidNamespaceSerializer.INSTANCE, events).snapshot()), false).write(out);
        long[] offsets = new long[RANGE.getNumberOfKeyGroups()];
        for (int kg = RANGE.getStartKeyGroup(); kg <= RANGE.getEndKeyGroup(); kg++) {
            offsets[kg - RANGE.getStartKeyGroup()] = bytes.size();
            out.writeInt(kg == damagedGroup ? 7 : kg);
            out.writeShort(0);
            out.writeInt(1);
            VoidNamespaceSerializer.INSTANCE.serialize(VoidNamespace.INSTANCE, out);
            LongSerializer.INSTANCE.serialize(keyIn(kg), out);
            Event e = new Event();
            e.id = kg;
            e.name = "event " + kg;
            events.serialize(e, out);
        }
        java.nio.file.Path file = Files.write(dir.resolve(name), bytes.toByteArray());
        return new KeyGroupsStateHandle(new KeyGroupRangeOffsets(RANGE, offsets),
                new FileStateHandle(new Path(file.toUri()), Files.size(file)));
    }
}
