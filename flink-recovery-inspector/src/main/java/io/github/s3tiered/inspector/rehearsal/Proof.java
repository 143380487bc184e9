package io.github.s3tiered.inspector.rehearsal;

/**
 * How much of a file's content a deep validation proved, from most to least. Only
 * {@link #CHECKSUM} proves the bytes are the ones written: a byte changed in a file proven
 * {@link #DECODED} can still restore, with other state.
 */
public enum Proof {
    /**
     * Every byte that a restore uses is covered by a checksum: the CRC32C recorded at upload, or
     * the format's own (RocksDB's block checksums in SST files together with the unique id the
     * MANIFEST records for each, which RocksDB 8 compares at open; its record checksums in
     * MANIFEST files; CURRENT is read exactly by RocksDB's open).
     */
    CHECKSUM,
    /**
     * Read through Flink's restore code and serializers at the offsets {@code _metadata} records:
     * the structure is proven, a changed value inside it is not. Also an SST whose block checksums
     * hold where no unique id tells it from another whole SST of its size (RocksDB 6).
     */
    DECODED,
    /** Read to its recorded length; its content is not interpreted by a restore or not checked. */
    LENGTH,
    /** Not read (it could not be fetched, or its check could not run). */
    NONE;

    /** The stronger of two proofs. */
    public Proof max(Proof other) {
        return ordinal() <= other.ordinal() ? this : other;
    }

    public boolean provesContent() {
        return this == CHECKSUM;
    }
}
