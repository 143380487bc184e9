package io.github.s3tiered.inspector.rehearsal;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What rehearsing a checkpoint found: proofs per file, files that cannot be restored, notes. */
public final class Findings {

    /** A file whose content fails the restore. */
    public record Failure(String file, String reason) {}

    private final Map<String, Proof> proofs = new LinkedHashMap<>();
    /** Proofs of byte ranges of merged files, by file: each range of its own (start, end) key. */
    private final Map<String, Map<List<Long>, Proof>> rangeProofs = new LinkedHashMap<>();
    private final Map<String, List<String>> how = new LinkedHashMap<>();
    private final List<Failure> failures = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private final List<Shortfall> shortfalls = new ArrayList<>();

    /**
     * A check that did not run for this host's reasons (a full scratch disk, a native library that
     * does not load, too few file descriptors): nothing proves the files' content either way.
     */
    public record Shortfall(List<String> files, String reason) {}

    /** Records that {@code check} proved {@code proof} of {@code file} (the strongest is kept). */
    public synchronized void proved(String file, Proof proof, String check) {
        proofs.merge(file, proof, Proof::max);
        List<String> checks = how.computeIfAbsent(file, f -> new ArrayList<>());
        if (!checks.contains(check)) {
            checks.add(check);
        }
    }

    /**
     * Records a proof of the bytes {@code [start, start + length)} of a file that holds several
     * pieces of state (file merging). A file's proof is then the weakest of its pieces': a changed
     * byte may be in any of them.
     */
    public synchronized void provedRange(String file, long start, long length, Proof proof, String check) {
        rangeProofs.computeIfAbsent(file, f -> new LinkedHashMap<>()).merge(List.of(start, start + length), proof, Proof::max);
        List<String> checks = how.computeIfAbsent(file, f -> new ArrayList<>());
        if (!checks.contains(check)) {
            checks.add(check);
        }
    }

    /**
     * Records a proof of the bytes a handle reads: the whole file, or the handle's range of a merged
     * file. State inside {@code _metadata} is as proven as {@code _metadata} itself: nothing to add.
     */
    void proved(org.apache.flink.runtime.state.StreamStateHandle h, Proof proof, String check) {
        if (h instanceof org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle seg) {
            provedRange(seg.getFilePath().toString(), seg.getStartPos(), seg.getStateSize(), proof, check);
        } else if (h instanceof org.apache.flink.runtime.state.filesystem.FileStateHandle file) {
            proved(file.getFilePath().toString(), proof, check);
        }
    }

    public synchronized void failed(String file, String reason) {
        failures.add(new Failure(file, reason));
    }

    /** Something the rehearsal could not prove, which does not make the checkpoint unrestorable. */
    public synchronized void note(String note) {
        if (!notes.contains(note)) {
            notes.add(note);
        }
    }

    /** Records a {@link Shortfall}, also as a note. */
    public synchronized void couldNotCheck(List<String> files, String reason) {
        shortfalls.add(new Shortfall(List.copyOf(files), reason));
        note(reason);
    }

    public synchronized List<Shortfall> shortfalls() {
        return List.copyOf(shortfalls);
    }

    public synchronized List<Failure> failures() {
        return List.copyOf(failures);
    }

    public synchronized List<String> notes() {
        return List.copyOf(notes);
    }

    public synchronized Proof proofOf(String file) {
        Proof whole = proofs.getOrDefault(file, Proof.NONE);
        Map<List<Long>, Proof> ranges = rangeProofs.get(file);
        if (ranges == null) {
            return whole;
        }
        Proof weakest = Proof.CHECKSUM;
        for (Proof p : ranges.values()) {
            weakest = weakest.ordinal() >= p.ordinal() ? weakest : p;
        }
        return whole.max(weakest);
    }

    public synchronized List<FileProof> proofs() {
        List<FileProof> out = new ArrayList<>();
        for (String f : how.keySet()) {
            out.add(new FileProof(f, proofOf(f), String.join("; ", how.get(f))));
        }
        return out;
    }
}
