package io.github.s3tiered.inspector.validation;

import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.StorageUnreadableException;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.metadata.CheckpointReferences.ChangelogFile;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The sizes of the changelog state backend's files of changes. Flink's changelog storage records,
 * as a file's size, the bytes after its one-byte compression flag counted before compression
 * ({@code flink-dstl-dfs}'s {@code OutputStreamWithPos}): an uncompressed file (flag 0) holds
 * exactly one byte more than recorded, a compressed one (flag 1) any size, which only reading it
 * tells (deep validation does). So where a file does not hold one byte more than recorded, its
 * flag is read (one open; on {@code s3tiered://} one byte from S3, never from a local copy):
 * uncompressed, the file was cut or grown after it was written (SIZE_MISMATCH, as any other file
 * of the wrong size, once a status call confirms the listed size); compressed, its size proves
 * nothing; any other first byte is not a file Flink's changelog wrote.
 */
final class ChangelogFileSizes {

    private static final int UNCOMPRESSED = 0;
    private static final int COMPRESSED = 1;

    private ChangelogFileSizes() {}

    /** Checks the files found in {@code present}; a file that fails leaves it, with a problem. */
    static void check(List<ChangelogFile> files, Map<String, FileStatus> present, FileSystemCalls calls,
            List<Problem> problems) throws IOException {
        for (ChangelogFile f : files) {
            String key = PathKey.of(f.path());
            FileStatus status = present.get(key);
            if (status == null) {
                continue; // missing or of no size at all: reported already
            }
            long afterFlag = status.getLen() - 1;
            if (f.recordedSizes().size() == 1 && f.recordedSizes().contains(afterFlag)) {
                continue; // uncompressed and whole, or compressed to exactly the recorded size plus one
            }
            Integer flag;
            try {
                flag = calls.firstByte(f.path());
            } catch (StorageUnreadableException e) {
                problems.add(new Problem(Verdict.UNKNOWN, f.path().toString(), e.getMessage()));
                present.remove(key);
                continue;
            }
            if (flag == null) {
                problems.add(new Problem(Verdict.MISSING_FILES, f.path().toString(),
                        "missing (deleted after its directory was listed); holds changes of the changelog state backend"));
                present.remove(key);
            } else if (flag == UNCOMPRESSED) {
                // the size came from a listing, which may mis-size an object: a status call decides
                FileStatus confirmed;
                try {
                    confirmed = calls.getFileStatus(f.path());
                } catch (StorageUnreadableException e) {
                    problems.add(new Problem(Verdict.UNKNOWN, f.path().toString(), e.getMessage()));
                    present.remove(key);
                    continue;
                }
                if (confirmed == null) {
                    problems.add(new Problem(Verdict.MISSING_FILES, f.path().toString(),
                            "missing (deleted after it was read); holds changes of the changelog state backend"));
                } else if (f.recordedSizes().size() == 1 && f.recordedSizes().contains(confirmed.getLen() - 1)) {
                    present.put(key, confirmed);
                    continue;
                } else {
                    problems.add(new Problem(Verdict.SIZE_MISMATCH, f.path().toString(), "an uncompressed changelog file"
                            + " (flag byte 0) must hold one byte more than the " + describe(f) + " _metadata records, found "
                            + confirmed.getLen()));
                }
                present.remove(key);
            } else if (flag != COMPRESSED) {
                problems.add(new Problem(Verdict.CORRUPT_STATE, f.path().toString(), "a changelog file must start with"
                        + " its compression flag, 0 or 1; it starts with " + (flag < 0 ? "nothing" : "byte " + flag)));
                present.remove(key);
            }
        }
    }

    private static String describe(ChangelogFile f) {
        return f.recordedSizes().size() == 1 ? f.recordedSizes().iterator().next() + " bytes"
                : "sizes " + f.recordedSizes() + " (one file, recorded with several sizes)";
    }
}
