package io.github.s3tiered.inspector;

/**
 * What deep validation read and compared.
 *
 * @param filesRead files read from start to end (the referenced files and {@code _metadata})
 * @param bytesRead their bytes
 * @param checksumsMatched files whose CRC32C equals the recorded one
 * @param checksumsMismatched files whose CRC32C differs from the recorded one
 * @param checksumsNotRecorded files without a recorded checksum: only their length was checked
 * @param fileSystemRecordsChecksums false when the file system records no checksums at all (any
 *     file system but the tiered one): deep mode then only proves every file reads fully
 */
public record DeepCheck(
        int filesRead,
        long bytesRead,
        int checksumsMatched,
        int checksumsMismatched,
        int checksumsNotRecorded,
        boolean fileSystemRecordsChecksums) {

    public String summary() {
        String s = filesRead + " files read fully (" + bytesRead + " bytes); ";
        if (!fileSystemRecordsChecksums) {
            return s + "checksum not recorded: this file system records no checksums, only lengths were checked";
        }
        return s + checksumsMatched + " checksums matched, " + checksumsMismatched + " mismatched, "
                + checksumsNotRecorded + " not recorded";
    }
}
