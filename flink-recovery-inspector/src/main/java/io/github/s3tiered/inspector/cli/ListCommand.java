package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.RequestCount;
import io.github.s3tiered.inspector.Validation;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.core.fs.Path;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

@Command(name = "list", description = "Id, time, size, file count and verdict of each checkpoint and savepoint under a"
        + " job directory, or under a base directory holding many job directories.")
final class ListCommand extends InspectorSubcommand {

    @Parameters(index = "0", paramLabel = "DIR", description = "A job directory (<checkpoint-dir>/<job-id>) or the base checkpoint directory.")
    String dir;

    @Option(names = "--deep", description = "Read every file and compare checksums (slow).")
    boolean deep;

    @Override
    int run(CheckpointInspector inspector) throws IOException {
        Path path = FlinkEnvironment.path(dir);
        List<JobDirectory> jobs;
        List<List<Validation>> validations = new ArrayList<>();
        try {
            jobs = inspector.discover(path);
            for (JobDirectory job : jobs) {
                validations.add(inspector.validateAll(job, deep));
            }
        } catch (IOException e) {
            throw failure("list", path, e);
        }
        RequestCount total = RequestCount.NONE;
        for (List<Validation> vs : validations) {
            for (Validation v : vs) {
                total = total.plus(v.requests());
            }
        }
        if (common.json) {
            ObjectNode doc = Json.document("list");
            doc.put("path", path.toString());
            ArrayNode jobsNode = doc.putArray("jobs");
            for (int i = 0; i < jobs.size(); i++) {
                ObjectNode j = jobsNode.addObject();
                j.put("path", jobs.get(i).path().toString());
                ArrayNode cps = j.putArray("checkpoints");
                validations.get(i).forEach(v -> cps.add(Json.validation(v, false)));
            }
            doc.set("requests", Json.requests(total));
            out().println(Json.print(doc));
            return exitCode(validations);
        }
        if (jobs.isEmpty()) {
            out().println("No checkpoints or savepoints found under " + path);
            return RESTORABLE;
        }
        Table table = new Table("JOB", "ID", "KIND", "TIME", "SIZE", "FILES", "VERDICT", "DIRECTORY");
        for (int i = 0; i < jobs.size(); i++) {
            for (Validation v : validations.get(i)) {
                table.row(jobs.get(i).path().getName(), v.checkpointId() < 0 ? "-" : v.checkpointId(), v.kind(),
                        Table.time(v.metadataTimestamp()), Table.bytes(v.metadata() == null ? -1 : v.referencedBytes() + v.metadataBytes()),
                        v.metadata() == null ? "-" : v.files().size(), v.verdict(), v.path().getName());
            }
        }
        table.print(out());
        for (List<Validation> vs : validations) {
            for (Validation v : vs) {
                if (!v.restorable()) {
                    out().println(v.path() + ": " + v.reason());
                }
            }
        }
        out().println("File-system requests: " + total);
        return exitCode(validations);
    }

    /** 2 when a checkpoint could not be judged (the storage did not answer): the list proves nothing about it. */
    private static int exitCode(List<List<Validation>> validations) {
        boolean unknown = validations.stream().flatMap(List::stream)
                .anyMatch(v -> v.outcome() == io.github.s3tiered.inspector.Outcome.UNKNOWN);
        return unknown ? ERROR : RESTORABLE;
    }
}
