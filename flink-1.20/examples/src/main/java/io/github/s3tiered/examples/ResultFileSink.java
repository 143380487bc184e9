package io.github.s3tiered.examples;

import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;

import java.io.IOException;

/**
 * The job's final results as files ({@link ResultFiles}), through Flink 1.20's sink API, whose
 * abstract {@code createWriter} takes the {@code InitContext} that 2.x removed.
 */
public class ResultFileSink implements Sink<String> {

    private final String dir;

    public ResultFileSink(String dir) {
        this.dir = dir;
    }

    @Override
    public SinkWriter<String> createWriter(InitContext context) throws IOException {
        return ResultFiles.writer(dir, context);
    }
}
