package io.github.s3tiered.s3;

/**
 * What S3 says of one object. {@code crc32c} is the checksum this file system recorded at upload
 * (object metadata), or null for objects written by other tools.
 */
public record ObjectInfo(String key, long size, long lastModifiedMillis, Integer crc32c) {}
