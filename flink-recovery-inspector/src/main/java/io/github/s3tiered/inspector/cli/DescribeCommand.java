package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointDescription;
import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.PathRole;
import io.github.s3tiered.inspector.OperatorSummary;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Validation;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.core.fs.Path;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;

@Command(name = "describe", description = {
        "Operators (uid, id, name, parallelism, max parallelism), state sizes and files of one checkpoint or savepoint.",
        "Exit code: 0 restorable, 1 not restorable, 2 could not be judged (storage unreadable) or error."})
final class DescribeCommand extends InspectorSubcommand {

    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "chk-N or savepoint-* directory, or its _metadata.")
    String checkpoint;

    @Override
    int run(CheckpointInspector inspector) throws IOException {
        Path path = FlinkEnvironment.path(checkpoint);
        CheckpointDescription d;
        try {
            PathRole role = CheckpointInspector.namesSingleCheckpoint(path) ? PathRole.CHECKPOINT : inspector.classify(path);
            if (!role.singleCheckpoint()) {
                throw new InspectorFailure(path + " is not one checkpoint or savepoint (" + role.name().toLowerCase(java.util.Locale.ROOT)
                        .replace('_', ' ') + "): describe takes a chk-N or savepoint-* directory, or its _metadata");
            }
            d = inspector.describe(path);
        } catch (IOException e) {
            throw failure("describe", path, e);
        }
        Validation v = d.validation();
        if (common.json) {
            ObjectNode doc = Json.document("describe");
            doc.set("checkpoint", Json.validation(v, true));
            ArrayNode ops = doc.putArray("operators");
            d.operators().forEach(o -> ops.add(Json.operator(o)));
            doc.put("masterStates", d.masterStates());
            out().println(Json.print(doc));
        } else {
            out().println(v.path() + ": " + v.kind() + (v.checkpointId() >= 0 ? " " + v.checkpointId() : "")
                    + ", " + v.verdict() + ", metadata " + Table.time(v.metadataTimestamp()));
            for (Problem p : v.problems()) {
                out().println("  " + p);
            }
            if (!d.operators().isEmpty()) {
                out().println();
                Table ops = new Table("OPERATOR ID", "UID", "NAME", "PARALLELISM", "MAX PARALLELISM", "KEYED", "OPERATOR",
                        "CHANNEL", "TOTAL", "FILES");
                for (OperatorSummary o : d.operators()) {
                    ops.row(o.operatorId(), o.uid() == null ? "-" : o.uid(), o.name() == null ? "-" : o.name(),
                            o.parallelism(), o.maxParallelism(), Table.bytes(o.managedKeyedBytes() + o.rawKeyedBytes()),
                            Table.bytes(o.managedOperatorBytes() + o.rawOperatorBytes()), Table.bytes(o.channelBytes()),
                            Table.bytes(o.totalBytes()), o.files());
                }
                ops.print(out());
                out().println("Master states: " + d.masterStates() + ", inline handles: " + v.inlineHandles());
            }
            if (!v.files().isEmpty()) {
                out().println();
                Table files = new Table("FILE", "SIZE", "KINDS", "OPERATORS");
                for (ReferencedFile f : v.files()) {
                    files.row(f.path(), (f.exactSize() ? "" : ">= ") + f.minSize(), String.join(",", f.kinds()),
                            String.join(",", f.operators()));
                }
                files.print(out());
            }
        }
        return exitCode(v.outcome());
    }
}
