package io.github.s3tiered.bench;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/** The benchmark job's sink, through Flink 2.x's sink API: every report into {@link FinalStates}. */
final class CollectSink implements Sink<long[]> {
    @Override
    public SinkWriter<long[]> createWriter(WriterInitContext context) {
        return FinalStates.writer();
    }
}
