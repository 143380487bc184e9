package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointInspector;
import io.github.s3tiered.inspector.OrphanFile;
import io.github.s3tiered.inspector.OrphanOptions;
import io.github.s3tiered.inspector.Orphans;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.discovery.CheckpointNames;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.util.TimeUtils;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

@Command(name = "orphans", description = {
        "Files under the job's shared/ and taskowned/, and chk-N directories without _metadata, that no retained"
                + " checkpoint (of this job, of a sibling job directory, or of the directories --also-read names) references"
                + " and that are older than --min-age"
                + " (files the tiered storage uploaded ahead of checkpoints, shared/<sha256>-<id>.sst, also older than the grace"
                + " the job's storage recorded, or --pre-upload-grace; without either they are kept).",
        "Reported only, unless --delete. Nothing is deleted while any _metadata cannot be read, and no file is called"
                + " an orphan when the storage's listings prove incomplete (a checkpoint or _metadata a listing left out).",
        "Exit code: 0 done, 1 deletion refused (or no orphans reported: listings incomplete), 2 error."})
final class OrphansCommand extends InspectorSubcommand {

    @Parameters(index = "0", paramLabel = "JOB_DIR", description = "A job directory (<checkpoint-dir>/<job-id>).")
    String jobDir;

    @Option(names = "--min-age", paramLabel = "DURATION", defaultValue = "1h",
            description = "Only older files are orphans, e.g. 30min, 2h, 1d (default: ${DEFAULT-VALUE}).")
    String minAge;

    @Option(names = "--pre-upload-grace", paramLabel = "DURATION", description = "Keep unreferenced uploads ahead of"
            + " checkpoints (shared/<sha256>-<id>.sst) this long, instead of what the job's storage recorded in "
            + CheckpointNames.PRE_UPLOAD_RECORD_FILE + " (without a record, they are all kept).")
    String preUploadGrace;

    @Option(names = "--delete", description = "Delete the orphans found.")
    boolean delete;

    @Option(names = "--ignore-sibling-jobs", description = "Do not read the checkpoints of the other job directories"
            + " beside this one (by default their references are kept: a job restored in CLAIM mode uses its"
            + " predecessor's shared files).")
    boolean ignoreSiblings;

    @Option(names = "--also-read", paramLabel = "DIR", split = ",", description = "Other job directories, or checkpoint"
            + " directories of several jobs, whose retained checkpoints' references are kept too (repeat, or separate"
            + " with commas): a job resumed from this one's checkpoint in CLAIM mode that writes its checkpoints under"
            + " another checkpoint directory still uses this job's shared files, and only its checkpoints name them.")
    List<String> alsoRead = List.of();

    @Override
    int run(CheckpointInspector inspector) throws IOException {
        Path path = FlinkEnvironment.path(jobDir);
        Duration age = duration("--min-age", minAge);
        Duration grace = preUploadGrace == null ? null : duration("--pre-upload-grace", preUploadGrace);
        Orphans o;
        try {
            // a base directory, a checkpoint or a mistyped job id (on S3: an empty listing) would
            // report "no orphans", and a scheduled clean-up would do nothing for good
            requireJobDirectory(inspector, path);
            List<Path> others = alsoRead.stream().map(FlinkEnvironment::path).toList();
            o = inspector.orphans(path, new OrphanOptions(age, delete, !ignoreSiblings, grace, others));
        } catch (IOException e) {
            throw failure("search orphans in", path, e);
        }
        if (common.json) {
            ObjectNode doc = Json.document("orphans");
            doc.put("jobDirectory", path.toString());
            doc.put("minAge", age.toString());
            doc.put("delete", delete);
            ArrayNode orphans = doc.putArray("orphans");
            o.orphans().forEach(f -> orphans.add(Json.orphan(f)));
            doc.put("orphanBytes", o.orphanBytes());
            ArrayNode retained = doc.putArray("retainedCheckpoints");
            o.retainedCheckpoints().forEach(p -> retained.add(p.toString()));
            ArrayNode unreadable = doc.putArray("unreadableMetadata");
            o.unreadableMetadata().forEach(p -> unreadable.add(Json.problem(p)));
            doc.put("referencedFiles", o.referencedFiles());
            doc.put("tooYoung", o.tooYoung());
            doc.put("preUploadGraceMillis", o.preUploadGraceMillis());
            doc.put("preUploadsKept", o.preUploadsKept());
            ArrayNode deleted = doc.putArray("deleted");
            o.deleted().forEach(p -> deleted.add(p.toString()));
            doc.put("deletionRefused", o.deletionRefused());
            doc.set("requests", Json.requests(o.requests()));
            out().println(Json.print(doc));
        } else {
            if (o.orphans().isEmpty()) {
                out().println("No orphans older than " + minAge + " in " + path);
            } else {
                Table t = new Table("KIND", "SIZE", "MODIFIED", "PATH");
                for (OrphanFile f : o.orphans()) {
                    t.row(f.kind(), Table.bytes(f.bytes()), Table.time(f.modificationTime()), f.path());
                }
                t.print(out());
            }
            out().println(o.orphans().size() + " orphans (" + Table.bytes(o.orphanBytes()) + "); " + o.referencedFiles()
                    + " files referenced by " + o.retainedCheckpoints().size() + " retained checkpoints; " + o.tooYoung()
                    + " unreferenced entries kept, younger than " + minAge + " (or than the job's checkpoint timeout, when its"
                    + " storage recorded a longer one), or in a file-merging directory a retained checkpoint uses");
            if (o.preUploadsKept() > 0 && o.preUploadGraceMillis() < 0) {
                out().println(o.preUploadsKept() + " unreferenced uploads ahead of checkpoints (shared/<sha256>-<id>.sst) kept: the"
                        + " job recorded no readable " + CheckpointNames.PRE_UPLOAD_RECORD_FILE + " saying how long a TaskManager"
                        + " may still hand them to a checkpoint; give --pre-upload-grace once the job has ended (or at least"
                        + " its reuse window plus the larger of that window and its checkpoint timeout)");
            } else if (o.preUploadsKept() > 0 && o.preUploadGraceMillis() > age.toMillis()) {
                out().println(o.preUploadsKept() + " unreferenced uploads ahead of checkpoints (shared/<sha256>-<id>.sst) kept: younger"
                        + " than " + TimeUtils.formatWithHighestUnit(Duration.ofMillis(o.preUploadGraceMillis()))
                        + " (their grace" + (preUploadGrace == null ? ", as the job's storage recorded it" : "") + ")");
            }
            for (Problem p : o.unreadableMetadata()) {
                out().println("unreadable: " + p.file() + ": " + p.reason());
            }
            for (Path p : o.deletionRefused() != null ? o.deleted() : List.<Path>of()) {
                out().println("deleted: " + p);
            }
            if (o.deletionRefused() != null) {
                out().println(o.deletionRefused());
            } else if (delete) {
                out().println("Deleted " + o.deleted().size() + " entries");
            }
        }
        return o.deletionRefused() == null ? RESTORABLE : NOT_RESTORABLE;
    }

    /**
     * A duration with its unit. A bare number would be milliseconds to Flink's parser, and
     * "--min-age 2 --delete" meant as hours would delete the files of a checkpoint in progress.
     */
    private static Duration duration(String option, String value) {
        String v = value.trim();
        if (v.matches("\\d+") && !v.matches("0+")) {
            throw new InspectorFailure("Bad " + option + " '" + value + "': give a unit (examples: 30min, 2h, 1d; " + v
                    + "ms for milliseconds)");
        }
        try {
            return TimeUtils.parseDuration(v);
        } catch (RuntimeException e) {
            throw new InspectorFailure("Bad " + option + " '" + value + "': " + e.getMessage() + " (examples: 30min, 2h, 1d)", e);
        }
    }
}
