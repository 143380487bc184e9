package io.github.s3tiered.inspector.validation;

import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.StorageUnreadableException;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.metadata.CheckpointReferences.ChangelogFile;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * The sizes of the changelog state backend's files of changes. Flink's changelog storage records,
 * as a file's size, the bytes after its one-byte compression flag counted before compression
 * ({@code flink-dstl-dfs}'s {@code OutputStreamWithPos}): an uncompressed file (flag 0) holds
 * exactly one byte more than recorded; a compressed one (flag 1) any size, and only its content
 * tells whether it is whole. So a file that does not hold one byte more than recorded is read, as
 * the storage durably holds it (on {@code s3tiered://} from S3, never from a local copy), once:
 * uncompressed, it was cut or grown after it was written (SIZE_MISMATCH, as any other file of the
 * wrong size, once a status call confirms the listed size); compressed, its Snappy chunks are
 * checked and must decompress to the recorded size (changelog files are small: an upload is one
 * batch of a few MB, {@code state.changelog.dstl.dfs.batch.persist-size-threshold}); any other
 * first byte is not a file Flink's changelog wrote.
 */
final class ChangelogFileSizes {

    private static final int UNCOMPRESSED = 0;
    private static final int COMPRESSED = 1;

    private ChangelogFileSizes() {}

    /** Checks the files found in {@code present}; a file that fails leaves it, with a problem. */
    static void check(List<ChangelogFile> files, Map<String, FileStatus> present, FileSystemCalls calls,
            ChecksumSource checksums, List<Problem> problems) throws IOException {
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
            ChangelogFileContent content = new ChangelogFileContent();
            FileSystemCalls.DurableRead read;
            try {
                read = calls.readDurable(f.path(), content, checksums);
            } catch (FileNotFoundException e) {
                problems.add(new Problem(Verdict.MISSING_FILES, f.path().toString(),
                        "missing (deleted after its directory was listed); holds changes of the changelog state backend"));
                present.remove(key);
                continue;
            } catch (StorageUnreadableException e) {
                problems.add(new Problem(Verdict.UNKNOWN, f.path().toString(), e.getMessage()));
                present.remove(key);
                continue;
            }
            Problem problem = switch (content.flag()) {
                case UNCOMPRESSED -> uncompressed(f, key, present, calls);
                case COMPRESSED -> compressed(f, content, read);
                default -> new Problem(Verdict.CORRUPT_STATE, f.path().toString(), "a changelog file must start with"
                        + " its compression flag, 0 or 1; it starts with "
                        + (content.flag() == ChangelogFileContent.NO_FLAG ? "nothing" : "byte " + content.flag()));
            };
            if (problem != null) {
                problems.add(problem);
                present.remove(key);
            }
        }
    }

    /** The size came from a listing, which may mis-size an object: a status call decides. */
    private static Problem uncompressed(ChangelogFile f, String key, Map<String, FileStatus> present, FileSystemCalls calls)
            throws IOException {
        FileStatus confirmed;
        try {
            confirmed = calls.getFileStatus(f.path());
        } catch (StorageUnreadableException e) {
            return new Problem(Verdict.UNKNOWN, f.path().toString(), e.getMessage());
        }
        if (confirmed == null) {
            return new Problem(Verdict.MISSING_FILES, f.path().toString(),
                    "missing (deleted after it was read); holds changes of the changelog state backend");
        }
        if (f.recordedSizes().size() == 1 && f.recordedSizes().contains(confirmed.getLen() - 1)) {
            present.put(key, confirmed);
            return null;
        }
        return new Problem(Verdict.SIZE_MISMATCH, f.path().toString(), "an uncompressed changelog file (flag byte 0)"
                + " must hold one byte more than the " + describe(f) + " _metadata records, found " + confirmed.getLen());
    }

    private static Problem compressed(ChangelogFile f, ChangelogFileContent content, FileSystemCalls.DurableRead read) {
        String what = "a compressed changelog file (flag byte 1) of " + read.length() + " bytes: ";
        if (!read.checksumMatches()) {
            return new Problem(Verdict.CHECKSUM_MISMATCH, f.path().toString(), what + String.format(
                    "CRC32C of the content is %08x, recorded %08x", Integer.toUnsignedLong(read.crc32c()),
                    read.recordedCrc32c().getAsLong()));
        }
        if (content.damage() != null) {
            return new Problem(content.cutShort() ? Verdict.SIZE_MISMATCH : Verdict.CORRUPT_STATE, f.path().toString(),
                    what + content.damage());
        }
        if (f.recordedSizes().size() == 1 && f.recordedSizes().contains(content.decompressedLength())) {
            return null;
        }
        return new Problem(Verdict.SIZE_MISMATCH, f.path().toString(), what + "its Snappy chunks decompress to "
                + content.decompressedLength() + " bytes, where the _metadata records " + describe(f));
    }

    private static String describe(ChangelogFile f) {
        return f.recordedSizes().size() == 1 ? f.recordedSizes().iterator().next() + " bytes"
                : "sizes " + f.recordedSizes() + " (one file, recorded with several sizes)";
    }
}
