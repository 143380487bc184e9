package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The verdict on one checkpoint or savepoint, with every problem found.
 *
 * @param path the checkpoint's directory (the value for {@code execution.state-recovery.path})
 * @param kind checkpoint or savepoint
 * @param checkpointId the id in its metadata, or -1 when the metadata cannot be read
 * @param verdict {@link Verdict#RESTORABLE}, the first problem's category, or {@link Verdict#UNKNOWN}
 *     when the only problems are parts of the storage that could not be read
 * @param problems every problem, in the order found
 * @param metadataTimestamp modification time of {@code _metadata} in ms since the epoch, 0 if unknown
 * @param metadataBytes size of {@code _metadata}, -1 if there is none
 * @param files the files the checkpoint references (empty when the metadata cannot be read)
 * @param inlineHandles state handles whose data are inside the metadata (no file)
 * @param unsupportedHandles handle types the inspector cannot map to files: not checked
 * @param deepCheck what deep mode read and compared; null when not deep
 * @param requests file-system calls this validation made
 * @param metadata the parsed metadata, null when it cannot be read
 */
public record Validation(
        Path path,
        CheckpointKind kind,
        long checkpointId,
        Verdict verdict,
        List<Problem> problems,
        long metadataTimestamp,
        long metadataBytes,
        List<ReferencedFile> files,
        int inlineHandles,
        List<String> unsupportedHandles,
        DeepCheck deepCheck,
        RequestCount requests,
        CheckpointMetadata metadata) {

    public Validation {
        problems = List.copyOf(problems);
        files = List.copyOf(files);
        unsupportedHandles = List.copyOf(unsupportedHandles);
    }

    public boolean restorable() {
        return verdict.restorable();
    }

    /** RESTORABLE, NOT_RESTORABLE, or UNKNOWN when the storage could not be read and nothing else was proven. */
    public Outcome outcome() {
        return verdict.outcome();
    }

    /** Sum of the referenced files' recorded sizes (at least what the checkpoint needs). */
    public long referencedBytes() {
        return files.stream().mapToLong(ReferencedFile::minSize).sum();
    }

    /** The files named by problems, each once. */
    public List<String> filesConcerned() {
        Set<String> out = new LinkedHashSet<>();
        for (Problem p : problems) {
            if (p.file() != null) {
                out.add(p.file());
            }
        }
        return new ArrayList<>(out);
    }

    /** One line for a human: the verdict and the first problems. */
    public String reason() {
        if (problems.isEmpty()) {
            return "restorable: " + files.size() + " referenced files present with their recorded sizes"
                    + (deepCheck == null ? "" : "; " + deepCheck.summary());
        }
        List<Problem> ofVerdict = problems.stream().filter(p -> p.verdict() == verdict).toList();
        String first = ofVerdict.stream().limit(3)
                .map(p -> p.file() == null ? p.reason() : p.file() + " (" + p.reason() + ")")
                .collect(Collectors.joining("; "));
        String more = ofVerdict.size() > 3 ? " and " + (ofVerdict.size() - 3) + " more" : "";
        String others = problems.size() > ofVerdict.size() ? "; " + (problems.size() - ofVerdict.size()) + " other problems" : "";
        return verdict + ": " + verdict.meaning() + ": " + first + more + others;
    }
}
