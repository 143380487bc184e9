package io.github.s3tiered.inspector.rehearsal;

import java.nio.file.Path;

/**
 * What the checks need besides the files.
 *
 * @param classLoader loads the classes of the state's serializers (Flink's, and the job's if known)
 * @param jobClassesComplete true when {@code classLoader} holds the job's own classes (the guard
 *     in the JobManager, or the command line given the job's jar): a class it cannot find is then
 *     damage, not a class the inspector merely lacks
 * @param scratch a directory for temporary files (RocksDB opens), removed by the caller
 * @param metadataFile the checkpoint's {@code _metadata}, which holds state stored inline
 */
public record RehearsalContext(ClassLoader classLoader, boolean jobClassesComplete, Path scratch, String metadataFile) {}
