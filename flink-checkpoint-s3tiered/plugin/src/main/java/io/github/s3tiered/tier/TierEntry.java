package io.github.s3tiered.tier;

import java.nio.file.Path;

/** A copy in the local tier with the size and CRC32C it must have. */
public record TierEntry(String bucket, String key, Path data, Path meta, long size, int crc32c) {}
