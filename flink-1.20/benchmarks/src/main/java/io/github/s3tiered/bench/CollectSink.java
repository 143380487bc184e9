package io.github.s3tiered.bench;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;

/** The benchmark job's sink, through Flink 1.20's sink API: every report into {@link FinalStates}. */
final class CollectSink implements Sink<long[]> {
    @Override
    public SinkWriter<long[]> createWriter(InitContext context) {
        return FinalStates.writer();
    }
}
