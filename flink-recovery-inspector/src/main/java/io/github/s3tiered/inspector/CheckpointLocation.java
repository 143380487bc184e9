package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

/**
 * A checkpoint or savepoint directory found by discovery, before its metadata is read.
 *
 * @param path its directory
 * @param kind checkpoint ({@code chk-N}) or savepoint ({@code savepoint-*})
 * @param idFromName N of {@code chk-N}; -1 for savepoints (their id is in the metadata only)
 */
public record CheckpointLocation(Path path, CheckpointKind kind, long idFromName) {}
