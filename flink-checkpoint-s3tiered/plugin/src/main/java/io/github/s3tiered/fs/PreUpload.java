package io.github.s3tiered.fs;

import io.github.s3tiered.s3.Cancellation;
import io.github.s3tiered.tier.LocalTier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Uploads one local file that will not change (an SST file RocksDB just wrote) ahead of the
 * checkpoint that will reference it, to a key in the given directory named by its content and made
 * unique to this upload: {@code <dir>/<sha256>-<16 random hex digits>.sst}. Reads the file twice
 * (hash, then upload; the second read comes from the page cache) and keeps the local-tier copy as
 * a hard link where the tier shares the file's disk. The object is registered in
 * {@link PreUploads} only once S3 acknowledged it.
 *
 * <p>Why not the content alone: an object is owned by the one checkpoint handed it, and deleted
 * with that checkpoint's state, or by its uploader when no checkpoint was. Two uploads of the same
 * bytes under one key would share an object neither owns alone: another TaskManager's withdrawal,
 * or a withdrawal of this one whose delete is still under way, would take the object a checkpoint
 * refers to. RocksDB writes a session id and file number into every SST file, so equal content is
 * not expected; the key does not rely on it. A lib jar of 0.2.0 (it does not ask for a name per
 * upload) still gets {@code <sha256>.sst}: its orphan removal knows only that name, and would
 * remove an unreferenced upload of another name before a TaskManager stops handing it out.
 */
final class PreUpload {

    private static final Logger LOG = LoggerFactory.getLogger(PreUpload.class);

    /** The suffix of a pre-uploaded object's name; it starts with the SHA-256 of the content in hex. */
    static final String SUFFIX = ".sst";

    private static final SecureRandom UNIQUE = new SecureRandom();

    /** What happened to one file. */
    enum Outcome { UPLOADED, ALREADY_DURABLE, FILE_GONE }

    record Result(Outcome outcome, ObjectPath object, long length) {}

    private PreUpload() {}

    /** {@code <sha256>-<16 hex digits>.sst}: the recovery inspector knows the pre-uploads by this form. */
    static String objectName(String sha256) {
        return sha256 + '-' + HexFormat.of().toHexDigits(UNIQUE.nextLong()) + SUFFIX;
    }

    static Result run(S3TieredRuntime runtime, ObjectPath directory, Path file, long reuseWindowNanos, boolean namePerUpload)
            throws IOException {
        ContentHash hash;
        long hashStart = ThreadCpuClock.now();
        try {
            hash = ContentHash.of(file);
        } catch (NoSuchFileException gone) {
            return new Result(Outcome.FILE_GONE, null, 0); // compacted away before its turn came
        } finally {
            runtime.store().statistics().contentHashNanos.add(ThreadCpuClock.now() - hashStart);
        }
        ObjectPath object = new ObjectPath(directory.bucket(), directory.childPrefix()
                + (namePerUpload ? objectName(hash.sha256()) : hash.sha256() + SUFFIX));
        PreUploads.ContentId id = hash.id();
        PreUploads.Entry entry = runtime.preUploads().begin(id, object, reuseWindowNanos);
        if (entry == null) {
            return new Result(Outcome.ALREADY_DURABLE, null, hash.length()); // nothing of this call's to withdraw
        }
        boolean ok = false;
        try {
            // Our own view of the file: a hard link keeps the bytes even when RocksDB deletes the
            // file meanwhile, and becomes the local-tier copy afterwards.
            LocalTier tier = runtime.tier();
            Path staged = tier.newStagingFile();
            try {
                Files.createLink(staged, file);
            } catch (NoSuchFileException gone) {
                return new Result(Outcome.FILE_GONE, null, 0);
            } catch (IOException | UnsupportedOperationException otherDisk) {
                try {
                    Files.copy(file, staged, StandardCopyOption.REPLACE_EXISTING);
                } catch (NoSuchFileException e) {
                    Files.deleteIfExists(staged);
                    if (!Files.exists(file)) {
                        return new Result(Outcome.FILE_GONE, null, 0); // compacted away while copied
                    }
                    throw new IOException("Could not copy " + file + " into the local tier (" + staged
                            + ") to upload it ahead of a checkpoint: " + e.getMessage(), e);
                } catch (IOException e) {
                    // a full tier volume: no partial copy may hold its space until the leftover scan
                    IOException failure = new IOException("Could not copy " + file + " into the local tier (" + staged
                            + ") to upload it ahead of a checkpoint: " + e.getMessage(), e);
                    try {
                        Files.deleteIfExists(staged);
                    } catch (IOException suppressed) {
                        failure.addSuppressed(suppressed);
                    }
                    throw failure;
                }
            }
            try {
                // a content-named key (a 0.2.0 lib jar) may hold an object earlier checkpoints refer to
                FileUpload.upload(runtime, entry.upload, object, staged, hash.length(), hash.crc32c(), !namePerUpload);
                ok = true;
                // the copy first: a checkpoint handed the object, or a withdrawal of it, comes only
                // once it is marked durable, so neither finds the tier without the copy or gets it back
                try {
                    tier.commit(object.bucket(), object.key(), staged, hash.length(), hash.crc32c());
                } catch (IOException | RuntimeException e) {
                    LOG.warn("Uploaded {} ahead of a checkpoint but could not keep its local-tier copy: {}", object,
                            e.toString());
                } finally {
                    runtime.preUploads().succeeded(id, entry);
                    runtime.store().statistics().preUploads.increment();
                    runtime.store().statistics().preUploadedBytes.add(hash.length());
                }
                return new Result(Outcome.UPLOADED, object, hash.length());
            } finally {
                Files.deleteIfExists(staged);
            }
        } finally {
            if (!ok) {
                runtime.preUploads().failed(id, entry);
            }
        }
    }
}
