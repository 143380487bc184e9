package io.github.s3tiered.inspector;

import io.github.s3tiered.inspector.RealCheckpoints.Kind;
import io.github.s3tiered.inspector.metadata.MetadataStructure;
import io.github.s3tiered.inspector.rehearsal.FileProof;
import io.github.s3tiered.inspector.rehearsal.Proof;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.KeyGroupsSavepointStateHandle;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every kind of damage, done in place to real {@code file://} checkpoints of every kind and undone
 * afterwards, is caught with its verdict, and the restore point of the job directory is never the
 * damaged checkpoint: it is the newest candidate the damage does not concern, or none.
 *
 * <p>{@code file://} records no checksum, so a byte flipped inside a state file (same size) is caught
 * only by deep mode's restore rehearsal: RocksDB's block checksums for SST files, its record checksums
 * for MANIFEST files, and the key-group structure decoded at the offsets {@code _metadata} records for
 * heap snapshots and canonical savepoints.
 */
class CheckpointDamageITCase {

    /** How long a damaged {@code _metadata} may take to be judged: it must fail fast. */
    private static final long METADATA_VERDICT_MILLIS = 2_000;

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = RealCheckpoints.miniCluster();

    @TempDir
    static java.nio.file.Path base;

    static RealCheckpoints checkpoints;

    static final CheckpointInspector INSPECTOR = new CheckpointInspector(CheckpointDamageITCase.class.getClassLoader());

    /** The intact state of each kind, read once before any damage. */
    static final Map<Kind, Intact> INTACT = new EnumMap<>(Kind.class);

    /** One line per case run, for the report. */
    static final Map<String, String> REPORT = new TreeMap<>();

    /** Each kind of damage, with the verdict it must get and whether only deep mode can see it. */
    enum DamageKind {
        STATE_FILE_DELETED(Verdict.MISSING_FILES, false),
        STATE_FILE_TRUNCATED(Verdict.SIZE_MISMATCH, false),
        STATE_FILE_EXTENDED(Verdict.SIZE_MISMATCH, false),
        STATE_FILE_EMPTIED(Verdict.SIZE_MISMATCH, false),
        SST_BYTE_FLIPPED(Verdict.CORRUPT_STATE, true),
        SST_REPLACED_BY_A_VALID_ONE(Verdict.CORRUPT_STATE, true),
        MANIFEST_BYTE_FLIPPED(Verdict.CORRUPT_STATE, true),
        KEY_GROUP_BYTE_FLIPPED(Verdict.CORRUPT_STATE, true),
        METADATA_DELETED(Verdict.NO_METADATA, false),
        METADATA_EMPTIED(Verdict.CORRUPT_METADATA, false),
        METADATA_TRUNCATED_TO_HALF(Verdict.CORRUPT_METADATA, false),
        METADATA_GARBAGE(Verdict.CORRUPT_METADATA, false),
        METADATA_EXTREME_COUNT_FIELD(Verdict.CORRUPT_METADATA, false),
        METADATA_EXTREME_LENGTH_FIELD(Verdict.CORRUPT_METADATA, false);

        final Verdict verdict;
        final boolean deepOnly;

        DamageKind(Verdict verdict, boolean deepOnly) {
            this.verdict = verdict;
            this.deepOnly = deepOnly;
        }

        boolean ofMetadata() {
            return name().startsWith("METADATA_");
        }
    }

    /** A checkpoint or savepoint of the job directory that a restore point search considers. */
    record Candidate(Path path, long id, Validation intact, StateFiles files) {
        boolean restorable() {
            return intact.restorable();
        }

        boolean references(Path file, Predicate<ReferencedFile> how) {
            String key = PathKey.of(file);
            return intact.files().stream().anyMatch(f -> PathKey.of(f.path()).equals(key) && how.test(f));
        }
    }

    /**
     * @param savepoints whether restore points are searched with savepoints (for the savepoint kinds)
     * @param candidates the job directory's candidates, newest (highest id) first
     */
    record Intact(Kind kind, Path checkpoint, Path jobDir, boolean savepoints, Validation deep, StateFiles files,
            byte[] metadata, List<Candidate> candidates) {}

    /** The damage done: to which file, what it means, and which candidates it concerns. */
    record Applied(Path file, String what, Predicate<Candidate> concerns) {}

    @BeforeAll
    static void makeCheckpoints(@InjectMiniCluster MiniCluster cluster) throws Exception {
        FileSystem.initialize(new Configuration(), null);
        checkpoints = RealCheckpoints.make(cluster, base);
        for (Kind kind : Kind.values()) {
            Path cp = checkpoints.of(kind);
            Validation deep = INSPECTOR.validate(cp, true);
            assertThat(deep.verdict()).as(kind + " intact: " + deep.reason()).isEqualTo(Verdict.RESTORABLE);
            CheckpointingJob.Result job = jobOf(kind);
            boolean savepoints = kind.name().contains("SAVEPOINT");
            List<Candidate> candidates = new ArrayList<>();
            // what a restore point search finds in the job directory, listed here independently of the inspector
            try (Stream<java.nio.file.Path> dirs = Files.list(job.jobDir())) {
                for (java.nio.file.Path dir : dirs.sorted().toList()) {
                    String name = dir.getFileName().toString();
                    boolean checkpoint = name.matches("chk-\\d+");
                    if (!Files.isDirectory(dir) || !(checkpoint || (savepoints && name.startsWith("savepoint-")))) {
                        continue;
                    }
                    Validation v = INSPECTOR.validate(flink(dir), false);
                    long id = checkpoint ? Long.parseLong(name.substring(4)) : v.checkpointId();
                    candidates.add(new Candidate(flink(dir), id, v, v.metadata() == null ? null : StateFiles.of(v.metadata())));
                }
            }
            assertThat(candidates).extracting(c -> PathKey.of(c.path())).contains(PathKey.of(cp));
            candidates.sort(Comparator.comparingLong(Candidate::id).reversed());
            INTACT.put(kind, new Intact(kind, cp, flink(job.jobDir()), savepoints, deep, StateFiles.of(deep.metadata()),
                    Files.readAllBytes(local(new Path(cp, "_metadata"))), candidates));
            REPORT.put(kind + " / (intact)", cp.getName() + "; restore point candidates " + candidates.stream()
                    .map(c -> c.path().getName() + "=" + c.intact().verdict()).toList() + "; " + deep.reason());
        }
    }

    @AfterAll
    static void printReport() {
        System.out.println("Checkpoint damage matrix (kind / damage: victim; non-deep; deep; restore point)");
        REPORT.forEach((k, v) -> System.out.println("  " + k + ": " + v));
    }

    static Stream<Arguments> matrix() {
        return Stream.of(Kind.values()).flatMap(k -> Stream.of(DamageKind.values()).map(d -> Arguments.of(k, d)));
    }

    @org.junit.jupiter.api.Test
    void aDamagedSstOnAHostWhereTheDeepCheckCannotRunIsUnknownNotRestorable() throws Exception {
        Intact in = INTACT.get(Kind.ROCKSDB_INCREMENTAL);
        try (Damage d = new Damage()) {
            apply(DamageKind.SST_BYTE_FLIPPED, in, d);
            Validation deep;
            try (AutoCloseable noLibrary = io.github.s3tiered.inspector.rehearsal.RocksDbLibrary.unavailableForTests()) {
                deep = INSPECTOR.validate(in.checkpoint(), true);
            }
            // no recorded checksum on file://: nothing proved the SST's bytes, which a restore then rejects
            assertThat(deep.verdict()).as(deep.reason()).isEqualTo(Verdict.UNKNOWN);
            assertThat(deep.reason()).contains("not proven").contains("native library could not be loaded here");
            assertThat(INSPECTOR.validate(in.checkpoint(), true).verdict()).isEqualTo(Verdict.CORRUPT_STATE);
        }
        assertThat(INSPECTOR.validate(in.checkpoint(), true).verdict()).isEqualTo(Verdict.RESTORABLE);
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("matrix")
    void damageIsCaughtAndNeverResumedFrom(Kind kind, DamageKind damage) throws Exception {
        Intact in = INTACT.get(kind);
        Path cp = in.checkpoint();
        String line;
        try (Damage d = new Damage()) {
            Applied applied = apply(damage, in, d);

            long t0 = System.nanoTime();
            Validation shallow = INSPECTOR.validate(cp, false);
            long shallowMs = (System.nanoTime() - t0) / 1_000_000;
            t0 = System.nanoTime();
            Validation deep = INSPECTOR.validate(cp, true);
            long deepMs = (System.nanoTime() - t0) / 1_000_000;

            if (damage.deepOnly) {
                assertThat(shallow.verdict()).as("non-deep, same size: " + shallow.reason()).isEqualTo(Verdict.RESTORABLE);
            } else {
                assertThat(shallow.verdict()).as("non-deep: " + shallow.reason()).isEqualTo(damage.verdict);
            }
            assertThat(deep.verdict()).as("deep: " + deep.reason()).isEqualTo(damage.verdict);
            if (damage == DamageKind.SST_REPLACED_BY_A_VALID_ONE) {
                // refused for what it is, not for a side effect of how it was made
                assertThat(deep.reason()).contains("unique ID");
            }
            if (damage.ofMetadata()) {
                assertThat(shallowMs).as("non-deep verdict on a damaged _metadata, ms").isLessThan(METADATA_VERDICT_MILLIS);
                assertThat(deepMs).as("deep verdict on a damaged _metadata, ms").isLessThan(METADATA_VERDICT_MILLIS);
                if (damage.verdict == Verdict.CORRUPT_METADATA) {
                    // rejected by the bounded reader, or read by Flink's and then contradicted by the consistency checks
                    for (Validation v : List.of(shallow, deep)) {
                        assertThat(v.problems().stream().filter(p -> p.verdict() == damage.verdict).map(p -> p.file() == null
                                ? null : PathKey.of(new Path(p.file()))).distinct()).as(v.reason())
                                .containsExactly(PathKey.of(applied.file()));
                    }
                }
            } else {
                // the damaged file is named, and it is the only one of the verdict's category
                Validation naming = damage.deepOnly ? deep : shallow;
                assertThat(naming.problems().stream().filter(p -> p.verdict() == damage.verdict).map(Problem::file).distinct())
                        .as(naming.reason()).containsExactly(applied.file().toString());
                if (!damage.deepOnly) {
                    assertThat(deep.filesConcerned()).as(deep.reason()).contains(applied.file().toString());
                }
            }

            // deep-only damage: a non-deep search cannot see it, so only the deep one is asked
            StringBuilder points = new StringBuilder();
            for (boolean deepSearch : damage.deepOnly ? List.of(true) : List.of(false, true)) {
                RestorePoint rp = INSPECTOR.restorePoint(in.jobDir(), new RestorePointOptions(in.savepoints(), deepSearch, null));
                assertRestorePoint(in, rp, applied, damage);
                points.append(deepSearch ? "; deep restore point " : "; restore point ")
                        .append(rp.path().map(p -> p.getName()).orElse("none")).append(" (skipped ").append(rp.skipped().size())
                        .append(")");
            }
            line = applied.what() + "; non-deep " + shallow.verdict() + " (" + shallowMs + " ms); deep " + deep.verdict() + " ("
                    + deepMs + " ms): " + (damage.deepOnly ? deep.reason() : shallow.reason()) + points;
        }
        REPORT.put(kind + " / " + damage, line);
        // undone: the checkpoint is whole again
        Validation repaired = INSPECTOR.validate(cp, false);
        assertThat(repaired.verdict()).as("after repair: " + repaired.reason()).isEqualTo(Verdict.RESTORABLE);
    }

    // ---------------------------------------------------------------- the damage

    private static Applied apply(DamageKind damage, Intact in, Damage d) throws Exception {
        Path cp = in.checkpoint();
        Path metadata = new Path(cp, "_metadata");
        Predicate<Candidate> thisOne = c -> PathKey.of(c.path()).equals(PathKey.of(cp));
        switch (damage) {
            case STATE_FILE_DELETED -> {
                ReferencedFile f = largestFile(in, false);
                d.delete(local(f.path()));
                return new Applied(f.path(), "deleted " + describe(f), c -> c.references(f.path(), r -> true));
            }
            case STATE_FILE_TRUNCATED -> {
                ReferencedFile f = largestFile(in, false);
                long length = f.minSize() / 2;
                d.truncate(local(f.path()), length);
                return new Applied(f.path(), "truncated to " + length + " bytes " + describe(f),
                        c -> c.references(f.path(), r -> r.exactSize() || r.minSize() > length));
            }
            case STATE_FILE_EXTENDED -> {
                ReferencedFile f = largestFile(in, true);
                byte[] extra = new byte[100];
                new Random(7).nextBytes(extra);
                d.extend(local(f.path()), extra);
                return new Applied(f.path(), "100 bytes appended to " + describe(f),
                        c -> c.references(f.path(), ReferencedFile::exactSize));
            }
            case STATE_FILE_EMPTIED -> {
                ReferencedFile f = largestFile(in, false);
                d.empty(local(f.path()));
                return new Applied(f.path(), "emptied " + describe(f), c -> c.references(f.path(), r -> r.minSize() > 0));
            }
            case SST_BYTE_FLIPPED -> {
                StateFiles.Piece sst = largestPiece(in, StateFiles.Role.SST, in.kind() + " has no SST file: its keyed state is"
                        + " in the " + keyedFormat(in.kind()) + ", not in RocksDB's native format");
                assertProvenBy(in, sst, sstProof(), "RocksDB block checksums");
                return flip(d, sst, sst.start() + sst.length() / 2, "SST " + sst.localName());
            }
            case SST_REPLACED_BY_A_VALID_ONE -> {
                // sound block checksums, same size: only RocksDB's unique id check at open tells it is not the file
                StateFiles.Piece sst = largestPiece(in, StateFiles.Role.SST, in.kind() + " has no SST file: its keyed state is"
                        + " in the " + keyedFormat(in.kind()) + ", not in RocksDB's native format");
                assumeTrue(sst.wholeFile(), in.kind() + " keeps its SST files as segments of merged files");
                assumeTrue(sstProof() == Proof.CHECKSUM, "RocksDB " + org.rocksdb.RocksDB.rocksdbVersion() + " records no"
                        + " unique id: nothing tells a whole SST of the same size from the one written, and the rehearsal"
                        + " proves SST files DECODED only (their structure)");
                assertProvenBy(in, sst, Proof.CHECKSUM, "RocksDB block checksums and unique id (" + sst.localName() + ")");
                d.replace(local(sst.file()), SameSizeSst.rewrite(local(sst.file())));
                return new Applied(sst.file(), "SST " + sst.localName() + " (" + sst.file().getName() + ") replaced by a valid SST"
                        + " of the same size and keys written by SstFileWriter",
                        c -> c.files() != null && c.files().covers(sst.file(), sst.start()));
            }
            case MANIFEST_BYTE_FLIPPED -> {
                StateFiles.Piece manifest = largestPiece(in, StateFiles.Role.MANIFEST, in.kind() + " has no MANIFEST: its keyed"
                        + " state is in the " + keyedFormat(in.kind()) + ", not in RocksDB's native format");
                assertProvenBy(in, manifest, Proof.CHECKSUM, "every record checksummed, opened by RocksDB");
                return flip(d, manifest, manifest.start() + manifest.length() / 2, manifest.localName());
            }
            case KEY_GROUP_BYTE_FLIPPED -> {
                StateFiles.Piece kg = largestPiece(in, StateFiles.Role.KEY_GROUPS, in.kind() + " has no key-group-offset state"
                        + " file: RocksDB's native format keeps keyed state in SST files (see SST_BYTE_FLIPPED)");
                assertProvenBy(in, kg, Proof.DECODED, "key groups decoded");
                boolean canonical = kg.keyGroups() instanceof KeyGroupsSavepointStateHandle;
                List<Tuple2<Integer, Long>> groups = new ArrayList<>();
                // a canonical (full) snapshot records offset 0 for empty key groups; a heap snapshot writes every one
                kg.keyGroups().getGroupRangeOffsets().forEach(g -> {
                    if (!canonical || g.f1 > 0) {
                        groups.add(g);
                    }
                });
                assertThat(groups).as("key groups with data in " + kg.file()).isNotEmpty();
                Tuple2<Integer, Long> group = groups.get(groups.size() / 2);
                long offset = kg.start() + group.f1;
                return flip(d, kg, offset, canonical
                        ? "the high byte of the state id that starts key group " + group.f0 + " (canonical format)"
                        : "the high byte of key group " + group.f0 + "'s id (hashmap snapshot)");
            }
            case METADATA_DELETED -> {
                d.delete(local(metadata));
                return new Applied(metadata, "deleted _metadata", thisOne);
            }
            case METADATA_EMPTIED -> {
                d.empty(local(metadata));
                return new Applied(metadata, "emptied _metadata (" + in.metadata().length + " bytes)", thisOne);
            }
            case METADATA_TRUNCATED_TO_HALF -> {
                d.truncate(local(metadata), in.metadata().length / 2);
                return new Applied(metadata, "_metadata truncated to " + in.metadata().length / 2 + " of "
                        + in.metadata().length + " bytes", thisOne);
            }
            case METADATA_GARBAGE -> {
                byte[] garbage = new byte[in.metadata().length];
                new Random(42 + in.kind().ordinal()).nextBytes(garbage);
                d.replace(local(metadata), garbage);
                return new Applied(metadata, "_metadata replaced by " + garbage.length + " random bytes", thisOne);
            }
            case METADATA_EXTREME_COUNT_FIELD, METADATA_EXTREME_LENGTH_FIELD -> {
                byte[] bytes = in.metadata().clone();
                MetadataStructure.Kind kind = damage == DamageKind.METADATA_EXTREME_COUNT_FIELD
                        ? MetadataStructure.Kind.COUNT : MetadataStructure.Kind.LENGTH;
                MetadataStructure.Field field = middleField(bytes, kind);
                long extreme = field.width() == 4 ? Integer.MAX_VALUE : (1L << (8 * field.width())) - 1;
                for (int i = 0; i < field.width(); i++) {
                    bytes[field.offset() + i] = (byte) (extreme >>> (8 * (field.width() - 1 - i)));
                }
                d.replace(local(metadata), bytes);
                return new Applied(metadata, "_metadata " + field.kind() + " field '" + field.name() + "' (" + field.width()
                        + " bytes at byte " + field.offset() + ") set to " + extreme, thisOne);
            }
            default -> throw new IllegalArgumentException(damage.toString());
        }
    }

    private static Applied flip(Damage d, StateFiles.Piece piece, long offset, String what) throws Exception {
        d.flipByte(local(piece.file()), offset);
        return new Applied(piece.file(), "byte " + offset + " flipped in " + what + " (" + piece.file().getName()
                + (piece.wholeFile() ? "" : ", bytes " + piece.start() + "-" + piece.end() + " of a merged file") + ")",
                c -> c.files() != null && c.files().covers(piece.file(), offset));
    }

    /**
     * What the intact rehearsal proves of an SST file: its content where RocksDB compares each
     * SST's unique id with the MANIFEST's at open (RocksDB 8, Flink 2.x), its structure elsewhere.
     */
    private static Proof sstProof() {
        return org.rocksdb.RocksDB.rocksdbVersion().getMajor() >= 8 ? Proof.CHECKSUM : Proof.DECODED;
    }

    /** The largest referenced file (ties by path), optionally only a whole-file one. */
    private static ReferencedFile largestFile(Intact in, boolean exactSizeOnly) {
        Optional<ReferencedFile> f = in.deep().files().stream()
                .filter(r -> !exactSizeOnly || r.exactSize())
                .max(Comparator.comparingLong(ReferencedFile::minSize).thenComparing(r -> r.path().toString()));
        assumeTrue(f.isPresent(), in.kind() + " has no whole state file: with file merging every file holds segments, and"
                + " bytes after the last referenced segment are not damage (a merged file only has a minimum size)");
        assertThat(f.get().minSize()).as("victim " + f.get().path() + " is a file with content").isPositive();
        return f.get();
    }

    private static StateFiles.Piece largestPiece(Intact in, StateFiles.Role role, String whyNone) {
        Optional<StateFiles.Piece> p = in.files().pieces(role).stream()
                .max(Comparator.comparingLong(StateFiles.Piece::length).thenComparing(x -> x.file().toString())
                        .thenComparingLong(StateFiles.Piece::start));
        boolean rocksDbFiles = role == StateFiles.Role.SST || role == StateFiles.Role.MANIFEST;
        if (rocksDbFiles && nativeFormat(in.kind())) {
            // a native RocksDB snapshot without one is the fixture gone wrong (files inlined into _metadata), not a
            // case that does not apply: failing here keeps the matrix from shrinking to skips
            assertThat(p).as(in.kind() + " is in RocksDB's native format but has no " + role + " file of its own: "
                    + in.files().pieces(role)).isPresent();
        }
        assumeTrue(p.isPresent(), whyNone);
        assertThat(p.get().length()).as("victim " + p.get().file() + " has content").isGreaterThan(2);
        return p.get();
    }

    /**
     * The victim is a file (not inlined into _metadata) that the intact rehearsal checked the way the
     * damage targets; a whole file was proven that far (a merged file's proof is its weakest piece's).
     */
    private static void assertProvenBy(Intact in, StateFiles.Piece piece, Proof proof, String how) {
        FileProof fp = in.deep().deepCheck().files().stream().filter(f -> f.path().equals(piece.file().toString())).findFirst()
                .orElseThrow(() -> new AssertionError("the intact rehearsal of " + in.checkpoint() + " says nothing of " + piece.file()));
        assertThat(fp.how()).as(fp.toString()).contains(how);
        if (piece.wholeFile()) {
            assertThat(fp.proof()).as(fp.toString()).isEqualTo(proof);
        }
    }

    /** The count (4 bytes) or length field nearest the middle of the file. */
    private static MetadataStructure.Field middleField(byte[] bytes, MetadataStructure.Kind kind) throws Exception {
        int middle = bytes.length / 2;
        return MetadataStructure.walk(bytes).fields().stream()
                .filter(f -> f.kind() == kind && (f.width() == 4 || (kind == MetadataStructure.Kind.LENGTH && f.width() == 2)))
                .min(Comparator.comparingInt((MetadataStructure.Field f) -> Math.abs(f.offset() - middle))
                        .thenComparingInt(MetadataStructure.Field::offset))
                .orElseThrow(() -> new AssertionError("no " + kind + " field in the _metadata"));
    }

    /** Kinds whose keyed state is RocksDB's own files (SST, MANIFEST), on both Flink lines. */
    private static boolean nativeFormat(Kind kind) {
        return switch (kind) {
            case ROCKSDB_INCREMENTAL, ROCKSDB_NATIVE_SAVEPOINT, FILE_MERGING, UNALIGNED -> true;
            default -> false;
        };
    }

    private static String keyedFormat(Kind kind) {
        return switch (kind) {
            case HASHMAP -> "hashmap backend's snapshot format";
            case HASHMAP_CANONICAL_SAVEPOINT, ROCKSDB_CANONICAL_SAVEPOINT -> "canonical savepoint format";
            default -> "state files";
        };
    }

    private static String describe(ReferencedFile f) {
        return f.path().getName() + " (" + f.minSize() + " bytes" + (f.exactSize() ? "" : " at least, merged file") + ", "
                + String.join(",", f.kinds()) + ")";
    }

    // ---------------------------------------------------------------- the restore point

    /**
     * The restore point is the newest candidate the damage does not concern (from the intact
     * metadata, read before the damage), or none; never the damaged checkpoint. Every candidate
     * skipped is one the damage concerns, judged not restorable (never UNKNOWN).
     */
    private static void assertRestorePoint(Intact in, RestorePoint rp, Applied applied, DamageKind damage) {
        Optional<String> expected = in.candidates().stream().filter(c -> c.restorable() && !applied.concerns().test(c)).findFirst()
                .map(c -> PathKey.of(c.path()));
        String explanation = rp.explanation();
        assertThat(rp.undecided()).as(explanation).isEmpty();
        assertThat(rp.path().map(PathKey::of)).as(explanation).isNotEqualTo(Optional.of(PathKey.of(in.checkpoint())));
        assertThat(rp.path().map(PathKey::of)).as(explanation).isEqualTo(expected);
        assertThat(rp.candidates()).as(explanation).isEqualTo(in.candidates().size());
        for (Validation s : rp.skipped()) {
            Candidate c = in.candidates().stream().filter(x -> PathKey.of(x.path()).equals(PathKey.of(s.path()))).findFirst()
                    .orElseThrow(() -> new AssertionError("skipped an unknown candidate " + s.path() + "\n" + explanation));
            assertThat(!c.restorable() || applied.concerns().test(c))
                    .as("skipped " + s.path() + ", intact and not concerned by the damage: " + s.reason()).isTrue();
            assertThat(s.outcome()).as(s.reason()).isEqualTo(Outcome.NOT_RESTORABLE);
            if (PathKey.of(s.path()).equals(PathKey.of(in.checkpoint()))) {
                assertThat(s.verdict()).as(s.reason()).isEqualTo(damage.verdict);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    static CheckpointingJob.Result jobOf(Kind kind) {
        return switch (kind) {
            case ROCKSDB_INCREMENTAL, ROCKSDB_NATIVE_SAVEPOINT, ROCKSDB_CANONICAL_SAVEPOINT -> checkpoints.rocksIncremental;
            case ROCKSDB_FULL -> checkpoints.rocksFull;
            case HASHMAP, HASHMAP_CANONICAL_SAVEPOINT -> checkpoints.hashmap;
            case FILE_MERGING -> checkpoints.fileMerging;
            case UNALIGNED -> checkpoints.unaligned;
        };
    }

    static Path flink(java.nio.file.Path p) {
        return new Path(p.toUri().toString());
    }

    static java.nio.file.Path local(Path p) {
        return java.nio.file.Path.of(p.toUri().getPath());
    }
}
