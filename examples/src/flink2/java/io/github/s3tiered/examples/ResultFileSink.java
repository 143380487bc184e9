package io.github.s3tiered.examples;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

import java.io.IOException;

/** The job's final results as files ({@link ResultFiles}), through Flink 2.x's sink API. */
public class ResultFileSink implements Sink<String> {

    private final String dir;

    public ResultFileSink(String dir) {
        this.dir = dir;
    }

    @Override
    public SinkWriter<String> createWriter(WriterInitContext context) throws IOException {
        return ResultFiles.writer(dir, context);
    }
}
