package io.github.s3tiered.inspector.rehearsal;

/**
 * What deep validation proved of one file.
 *
 * @param path the file
 * @param proof the strongest proof obtained
 * @param how the checks behind it, for a human (e.g. "recorded CRC32C; RocksDB block checksums")
 */
public record FileProof(String path, Proof proof, String how) {}
