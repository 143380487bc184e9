package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Proof;

import java.util.List;

/**
 * What deep validation (a restore rehearsal) read and proved.
 *
 * @param filesRead files read in full from the storage (the referenced files and {@code _metadata})
 * @param bytesRead their bytes
 * @param checksumsMatched files whose CRC32C equals the one recorded when they were written
 * @param checksumsMismatched files whose CRC32C differs from the recorded one
 * @param checksumsNotRecorded files without a recorded checksum
 * @param fileSystemRecordsChecksums false when the file system records no checksums at all (any
 *     file system but the tiered one): only the formats' own checks can then prove content
 * @param files what was proven of each file, {@code _metadata} first
 * @param notes what could not be proven without making the checkpoint unrestorable (for example
 *     state whose serializers need the job's classes)
 * @param staleLocalCopiesDropped local-tier copies of this host dropped because S3 holds other content
 */
public record DeepCheck(
        int filesRead,
        long bytesRead,
        int checksumsMatched,
        int checksumsMismatched,
        int checksumsNotRecorded,
        boolean fileSystemRecordsChecksums,
        List<FileProof> files,
        List<String> notes,
        long staleLocalCopiesDropped) {

    public DeepCheck {
        files = List.copyOf(files);
        notes = List.copyOf(notes);
    }

    /** Files of which the given proof was the strongest obtained. */
    public long filesProven(Proof proof) {
        return files.stream().filter(f -> f.proof() == proof).count();
    }

    public String summary() {
        StringBuilder s = new StringBuilder(filesRead + " files read fully (" + bytesRead + " bytes); content proven by"
                + " a checksum for " + filesProven(Proof.CHECKSUM) + ", decoded by Flink's restore code for "
                + filesProven(Proof.DECODED) + ", length only for " + filesProven(Proof.LENGTH));
        if (filesProven(Proof.NONE) > 0) {
            s.append(", not proven for ").append(filesProven(Proof.NONE));
        }
        if (fileSystemRecordsChecksums) {
            s.append("; recorded CRC32C: ").append(checksumsMatched).append(" matched, ").append(checksumsMismatched)
                    .append(" mismatched, ").append(checksumsNotRecorded).append(" not recorded");
        } else {
            s.append("; checksum not recorded: this file system records none");
        }
        if (staleLocalCopiesDropped > 0) {
            s.append("; ").append(staleLocalCopiesDropped).append(" stale local-tier copies dropped");
        }
        return s.toString();
    }
}
