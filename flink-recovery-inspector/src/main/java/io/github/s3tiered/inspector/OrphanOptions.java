package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.time.Duration;
import java.util.List;

/**
 * How to look for orphans.
 *
 * @param minAge files younger than this are never orphans: a running job may be writing them or be
 *     about to reference them (default 1 hour)
 * @param delete delete the orphans found (refused while any {@code _metadata} cannot be read)
 * @param includeSiblingJobs also keep files referenced by the checkpoints of the other job
 *     directories beside this one: a job restored in CLAIM mode references its predecessor's
 *     {@code shared/} files
 * @param preUploadGrace how long an unreferenced upload ahead of a checkpoint
 *     ({@code shared/<sha256>-<id>.sst}) is kept, overriding what the job's storage recorded; null to
 *     use the record, and to keep every such file when there is none
 * @param alsoRead other job or checkpoint base directories whose checkpoints' references are kept
 *     too: a job resumed in CLAIM mode that writes its checkpoints under another checkpoint
 *     directory than its predecessor's still uses the predecessor's {@code shared/} files
 */
public record OrphanOptions(Duration minAge, boolean delete, boolean includeSiblingJobs, Duration preUploadGrace,
        List<Path> alsoRead) {

    public OrphanOptions {
        if (minAge == null || minAge.isNegative() || preUploadGrace != null && preUploadGrace.isNegative()) {
            throw new IllegalArgumentException("minAge must be given and neither it nor preUploadGrace negative; are "
                    + minAge + " and " + preUploadGrace);
        }
        alsoRead = alsoRead == null ? List.of() : List.copyOf(alsoRead);
    }

    public OrphanOptions(Duration minAge, boolean delete, boolean includeSiblingJobs, Duration preUploadGrace) {
        this(minAge, delete, includeSiblingJobs, preUploadGrace, List.of());
    }

    public OrphanOptions(Duration minAge, boolean delete, boolean includeSiblingJobs) {
        this(minAge, delete, includeSiblingJobs, null);
    }

    public static final Duration DEFAULT_MIN_AGE = Duration.ofHours(1);

    public static OrphanOptions reportOnly() {
        return new OrphanOptions(DEFAULT_MIN_AGE, false, true);
    }
}
