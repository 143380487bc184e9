package io.github.s3tiered.fs;

import io.github.s3tiered.s3.S3Access;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * A download or read whose bytes are not those the object's recorded CRC32C describes, and the one
 * rule for what follows it: bytes altered on the way (a faulty proxy, NIC or link) arrive intact the
 * next time, as a failed request succeeds when retried, so the download is repeated, up to
 * {@code s3tiered.read.reopen-attempts} times; bytes damaged in S3 fail the same way every time, and
 * the last failure is the caller's. Every path that downloads a whole object and checks it (a
 * restore's batch download, its fallback straight into place, a read checked before it is served)
 * asks {@link #repeat}.
 */
final class CorruptDownloadException extends IOException {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(CorruptDownloadException.class);

    CorruptDownloadException(String message) {
        super(message);
    }

    /**
     * Whether a download that failed with {@code failure}, after {@code repeated} repeats, is to be
     * downloaded again: a corruption, not yet repeated {@code attempts} times, of a transfer not
     * cancelled. Counts and logs the repeat when so.
     */
    static boolean repeat(Throwable failure, int repeated, int attempts, S3Access store) {
        if (!(failure instanceof CorruptDownloadException) || repeated >= attempts || store.cancellation().isCancelled()) {
            return false;
        }
        store.statistics().corruptDownloadsRepeated.increment();
        LOG.warn("{}; downloading it again ({} of {})", failure.getMessage(), repeated + 1, attempts);
        return true;
    }
}
