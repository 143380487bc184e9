package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.CompatibilityIssue;
import io.github.s3tiered.inspector.JobShape;
import io.github.s3tiered.inspector.RestorePoint;
import io.github.s3tiered.inspector.RestorePointOptions;
import io.github.s3tiered.inspector.Validation;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.core.fs.Path;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.util.LinkedHashSet;
import java.util.List;

@Command(name = "restore-point", description = {
        "Prints the newest restorable checkpoint of a job directory: the value for execution.state-recovery.path.",
        "Human output: the path alone on stdout, why newer checkpoints were skipped on stderr.",
        "Exit code: 0 found (and compatible with --operator-ids/--max-parallelism when given), 1 none or incompatible,"
                + " 2 a newer checkpoint could not be judged (storage unreadable: no older one is chosen over it), the directory"
                + " holds two runs' checkpoints whose ids and times disagree, or error."})
final class RestorePointCommand extends InspectorSubcommand {

    @Parameters(index = "0", paramLabel = "JOB_DIR", description = "A job directory (<checkpoint-dir>/<job-id>).")
    String jobDir;

    @Option(names = "--include-savepoints", description = "Also consider savepoint-* directories in the job directory.")
    boolean includeSavepoints;

    @Option(names = "--deep", description = "Validate candidates in deep mode (reads every file).")
    boolean deep;

    @Option(names = "--operator-ids", split = ",", paramLabel = "HEX",
            description = "The operator ids of the job that will restore: report state Flink would not map.")
    List<String> operatorIds;

    @Option(names = "--max-parallelism", paramLabel = "N", description = "The job's max parallelism: report operators with another one.")
    int maxParallelism;

    @Override
    int run(CheckpointInspector inspector) throws IOException {
        Path path = FlinkEnvironment.path(jobDir);
        JobShape job = operatorIds == null && maxParallelism <= 0 ? null
                : new JobShape(operatorIds == null ? java.util.Set.of() : new LinkedHashSet<>(operatorIds), maxParallelism);
        if (job != null && operatorIds == null) {
            throw new InspectorFailure("--max-parallelism needs --operator-ids (the job's operators)");
        }
        RestorePoint rp;
        try {
            requireJobDirectory(inspector, path);
            rp = inspector.restorePoint(path, new RestorePointOptions(includeSavepoints, deep, job));
        } catch (IOException e) {
            throw failure("search a restore point in", path, e);
        }
        if (common.json) {
            ObjectNode doc = Json.document("restore-point");
            doc.put("jobDirectory", path.toString());
            if (rp.path().isPresent()) {
                Validation v = rp.chosen().get();
                doc.put("restorePoint", v.path().toString());
                doc.put("checkpointId", v.checkpointId());
                doc.put("kind", v.kind().name());
                doc.set("validation", Json.validation(v, false)); // with --deep: what could not be proven
            } else {
                doc.putNull("restorePoint");
                doc.putNull("checkpointId");
                doc.putNull("kind");
                doc.putNull("validation");
            }
            doc.put("outcome", rp.outcome().name());
            if (rp.undecided().isPresent()) {
                doc.set("undecided", Json.validation(rp.undecided().get(), false));
            } else {
                doc.putNull("undecided");
            }
            ArrayNode writtenLater = doc.putArray("writtenLater");
            for (RestorePoint.WrittenLater w : rp.writtenLater()) {
                ObjectNode n = writtenLater.addObject();
                n.put("path", w.path().toString());
                Json.time(n, "metadataTime", w.metadataTimestamp());
            }
            if (rp.runsDisagree()) {
                doc.put("explanation", rp.explanation());
            }
            doc.put("candidates", rp.candidates());
            ArrayNode skipped = doc.putArray("skipped");
            rp.skipped().forEach(v -> skipped.add(Json.validation(v, false)));
            ArrayNode issues = doc.putArray("compatibility");
            rp.compatibility().forEach(i -> issues.add(Json.issue(i)));
            doc.set("requests", Json.requests(rp.requests()));
            out().println(Json.print(doc));
        } else {
            for (Validation s : rp.skipped()) {
                err().println("skipped " + s.path() + ": " + s.reason());
            }
            for (CompatibilityIssue i : rp.compatibility()) {
                err().println("incompatible: " + i.reason());
            }
            if (rp.path().isPresent()) {
                Validation chosen = rp.chosen().get();
                if (chosen.deepCheck() != null) {
                    // a rehearsal that proved little (no RocksDB library here, job classes not given) says so
                    for (String note : chosen.deepCheck().notes()) {
                        err().println("not proven: " + note);
                    }
                }
                out().println(rp.path().get());
            } else if (rp.undecided().isPresent() || rp.runsDisagree()) {
                err().println(rp.explanation());
            } else {
                err().println("No restorable checkpoint among " + rp.candidates() + " in " + path);
            }
        }
        if (rp.outcome() == io.github.s3tiered.inspector.Outcome.UNKNOWN) {
            return ERROR;
        }
        return rp.path().isPresent() && rp.compatibility().isEmpty() ? RESTORABLE : NOT_RESTORABLE;
    }
}
