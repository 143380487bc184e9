package io.github.s3tiered.inspector.validation;

import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.DeepCheck;
import io.github.s3tiered.inspector.InspectionProgress;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Findings;
import io.github.s3tiered.inspector.rehearsal.Proof;
import io.github.s3tiered.inspector.rehearsal.RehearsalContext;
import io.github.s3tiered.inspector.rehearsal.RestoreRehearsal;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Deep validation: a restore rehearsal. Unit by unit ({@link RestoreRehearsal#plan}: a subtask's
 * RocksDB snapshot, a keyed or operator state file, a channel state file), the unit's files are
 * fetched as the storage durably holds them (from S3 on {@code s3tiered://}, never a local-tier
 * copy) into a scratch directory, checked against their recorded length and CRC32C, then restored
 * by the unit's check; the scratch copies are deleted before the next unit, so the disk holds one
 * unit's files at a time and memory holds one entry or block at a time.
 *
 * <p>A file that cannot be fetched because the storage does not answer is {@link Verdict#UNKNOWN};
 * a unit whose files are not all intact is not rehearsed (its problem is already known).
 */
final class DeepValidation {

    /** Files fetched at once within a unit: enough to hide S3 latency, few enough for a JobManager. */
    static final int FETCH_THREADS = 8;

    private final ClassLoader classLoader;
    private final boolean jobClassesComplete;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;
    private final FileSystemCalls calls;

    private int filesRead;
    private long bytesRead;
    private int matched;
    private int mismatched;
    private int notRecorded;
    private boolean recordable;

    DeepValidation(ClassLoader classLoader, boolean jobClassesComplete, ChecksumSource checksums, InspectionProgress progress,
            FileSystemCalls calls) {
        this.classLoader = classLoader;
        this.jobClassesComplete = jobClassesComplete;
        this.checksums = checksums;
        this.progress = progress;
        this.calls = calls;
    }

    /** One fetched file: where its bytes are now, and whether they are the recorded ones. */
    private record Fetched(java.nio.file.Path local, boolean temporary, boolean intact) {}

    DeepCheck run(Path metadataPath, FileSystemCalls.DurableRead metadataRead, CheckpointMetadata metadata,
            List<ReferencedFile> files, Map<String, FileStatus> present, List<Problem> problems) throws IOException {
        long staleBefore = calls.staleLocalCopiesDropped();
        Findings findings = new Findings();
        account(metadataRead);
        recordable |= metadataRead.checksumsRecordable();
        if (metadataRead.recordedCrc32c().isPresent()) {
            matched++; // a mismatch would have made the metadata CORRUPT_METADATA before any deep check
        } else {
            notRecorded++;
        }
        findings.proved(metadataPath.toString(), metadataRead.recordedCrc32c().isPresent() ? Proof.CHECKSUM : Proof.DECODED,
                metadataRead.recordedCrc32c().isPresent() ? "recorded CRC32C; parsed by Flink's reader and cross-checked"
                        : "parsed by Flink's reader and cross-checked");

        Map<String, ReferencedFile> byKey = new LinkedHashMap<>();
        files.forEach(f -> byKey.put(PathKey.of(f.path()), f));
        List<RestoreRehearsal.Unit> units = new ArrayList<>(RestoreRehearsal.plan(metadata));
        Set<String> covered = new LinkedHashSet<>();
        Map<String, Integer> uses = new HashMap<>();
        for (RestoreRehearsal.Unit u : units) {
            for (Path p : u.files()) {
                covered.add(PathKey.of(p));
                uses.merge(PathKey.of(p), 1, Integer::sum);
            }
        }
        for (ReferencedFile f : files) {
            if (!covered.contains(PathKey.of(f.path()))) {
                // state the plan does not decode (e.g. an unsupported handle type): fetched and checked all the same
                units.add(fetchOnlyUnit(f));
                uses.merge(PathKey.of(f.path()), 1, Integer::sum);
            }
        }

        java.nio.file.Path scratch = Files.createTempDirectory("recovery-inspector-");
        ExecutorService pool = Executors.newFixedThreadPool(FETCH_THREADS, r -> {
            Thread t = new Thread(r, "recovery-inspector-fetch");
            t.setDaemon(true);
            return t;
        });
        Map<String, Fetched> fetched = new HashMap<>();
        RehearsalContext ctx = new RehearsalContext(classLoader, jobClassesComplete, scratch, metadataPath.toString());
        try {
            int n = 0;
            for (RestoreRehearsal.Unit unit : units) {
                progress.step("rehearsing " + unit.description() + " (" + (++n) + "/" + units.size() + ")");
                boolean complete = fetchAll(unit, byKey, present, fetched, scratch, pool, findings, problems);
                if (complete) {
                    unit.run(p -> fetched.get(PathKey.of(p)).local(), ctx, findings);
                }
                for (Path p : unit.files()) {
                    String key = PathKey.of(p);
                    if (uses.merge(key, -1, Integer::sum) == 0) {
                        Fetched f = fetched.remove(key);
                        if (f != null && f.temporary()) {
                            Files.deleteIfExists(f.local());
                        }
                    }
                }
            }
        } finally {
            pool.shutdownNow();
            deleteRecursively(scratch);
        }
        for (Findings.Failure failure : findings.failures()) {
            problems.add(new Problem(Verdict.CORRUPT_STATE, failure.file(), failure.reason()));
        }
        for (Findings.Shortfall shortfall : findings.shortfalls()) {
            // a deep RESTORABLE says the content was proven: where the check could not run, only a
            // checksum recorded at upload still proves it
            String unproven = shortfall.files().stream().filter(f -> findings.proofOf(f) != Proof.CHECKSUM)
                    .findFirst().orElse(null);
            if (unproven != null) {
                problems.add(new Problem(Verdict.UNKNOWN, unproven, "not proven, and no checksum recorded at upload proves"
                        + " it: " + shortfall.reason()));
            }
        }
        List<FileProof> proofs = new ArrayList<>(findings.proofs());
        Set<String> proven = new LinkedHashSet<>();
        proofs.forEach(p -> proven.add(p.path()));
        for (ReferencedFile f : files) {
            if (!proven.contains(f.path().toString())) {
                proofs.add(new FileProof(f.path().toString(), Proof.NONE, "not read"));
            }
        }
        return new DeepCheck(filesRead, bytesRead, matched, mismatched, notRecorded, recordable, proofs, findings.notes(),
                calls.staleLocalCopiesDropped() - staleBefore);
    }

    /** Fetches the unit's files not fetched yet; true when all of them are there and intact. */
    private boolean fetchAll(RestoreRehearsal.Unit unit, Map<String, ReferencedFile> byKey, Map<String, FileStatus> present,
            Map<String, Fetched> fetched, java.nio.file.Path scratch, ExecutorService pool, Findings findings,
            List<Problem> problems) throws IOException {
        Map<String, Future<Object>> pending = new LinkedHashMap<>();
        boolean complete = true;
        for (Path p : unit.files()) {
            String key = PathKey.of(p);
            if (fetched.containsKey(key)) {
                complete &= fetched.get(key).intact();
                continue;
            }
            if (!present.containsKey(key)) {
                complete = false; // missing, wrong size or unknown: already a problem
                continue;
            }
            ReferencedFile ref = byKey.get(key);
            pending.put(key, pool.submit(() -> fetch(ref, scratch)));
        }
        for (Map.Entry<String, Future<Object>> e : pending.entrySet()) {
            ReferencedFile ref = byKey.get(e.getKey());
            Object result = join(e.getValue());
            if (result instanceof Problem problem) {
                problems.add(problem);
                complete = false;
                continue;
            }
            FetchResult r = (FetchResult) result;
            account(r.read());
            recordable |= r.read().checksumsRecordable();
            Problem problem = judge(ref, r.read());
            boolean intact = problem == null;
            if (intact) {
                if (r.read().recordedCrc32c().isPresent()) {
                    findings.proved(ref.path().toString(), Proof.CHECKSUM, "recorded CRC32C");
                } else {
                    findings.proved(ref.path().toString(), Proof.LENGTH, "read to its recorded length");
                }
            } else {
                problems.add(problem);
                complete = false;
            }
            fetched.put(e.getKey(), new Fetched(r.local(), r.temporary(), intact));
        }
        return complete;
    }

    private record FetchResult(java.nio.file.Path local, boolean temporary, FileSystemCalls.DurableRead read) {}

    /** A FetchResult, or the Problem that prevented it. */
    private Object fetch(ReferencedFile ref, java.nio.file.Path scratch) throws IOException {
        Path path = ref.path();
        boolean local = "file".equals(path.toUri().getScheme()) && !path.getFileSystem().isDistributedFS();
        java.nio.file.Path target = local ? java.nio.file.Path.of(path.toUri()) : Files.createTempFile(scratch, "fetched-", "");
        try (OutputStream sink = local ? OutputStream.nullOutputStream() : Files.newOutputStream(target)) {
            FileSystemCalls.DurableRead read = calls.readDurable(path, sink, checksums);
            return new FetchResult(target, !local, read);
        } catch (FileNotFoundException e) {
            deleteTemporary(local, target);
            return new Problem(Verdict.MISSING_FILES, path.toString(), "listed but gone when read: " + e.getMessage());
        } catch (IOException e) {
            deleteTemporary(local, target);
            return new Problem(Verdict.UNKNOWN, path.toString(), e.getMessage());
        }
    }

    private static void deleteTemporary(boolean local, java.nio.file.Path target) throws IOException {
        if (!local) {
            Files.deleteIfExists(target);
        }
    }

    /** The problem of a fetched file (length, recorded checksum), or null when intact. */
    private Problem judge(ReferencedFile ref, FileSystemCalls.DurableRead read) {
        if (ref.exactSize() ? read.length() != ref.minSize() : read.length() < ref.minSize()) {
            return new Problem(Verdict.SIZE_MISMATCH, ref.path().toString(), "read " + read.length() + " bytes, "
                    + (ref.exactSize() ? "recorded size " : "its segments need at least ") + ref.minSize());
        }
        if (read.recordedCrc32c().isEmpty()) {
            notRecorded++;
            return null;
        }
        if (read.checksumMatches()) {
            matched++;
            return null;
        }
        mismatched++;
        return new Problem(Verdict.CHECKSUM_MISMATCH, ref.path().toString(), String.format(
                "CRC32C of the content is %08x, recorded %08x", Integer.toUnsignedLong(read.crc32c()),
                read.recordedCrc32c().getAsLong()));
    }

    private void account(FileSystemCalls.DurableRead read) {
        filesRead++;
        bytesRead += read.length();
    }

    private static Object join(Future<Object> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("Interrupted during the deep check");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("Deep check failed: " + e.getCause(), e.getCause());
        }
    }

    private static RestoreRehearsal.Unit fetchOnlyUnit(ReferencedFile f) {
        return RestoreRehearsal.fetchOnly(f.path(), String.join(",", f.kinds()) + " state of " + f.path().getName());
    }

    private static void deleteRecursively(java.nio.file.Path dir) {
        try (Stream<java.nio.file.Path> walk = Files.walk(dir)) {
            for (java.nio.file.Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // temp directory: the OS cleans it eventually
        }
    }
}
