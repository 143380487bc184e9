package io.github.s3tiered.examples;

import org.apache.flink.api.connector.sink2.InitContext;
import org.apache.flink.api.connector.sink2.SinkWriter;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes the final per-key results as lines into {@code <dir>/results-<subtask>-<attempt>.csv}
 * (a local directory, shared by all TaskManagers of one host). A file appears, by rename, only
 * when its subtask finished its input, so a failed attempt leaves nothing to confuse the check.
 * The writer of {@link ResultFileSink}, whose {@code createWriter} differs between Flink lines.
 */
final class ResultFiles {

    private ResultFiles() {}

    static SinkWriter<String> writer(String dir, InitContext context) throws IOException {
        var task = context.getTaskInfo();
        Path directory = Path.of(dir);
        Files.createDirectories(directory);
        String name = "results-" + task.getIndexOfThisSubtask() + "-" + task.getAttemptNumber() + ".csv";
        return new Writer(directory.resolve("." + name + ".inprogress"), directory.resolve(name));
    }

    private static final class Writer implements SinkWriter<String> {
        private final Path inProgress;
        private final Path done;
        private final BufferedWriter out;

        Writer(Path inProgress, Path done) throws IOException {
            this.inProgress = inProgress;
            this.done = done;
            this.out = Files.newBufferedWriter(inProgress, StandardCharsets.UTF_8);
        }

        @Override
        public void write(String line, Context context) throws IOException {
            out.write(line);
            out.newLine();
        }

        @Override
        public void flush(boolean endOfInput) throws IOException {
            out.flush();
            if (endOfInput) {
                out.close();
                Files.move(inProgress, done, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        }

        @Override
        public void close() throws IOException {
            out.close();
            Files.deleteIfExists(inProgress);
        }
    }
}
