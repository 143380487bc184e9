package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.UnloadableDummyTypeSerializer;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.RegisteredKeyValueStateBackendMetaInfo;
import org.apache.flink.runtime.state.RegisteredPriorityQueueStateBackendMetaInfo;
import org.apache.flink.runtime.state.metainfo.StateMetaInfoSnapshot;

import java.util.ArrayList;
import java.util.List;

/**
 * The serializers a keyed state file was written with, restored from the serializer snapshots in
 * its meta data as a restore does ({@code restoreSerializer()} of each snapshot). The i-th state
 * is the one the file's entries call state id i.
 */
final class KeyedStateSerializers {

    /** One state: a key/value state (namespace and value serializers) or a priority queue (timers). */
    record State(String name, StateMetaInfoSnapshot.BackendStateType kind, StateDescriptor.Type type,
            TypeSerializer<Object> namespace, TypeSerializer<Object> value) {}

    final TypeSerializer<Object> key;
    final List<State> states;
    final boolean compressed;
    final int readVersion;

    private KeyedStateSerializers(TypeSerializer<Object> key, List<State> states, boolean compressed, int readVersion) {
        this.key = key;
        this.states = states;
        this.compressed = compressed;
        this.readVersion = readVersion;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static KeyedStateSerializers restore(KeyedBackendSerializationProxy<?> proxy) throws Exception {
        TypeSerializer<Object> key = (TypeSerializer<Object>) usable(proxy.getKeySerializerSnapshot().restoreSerializer(), "key");
        List<State> states = new ArrayList<>();
        for (StateMetaInfoSnapshot s : proxy.getStateMetaInfoSnapshots()) {
            switch (s.getBackendStateType()) {
                case KEY_VALUE -> {
                    RegisteredKeyValueStateBackendMetaInfo<Object, Object> info = new RegisteredKeyValueStateBackendMetaInfo<>(s);
                    states.add(new State(s.getName(), s.getBackendStateType(), info.getStateType(),
                            (TypeSerializer) usable(info.getPreviousNamespaceSerializer(), s.getName()),
                            (TypeSerializer) usable(info.getPreviousStateSerializer(), s.getName())));
                }
                case PRIORITY_QUEUE -> {
                    RegisteredPriorityQueueStateBackendMetaInfo<Object> info = new RegisteredPriorityQueueStateBackendMetaInfo<>(s);
                    states.add(new State(s.getName(), s.getBackendStateType(), null, null,
                            (TypeSerializer) usable(info.getPreviousElementSerializer(), s.getName())));
                }
                default -> throw new IllegalStateException("keyed state '" + s.getName() + "' has the non-keyed type "
                        + s.getBackendStateType());
            }
        }
        return new KeyedStateSerializers(key, states, proxy.isUsingKeyGroupCompression(), proxy.getReadVersion());
    }

    /** A serializer that could not be restored carries the original failure: rethrow it. */
    static TypeSerializer<?> usable(TypeSerializer<?> s, String state) throws Exception {
        if (s instanceof UnloadableDummyTypeSerializer<?> dummy) {
            Throwable original = dummy.getOriginalError();
            throw new Exception("the serializer of '" + state + "' cannot be restored", original);
        }
        return s;
    }

    List<String> names() {
        return states.stream().map(State::name).toList();
    }
}
