package io.github.s3tiered.inspector;

import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What a job that is about to restore looks like, as far as Flink's restore checks go.
 *
 * @param operatorIds the job's operator ids (32 hex digits), generated and user-defined alike
 * @param maxParallelism the job's max parallelism, or 0 or less when not to be checked
 */
public record JobShape(Set<String> operatorIds, int maxParallelism) {

    public JobShape {
        operatorIds = operatorIds.stream().map(s -> s.trim().toLowerCase(Locale.ROOT)).collect(Collectors.toUnmodifiableSet());
    }
}
