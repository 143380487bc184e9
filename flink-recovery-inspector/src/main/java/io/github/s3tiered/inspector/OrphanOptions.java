package io.github.s3tiered.inspector;

import java.time.Duration;

/**
 * How to look for orphans.
 *
 * @param minAge files younger than this are never orphans: a running job may be writing them or be
 *     about to reference them (default 1 hour)
 * @param delete delete the orphans found (refused while any {@code _metadata} cannot be read)
 * @param includeSiblingJobs also keep files referenced by the checkpoints of the other job
 *     directories beside this one: a job restored in CLAIM mode references its predecessor's
 *     {@code shared/} files
 */
public record OrphanOptions(Duration minAge, boolean delete, boolean includeSiblingJobs) {

    public static final Duration DEFAULT_MIN_AGE = Duration.ofHours(1);

    public static OrphanOptions reportOnly() {
        return new OrphanOptions(DEFAULT_MIN_AGE, false, true);
    }
}
