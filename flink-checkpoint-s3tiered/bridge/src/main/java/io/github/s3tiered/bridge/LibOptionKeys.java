package io.github.s3tiered.bridge;

import java.util.List;

/**
 * The keys the lib jar's storage and state backend read, for the plugin, which cannot see their
 * options: a misspelt key is then pointed at the option it most likely meant, whichever jar reads
 * it (else {@code s3tiered.preuploads.enabled} was taken for the file system's closest key,
 * {@code s3tiered.local.enabled}). The lib's tests hold this list to its options.
 */
public final class LibOptionKeys {

    /** The prefixes under which every key is the lib's (the plugin leaves them to it). */
    public static final List<String> PREFIXES = List.of("s3tiered.verification.", "s3tiered.preupload.",
            "s3tiered.recovery.");

    public static final List<String> KEYS = List.of(
            "s3tiered.preupload.enabled",
            "s3tiered.preupload.max-concurrent",
            "s3tiered.preupload.max-queued-bytes",
            "s3tiered.preupload.reuse-window",
            "s3tiered.recovery.fallback-to-restorable",
            "s3tiered.recovery.validate",
            "s3tiered.recovery.validate.deep",
            "s3tiered.verification.enabled",
            "s3tiered.verification.full-listing-interval",
            "s3tiered.verification.orphan-clock-margin",
            "s3tiered.verification.orphan-min-age",
            "s3tiered.verification.remove-orphans");

    private LibOptionKeys() {}
}
