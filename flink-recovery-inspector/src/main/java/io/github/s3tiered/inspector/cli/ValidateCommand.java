package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.Outcome;
import io.github.s3tiered.inspector.PathRole;
import io.github.s3tiered.inspector.Problem;
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

@Command(name = "validate", description = {
        "Validates a checkpoint or savepoint (its directory or _metadata), or every checkpoint of a job directory.",
        "Exit code: 0 restorable (for a job directory: at least one checkpoint is, and none could not be judged),"
                + " 1 not restorable, 2 could not be judged (storage unreadable) or usage/configuration error."})
final class ValidateCommand extends InspectorSubcommand {

    @Parameters(index = "0", paramLabel = "PATH", description = "chk-N or savepoint-* directory, its _metadata, or a job directory.")
    String target;

    @Option(names = "--deep", description = "Rehearse the restore: read every file as the storage durably holds it, compare"
            + " its CRC32C with the one the tiered file system recorded, verify RocksDB files with RocksDB's checksums and"
            + " open them as a restore would, and decode heap, full-snapshot, operator and channel state at the offsets"
            + " _metadata records.")
    boolean deep;

    @Override
    int run(CheckpointInspector inspector) throws IOException {
        Path path = FlinkEnvironment.path(target);
        PathRole role;
        List<Validation> validations = new ArrayList<>();
        try {
            role = CheckpointInspector.namesSingleCheckpoint(path) ? PathRole.CHECKPOINT : inspector.classify(path);
            switch (role) {
                case CHECKPOINT, SAVEPOINT -> validations.add(inspector.validate(path, deep));
                case JOB_DIRECTORY -> {
                    for (JobDirectory job : inspector.discover(path)) {
                        validations.addAll(inspector.validateAll(job, deep));
                    }
                }
                case BASE_DIRECTORY -> throw new InspectorFailure(path + " holds job directories: validate one of them"
                        + " (or use 'list " + path + "')");
                default -> throw new InspectorFailure(path + " is neither a checkpoint (no _metadata, not chk-N or"
                        + " savepoint-*) nor a job directory (no chk-N, savepoint-*, shared/ or taskowned/ inside)");
            }
        } catch (IOException e) {
            throw failure("validate", path, e);
        }
        boolean restorable = validations.stream().anyMatch(Validation::restorable);
        boolean undecided = validations.stream().anyMatch(v -> v.outcome() == Outcome.UNKNOWN);
        RequestCount total = validations.stream().map(Validation::requests).reduce(RequestCount.NONE, RequestCount::plus);
        if (common.json) {
            ObjectNode doc = Json.document("validate");
            doc.put("path", path.toString());
            doc.put("role", role == PathRole.JOB_DIRECTORY ? "JOB_DIRECTORY" : "CHECKPOINT");
            doc.put("restorable", restorable);
            doc.put("outcome", (undecided ? Outcome.UNKNOWN : restorable ? Outcome.RESTORABLE : Outcome.NOT_RESTORABLE).name());
            ArrayNode cps = doc.putArray("checkpoints");
            validations.forEach(v -> cps.add(Json.validation(v, false)));
            doc.set("requests", Json.requests(total));
            out().println(Json.print(doc));
        } else {
            if (validations.isEmpty()) {
                out().println("No checkpoints in " + path);
            }
            for (Validation v : validations) {
                out().println(v.path() + ": " + v.verdict() + (v.checkpointId() >= 0 ? " (checkpoint " + v.checkpointId() + ")" : ""));
                for (Problem p : v.problems()) {
                    out().println("  " + p);
                }
                if (v.deepCheck() != null) {
                    out().println("  deep check: " + v.deepCheck().summary());
                    for (String note : v.deepCheck().notes()) {
                        out().println("  not proven: " + note);
                    }
                }
                for (String u : v.unsupportedHandles()) {
                    out().println("  not checked (unsupported handle): " + u);
                }
                out().println("  " + v.files().size() + " referenced files, " + Table.bytes(v.referencedBytes())
                        + "; file-system requests: " + v.requests());
            }
        }
        return undecided ? ERROR : restorable ? RESTORABLE : NOT_RESTORABLE;
    }
}
