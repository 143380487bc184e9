package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.CRC32C;

/**
 * Validates one checkpoint: reads its metadata, then checks that every referenced file is there
 * with its recorded size by listing each parent directory once; in deep mode reads every file and
 * compares its CRC32C with the recorded one.
 */
final class CheckpointValidator {

    private static final int READ_BUFFER = 256 * 1024;

    private final ClassLoader classLoader;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;

    CheckpointValidator(ClassLoader classLoader, ChecksumSource checksums, InspectionProgress progress) {
        this.classLoader = classLoader;
        this.checksums = checksums;
        this.progress = progress;
    }

    /** The checkpoint directory a user means: {@code chk-N/_metadata} names {@code chk-N}. */
    static Path checkpointDirectory(Path path) {
        return CheckpointMetadataReader.METADATA_FILE.equals(path.getName()) ? path.getParent() : path;
    }

    Validation validate(Path path, boolean deep, DirectoryListings listings) throws IOException {
        Path dir = checkpointDirectory(path);
        CheckpointKind kind = CheckpointDiscovery.kindOf(dir);
        FileSystemCalls calls = listings.calls();
        RequestCount before = calls.snapshot();

        DirectoryListings.Listing own = listings.list(dir);
        if (!own.exists()) {
            throw new FileNotFoundException("No such checkpoint directory: " + dir);
        }
        FileStatus metadataStatus = own.get(CheckpointMetadataReader.METADATA_FILE);
        if (metadataStatus == null || metadataStatus.isDir()) {
            List<Problem> problems = List.of(new Problem(Verdict.NO_METADATA, null,
                    "no " + CheckpointMetadataReader.METADATA_FILE + " in " + dir + " (" + own.entries().size()
                            + " other entries): the checkpoint is in progress, was aborted, or its metadata was deleted"));
            return new Validation(dir, kind, -1, Verdict.NO_METADATA, problems, 0, -1, List.of(), 0, List.of(), null,
                    calls.snapshot().minus(before), null);
        }

        Path metadataPath = new Path(dir, CheckpointMetadataReader.METADATA_FILE);
        byte[] metadataBytes;
        CheckpointMetadata metadata;
        try {
            try (FSDataInputStream in = calls.open(metadataPath)) {
                metadataBytes = in.readAllBytes();
            }
            metadata = CheckpointMetadataReader.parse(metadataBytes, dir, classLoader);
        } catch (FileNotFoundException e) {
            List<Problem> problems = List.of(new Problem(Verdict.NO_METADATA, metadataPath.toString(),
                    "listed but gone when opened: " + e.getMessage()));
            return new Validation(dir, kind, -1, Verdict.NO_METADATA, problems, metadataStatus.getModificationTime(),
                    -1, List.of(), 0, List.of(), null, calls.snapshot().minus(before), null);
        } catch (IOException e) {
            List<Problem> problems = List.of(new Problem(Verdict.CORRUPT_METADATA, metadataPath.toString(), e.getMessage()));
            return new Validation(dir, kind, -1, Verdict.CORRUPT_METADATA, problems, metadataStatus.getModificationTime(),
                    metadataStatus.getLen(), List.of(), 0, List.of(), null, calls.snapshot().minus(before), null);
        }

        CheckpointReferences refs = CheckpointReferences.of(metadata);
        List<ReferencedFile> files = refs.files();
        progress.step("checking " + files.size() + " files of " + dir);
        List<Problem> problems = new ArrayList<>();
        List<PresentFile> present = checkPresence(files, listings, problems);

        DeepCheck deepCheck = null;
        if (deep) {
            present.add(0, new PresentFile(new ReferencedFile(metadataPath, metadataStatus.getLen(), true,
                    java.util.Set.of("metadata"), java.util.Set.of()), metadataStatus));
            deepCheck = readAll(present, calls, problems);
        }
        return new Validation(dir, kind, metadata.getCheckpointId(), Validation.verdictOf(problems), problems,
                metadataStatus.getModificationTime(), metadataStatus.getLen(), files, refs.inlineHandles(),
                refs.unsupportedHandles(), deepCheck, calls.snapshot().minus(before), metadata);
    }

    private record PresentFile(ReferencedFile file, FileStatus status) {}

    private static List<PresentFile> checkPresence(List<ReferencedFile> files, DirectoryListings listings, List<Problem> problems)
            throws IOException {
        // grouped by parent so that each directory is listed once, in the order first referenced
        Map<String, List<ReferencedFile>> byParent = new LinkedHashMap<>();
        Map<String, Path> parents = new LinkedHashMap<>();
        for (ReferencedFile f : files) {
            Path parent = f.path().getParent();
            String key = PathKey.of(parent);
            parents.putIfAbsent(key, parent);
            byParent.computeIfAbsent(key, k -> new ArrayList<>()).add(f);
        }
        List<PresentFile> present = new ArrayList<>();
        for (Map.Entry<String, List<ReferencedFile>> e : byParent.entrySet()) {
            DirectoryListings.Listing listing = listings.list(parents.get(e.getKey()));
            for (ReferencedFile f : e.getValue()) {
                FileStatus status = listing.get(f.path().getName());
                if (status == null || status.isDir()) {
                    problems.add(new Problem(Verdict.MISSING_FILES, f.path().toString(),
                            "missing" + (listing.exists() ? "" : " (its directory " + listing.dir() + " is missing)")
                                    + "; holds " + String.join(",", f.kinds()) + " state of operator " + String.join(",", f.operators())));
                } else if (f.exactSize() && status.getLen() != f.minSize()) {
                    problems.add(new Problem(Verdict.SIZE_MISMATCH, f.path().toString(),
                            "recorded size " + f.minSize() + " bytes, found " + status.getLen()));
                } else if (!f.exactSize() && status.getLen() < f.minSize()) {
                    problems.add(new Problem(Verdict.SIZE_MISMATCH, f.path().toString(),
                            "segments need at least " + f.minSize() + " bytes, found " + status.getLen()));
                } else {
                    present.add(new PresentFile(f, status));
                }
            }
        }
        return present;
    }

    /** How the s3tiered file system words a read whose bytes do not match the recorded CRC32C. */
    static final String CHECKSUM_REFUSAL = "CRC32C mismatch";

    /** Files read at once in deep mode: enough to hide S3 latency, few enough for a JobManager. */
    static final int DEEP_READ_THREADS = 8;

    /** What reading one file found: its problem, if any, and whether its checksum was compared. */
    private record FileRead(long bytes, boolean read, boolean recordsChecksums, boolean matched, boolean notRecorded,
            Problem problem) {}

    private DeepCheck readAll(List<PresentFile> files, FileSystemCalls calls, List<Problem> problems) throws IOException {
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(DEEP_READ_THREADS, files.size())), r -> {
            Thread t = new Thread(r, "recovery-inspector-deep-read");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<FileRead>> reads = new ArrayList<>(files.size());
            for (PresentFile pf : files) {
                reads.add(pool.submit(() -> readOne(pf, calls)));
            }
            int read = 0;
            long bytes = 0;
            int matched = 0;
            int mismatched = 0;
            int notRecorded = 0;
            boolean anyRecords = false;
            int done = 0;
            // In the files' order, so that problems are listed the same way every time.
            for (Future<FileRead> f : reads) {
                FileRead r = join(f);
                if (++done % 100 == 0) {
                    progress.step("deep check: " + done + "/" + files.size() + " files read");
                }
                if (r.read()) {
                    read++;
                    bytes += r.bytes();
                }
                anyRecords |= r.recordsChecksums();
                if (r.matched()) {
                    matched++;
                }
                if (r.notRecorded()) {
                    notRecorded++;
                }
                if (r.problem() != null) {
                    problems.add(r.problem());
                    if (r.problem().verdict() == Verdict.CHECKSUM_MISMATCH) {
                        mismatched++;
                    }
                }
            }
            return new DeepCheck(read, bytes, matched, mismatched, notRecorded, anyRecords);
        } finally {
            pool.shutdownNow();
        }
    }

    private static FileRead join(Future<FileRead> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted during the deep check", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException("Deep check failed: " + e.getCause(), e.getCause());
        }
    }

    private FileRead readOne(PresentFile pf, FileSystemCalls calls) throws IOException {
        Path path = pf.file().path();
        byte[] buffer = new byte[READ_BUFFER];
        CRC32C crc = new CRC32C();
        long length = 0;
        try (FSDataInputStream in = calls.open(path)) {
            int n;
            while ((n = in.read(buffer)) != -1) {
                crc.update(buffer, 0, n);
                length += n;
            }
        } catch (FileNotFoundException e) {
            return new FileRead(0, false, false, false, false,
                    new Problem(Verdict.MISSING_FILES, path.toString(), "listed but gone when read: " + e.getMessage()));
        } catch (IOException e) {
            if (String.valueOf(e.getMessage()).contains(CHECKSUM_REFUSAL)) {
                // The tiered file system verifies what it reads and refuses to serve bytes that
                // do not match the CRC32C recorded at upload: that is a checksum mismatch, not a
                // missing file. (Its exception type lives in the plugin class loader: the
                // message is the only thing both sides share.)
                return new FileRead(0, false, true, false, false,
                        new Problem(Verdict.CHECKSUM_MISMATCH, path.toString(), e.getMessage()));
            }
            return new FileRead(0, false, false, false, false,
                    new Problem(Verdict.MISSING_FILES, path.toString(), "cannot be read: " + e));
        }
        if (length != pf.status().getLen()) {
            return new FileRead(length, true, false, false, false, new Problem(Verdict.SIZE_MISMATCH, path.toString(),
                    "read " + length + " bytes, the listing says " + pf.status().getLen()));
        }
        if (!checksums.recordsChecksums(path)) {
            return new FileRead(length, true, false, false, true, null);
        }
        calls.countChecksumLookup();
        OptionalLong recorded = checksums.recordedCrc32c(path);
        if (recorded.isEmpty()) {
            return new FileRead(length, true, true, false, true, null);
        }
        if (recorded.getAsLong() == crc.getValue()) {
            return new FileRead(length, true, true, true, false, null);
        }
        return new FileRead(length, true, true, false, false, new Problem(Verdict.CHECKSUM_MISMATCH, path.toString(),
                String.format("CRC32C of the content is %08x, recorded %08x", crc.getValue(), recorded.getAsLong())));
    }
}
