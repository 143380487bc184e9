package io.github.s3tiered.inspector.rehearsal;

import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.memory.DataInputViewStreamWrapper;
import org.apache.flink.runtime.state.IncrementalKeyedStateHandle.HandleAndLocalPath;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filemerging.SegmentFileStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.flink.runtime.state.metainfo.StateMetaInfoSnapshot;

import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.SstFileReader;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Rehearses the restore of one subtask's RocksDB incremental snapshot, as Flink's {@code
 * RocksDBIncrementalRestoreOperation} does it, without running the job:
 *
 * <ol>
 *   <li>the state meta data file, read with Flink's {@link KeyedBackendSerializationProxy} and its
 *       serializers restored;
 *   <li>every SST file verified with RocksDB's own block checksums ({@link SstFileReader#verifyChecksum});
 *   <li>all files put under the names RocksDB knows them by, in a scratch directory (links to the
 *       fetched copies, no copy of their bytes), and opened read-only by RocksDB with the column
 *       families the meta data names: the MANIFEST (whose records RocksDB checksums) and CURRENT
 *       must agree with the files and their sizes, as at a real restore; and every table is opened
 *       there, as Flink's restore opens them all ({@code max_open_files} -1), so that RocksDB checks
 *       each SST's unique id against the one the MANIFEST recorded. Block checksums alone prove a
 *       file whole, not that it is the file RocksDB wrote: a valid SST of the same size put in its
 *       place passes them and fails the restore. An SST's content is proven ({@link Proof#CHECKSUM})
 *       only after both; where no unique id was compared (a snapshot written by RocksDB 6, Flink
 *       1.x, which records none, or a RocksDB 6 here) it is {@link Proof#DECODED}: whole, but not
 *       told apart from another whole SST of its size.
 * </ol>
 *
 * Memory: blocks are read one by one; the open holds each table's index and filter, as the
 * restoring TaskManager does.
 */
final class RocksDbSnapshotCheck {

    private static final AtomicInteger DIRS = new AtomicInteger();

    static {
        HostShortage.load();
    }

    private static final String DEFAULT_COLUMN_FAMILY = "default";

    private final RehearsalContext ctx;

    RocksDbSnapshotCheck(RehearsalContext ctx) {
        this.ctx = ctx;
    }

    void check(IncrementalRemoteKeyedStateHandle handle, LocalFiles local, Findings findings, String where) throws IOException {
        List<String> stateNames = readMetaData(handle, local, findings, where);
        if (!RocksDbLibrary.load()) {
            findings.couldNotCheck(filesOf(handle), "RocksDB's native library could not be loaded here: the SST files of "
                    + where + " were not verified with RocksDB's checksums");
            return;
        }
        Path dir = ctx.scratch().resolve("rocksdb-" + DIRS.incrementAndGet());
        try {
            List<HandleAndLocalPath> files = new ArrayList<>(handle.getSharedState());
            files.addAll(handle.getPrivateState());
            try {
                ScratchUnwritable.when(dir, () -> Files.createDirectories(dir));
                for (HandleAndLocalPath f : files) {
                    place(f, dir, local);
                }
            } catch (ScratchUnwritable e) {
                // this host's disk, not the checkpoint: nothing proven either way
                findings.couldNotCheck(filesOf(handle), "The SST files of " + where
                        + " were not verified with RocksDB's checksums: " + e.getMessage());
                return;
            }
            boolean sstIntact = true;
            ManifestFiles manifest = new ManifestFiles();
            for (HandleAndLocalPath f : files) {
                if (f.getLocalPath().startsWith("MANIFEST-")) {
                    sstIntact &= verifyManifest(f, dir, findings, where, manifest);
                }
            }
            boolean fifo = fifoCompaction(files, dir);
            for (HandleAndLocalPath f : files) {
                if (f.getLocalPath().endsWith(".sst")) {
                    sstIntact &= verifySst(f, dir, findings, where, manifest, fifo);
                }
            }
            if (sstIntact) {
                open(files, dir, stateNames, findings, where, manifest.withUniqueId());
            }
        } finally {
            deleteRecursively(dir);
        }
    }

    /** The state names of the snapshot, or null when its meta data cannot be read here. */
    private List<String> readMetaData(IncrementalRemoteKeyedStateHandle handle, LocalFiles local, Findings findings, String where) {
        StreamStateHandle meta = LocalizedHandles.localize(handle.getMetaDataStateHandle(), local);
        String metaFile = nameOf(handle.getMetaDataStateHandle());
        String what = "the state meta data of " + where + " (" + LocalizedHandles.describe(handle.getMetaDataStateHandle()) + ")";
        try (FSDataInputStream in = meta.openInputStream()) {
            KeyedBackendSerializationProxy<Object> proxy = new KeyedBackendSerializationProxy<>(ctx.classLoader());
            proxy.read(new DataInputViewStreamWrapper(in));
            List<String> names = proxy.getStateMetaInfoSnapshots().stream().map(StateMetaInfoSnapshot::getName).toList();
            if (in.getPos() != meta.getStateSize()) {
                findings.failed(metaFile, what + " ends at byte " + in.getPos() + " of " + meta.getStateSize()
                        + ": Flink writes nothing after it");
                return names;
            }
            KeyedStateSerializers.restore(proxy);
            findings.proved(handle.getMetaDataStateHandle(), Proof.DECODED, "RocksDB state meta data and serializers restored");
            return names;
        } catch (Throwable t) {
            rethrowFatal(t);
            StateDecodingException e = DecodingFailures.classify(what, t, ctx);
            if (e.damage()) {
                findings.failed(metaFile, e.getMessage());
            } else {
                findings.couldNotCheck(List.of(metaFile), e.getMessage());
            }
            return null;
        }
    }

    private void place(HandleAndLocalPath f, Path dir, LocalFiles local) throws IOException {
        Path target = dir.resolve(f.getLocalPath());
        StreamStateHandle h = f.getHandle();
        if (h instanceof SegmentFileStateHandle || h instanceof ByteStreamStateHandle) {
            // a window of a merged file, or bytes inside _metadata: RocksDB needs a file of its own
            StreamStateHandle localized = LocalizedHandles.localize(h, local);
            try (InputStream in = localized.openInputStream()) {
                OutputStream out = ScratchUnwritable.when(target, () -> Files.newOutputStream(target));
                IOException failed = null;
                try {
                    byte[] buffer = new byte[64 << 10];
                    for (int n; (n = in.read(buffer)) > 0; ) { // a read that fails is the checkpoint's
                        int length = n;
                        ScratchUnwritable.when(target, () -> {
                            out.write(buffer, 0, length);
                            return null;
                        });
                    }
                } catch (IOException e) {
                    failed = e;
                }
                try {
                    out.close();
                } catch (IOException e) {
                    if (failed == null) {
                        failed = new ScratchUnwritable(target, e);
                    } else {
                        failed.addSuppressed(e);
                    }
                }
                if (failed != null) {
                    throw failed;
                }
            }
        } else if (h instanceof FileStateHandle file) {
            Path source = local.local(file.getFilePath()).toAbsolutePath();
            ScratchUnwritable.when(target, () -> Files.createSymbolicLink(target, source));
        } else {
            throw new IOException("Cannot place RocksDB file " + f.getLocalPath() + " held by " + h.getClass().getName());
        }
    }

    /** Whether the snapshot's OPTIONS file says FIFO compaction; true too when it cannot be read (nothing assumed). */
    private static boolean fifoCompaction(List<HandleAndLocalPath> files, Path dir) {
        for (HandleAndLocalPath f : files) {
            if (f.getLocalPath().startsWith("OPTIONS-")) {
                try {
                    return Files.readString(dir.resolve(f.getLocalPath()), StandardCharsets.ISO_8859_1)
                            .contains("kCompactionStyleFIFO");
                } catch (IOException | RuntimeException e) {
                    return true;
                }
            }
        }
        return true; // no OPTIONS file: the compaction style is not known
    }

    private boolean verifySst(HandleAndLocalPath f, Path dir, Findings findings, String where, ManifestFiles manifest,
            boolean fifo) {
        String file = nameOf(f.getHandle());
        // a merge operator, any: RocksDB's iterator (SstIdentity) crashes the process on a merge
        // record (Flink's list state) when none is set, instead of failing
        try (org.rocksdb.StringAppendOperator merge = new org.rocksdb.StringAppendOperator();
                Options options = new Options().setMergeOperator(merge);
                SstFileReader reader = new SstFileReader(options)) {
            reader.open(dir.resolve(f.getLocalPath()).toString());
            reader.verifyChecksum();
            ManifestFiles.Entry named = manifest.entry(fileNumber(f.getLocalPath()));
            String other = SstIdentity.mismatch(reader, named);
            if (other != null) {
                findings.failed(file, f.getLocalPath() + " of " + where + " is whole but not the SST its MANIFEST names: "
                        + other);
                return false;
            }
            String unsure = SstIdentity.timeMismatch(reader, named, fifo);
            if (unsure != null) {
                findings.couldNotCheck(List.of(file), f.getLocalPath() + " of " + where + " could not be told from another"
                        + " SST: " + unsure);
            }
            return true; // proven once RocksDB's open also found it to be the file the MANIFEST names
        } catch (Throwable t) {
            rethrowFatal(t);
            if (HostShortage.explains(t, HostShortage.OpenFiles::ofThisProcess, 1)) {
                findings.couldNotCheck(List.of(file), "RocksDB could not read " + f.getLocalPath() + " of " + where + " here ("
                        + DecodingFailures.describe(t) + "): its block checksums were not verified; raise the open-file limit"
                        + " or the memory of this process");
                return false;
            }
            findings.failed(file, "RocksDB rejects " + f.getLocalPath() + " of " + where + ": " + DecodingFailures.describe(t));
            return false;
        }
    }

    private boolean verifyManifest(HandleAndLocalPath f, Path dir, Findings findings, String where, ManifestFiles manifest)
            throws IOException {
        try {
            RocksDbLogFile.verify(dir.resolve(f.getLocalPath()), f.getLocalPath() + " of " + where, manifest::edit);
            return true;
        } catch (StateDecodingException e) {
            findings.failed(nameOf(f.getHandle()), e.getMessage());
            return false;
        }
    }

    private void open(List<HandleAndLocalPath> files, Path dir, List<String> stateNames, Findings findings, String where,
            Set<Long> withUniqueId) {
        String manifest = files.stream().filter(f -> f.getLocalPath().startsWith("MANIFEST-")).map(f -> nameOf(f.getHandle()))
                .findFirst().orElse(ctx.metadataFile());
        List<byte[]> families;
        try (Options options = new Options()) {
            families = RocksDB.listColumnFamilies(options, dir.toString());
        } catch (Throwable t) {
            rethrowFatal(t);
            if (HostShortage.explains(t, HostShortage.OpenFiles::ofThisProcess, 2)) {
                findings.couldNotCheck(namesOf(files), "RocksDB could not read the MANIFEST of " + where + " here ("
                        + DecodingFailures.describe(t) + "): the files were not opened together; raise the open-file limit"
                        + " or the memory of this process");
                provedWithoutOpen(files, findings, "not opened by RocksDB here: " + DecodingFailures.describe(t));
                return;
            }
            findings.failed(manifest, "RocksDB cannot read the MANIFEST of " + where + ": " + DecodingFailures.describe(t));
            return;
        }
        Set<String> inManifest = new TreeSet<>();
        families.forEach(b -> inManifest.add(new String(b, StandardCharsets.UTF_8)));
        if (stateNames != null) {
            Set<String> expected = new TreeSet<>(stateNames);
            expected.add(DEFAULT_COLUMN_FAMILY);
            if (!expected.equals(inManifest)) {
                findings.failed(manifest, "the MANIFEST of " + where + " has column families " + inManifest
                        + ", its state meta data names " + expected + ": a restore must open them all");
                return;
            }
        }
        long tables = files.stream().filter(f -> f.getLocalPath().endsWith(".sst")).count();
        boolean allTablesAtOnce = tables <= MAX_TABLES_OPENED_AT_ONCE;
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (ColumnFamilyOptions cfOptions = new ColumnFamilyOptions();
                DBOptions dbOptions = new DBOptions()
                        .setCreateIfMissing(false)
                        .setParanoidChecks(true)
                        // every table opened now, as at Flink's restore: that is where RocksDB
                        // compares each SST's unique id with the MANIFEST's; beyond a bound (file
                        // descriptors, each table's index in memory) they are opened lazily and
                        // not proven this way
                        .setMaxOpenFiles(allTablesAtOnce ? -1 : LAZY_OPEN_FILES)
                        .setInfoLogLevel(InfoLogLevel.ERROR_LEVEL)) {
            for (byte[] name : families) {
                descriptors.add(new ColumnFamilyDescriptor(name, cfOptions));
            }
            try (RocksDB db = RocksDB.openReadOnly(dbOptions, dir.toString(), descriptors, handles)) {
                handles.forEach(ColumnFamilyHandle::close);
                handles.clear();
            }
        } catch (Throwable t) {
            rethrowFatal(t);
            handles.forEach(ColumnFamilyHandle::close);
            // RocksDB names the table it refused by its local name or number; name the checkpoint's file
            String description = DecodingFailures.describe(t).replace(dir.toString() + "/", "");
            if (HostShortage.explains(t, HostShortage.OpenFiles::ofThisProcess, allTablesAtOnce ? files.size() : LAZY_OPEN_FILES)) {
                // this host's limits, not the checkpoint's content: nothing is proven by the open
                findings.couldNotCheck(namesOf(files), "RocksDB could not open the files of " + where + " here ("
                        + description + "): their unique ids were not compared; raise the open-file limit or the memory"
                        + " of this process");
                provedWithoutOpen(files, findings, "not opened by RocksDB here: " + description);
                return;
            }
            HandleAndLocalPath refused = refusedTable(description, files);
            if (refused != null) {
                // the table RocksDB names; a MANIFEST from elsewhere would show the same way, so it is named too
                findings.failed(nameOf(refused.getHandle()), "RocksDB refuses " + refused.getLocalPath() + " of " + where
                        + " (" + LocalizedHandles.describe(refused.getHandle()) + ") with the MANIFEST " + manifest
                        + ", as a restore would: " + description);
            } else {
                findings.failed(manifest, "RocksDB cannot open the files of " + where + " as a restore would: " + description);
            }
            return;
        }
        boolean comparesIds = RocksDB.rocksdbVersion().getMajor() >= 8;
        for (HandleAndLocalPath f : files) {
            String name = f.getLocalPath();
            if (name.endsWith(".sst")) {
                if (comparesIds && allTablesAtOnce && withUniqueId.contains(fileNumber(name))) {
                    findings.proved(f.getHandle(), Proof.CHECKSUM, "RocksDB block checksums and unique id (" + name + ")");
                } else {
                    // whole, but nothing tells it from another whole SST of the same size
                    findings.proved(f.getHandle(), Proof.DECODED, "RocksDB block checksums (" + name + "); no unique id"
                            + " compared: " + (!comparesIds ? "RocksDB " + RocksDB.rocksdbVersion() + " here compares none"
                            : !allTablesAtOnce ? "more than " + MAX_TABLES_OPENED_AT_ONCE + " tables, opened lazily"
                            : "the MANIFEST records none for it (written by RocksDB 6, Flink 1.x)"));
                }
            } else if (name.startsWith("MANIFEST-")) {
                findings.proved(f.getHandle(), Proof.CHECKSUM, "every record checksummed, opened by RocksDB");
            } else if (name.equals("CURRENT")) {
                findings.proved(f.getHandle(), Proof.CHECKSUM, "read exactly by RocksDB's open");
            } else if (!name.endsWith(".sst")) {
                findings.proved(f.getHandle(), Proof.LENGTH, "not read by a RocksDB restore (" + name + ")");
            }
        }
    }

    /** At most this many tables are opened at once (each holds a file descriptor and its index). */
    static final int MAX_TABLES_OPENED_AT_ONCE = 500;
    private static final int LAZY_OPEN_FILES = 64;

    /** Where the open did not run to its end for this host's reasons: SSTs whole by their checksums only. */
    private static void provedWithoutOpen(List<HandleAndLocalPath> files, Findings findings, String why) {
        for (HandleAndLocalPath f : files) {
            if (f.getLocalPath().endsWith(".sst")) {
                findings.proved(f.getHandle(), Proof.DECODED, "RocksDB block checksums (" + f.getLocalPath() + "); " + why);
            }
        }
    }

    /** How RocksDB names a table in its errors: "table file 19", ".../000019.sst". */
    private static final Pattern TABLE = Pattern.compile("table file (\\d+)|\\b(\\d+)\\.sst\\b");

    /**
     * The SST an open failure names ("... table file 19", "... 000019.sst"), when exactly one of
     * the snapshot's SST files has that number; null otherwise.
     */
    static HandleAndLocalPath refusedTable(String message, List<HandleAndLocalPath> files) {
        Matcher m = TABLE.matcher(message);
        Set<Long> numbers = new TreeSet<>();
        while (m.find()) {
            try {
                numbers.add(Long.parseLong(m.group(1) != null ? m.group(1) : m.group(2)));
            } catch (NumberFormatException notAFileNumber) {
                return null;
            }
        }
        if (numbers.size() != 1) {
            return null;
        }
        long number = numbers.iterator().next();
        List<HandleAndLocalPath> named = files.stream().filter(f -> f.getLocalPath().endsWith(".sst"))
                .filter(f -> fileNumber(f.getLocalPath()) == number).toList();
        return named.size() == 1 ? named.get(0) : null;
    }

    /** The number of an SST named like RocksDB's (000019.sst); -1 for any other name. */
    static long fileNumber(String localName) {
        if (!localName.endsWith(".sst")) {
            return -1;
        }
        String stem = localName.substring(0, localName.length() - ".sst".length());
        if (stem.isEmpty() || stem.length() > 18 || !stem.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        return Long.parseLong(stem);
    }

    private List<String> namesOf(List<HandleAndLocalPath> files) {
        List<String> names = new ArrayList<>();
        files.forEach(f -> names.add(nameOf(f.getHandle())));
        return names;
    }

    /** The checkpoint's files (or its {@code _metadata}, for inline state) that hold the snapshot's. */
    private List<String> filesOf(IncrementalRemoteKeyedStateHandle handle) {
        List<String> names = new ArrayList<>();
        names.add(nameOf(handle.getMetaDataStateHandle()));
        for (HandleAndLocalPath f : handle.getSharedState()) {
            names.add(nameOf(f.getHandle()));
        }
        for (HandleAndLocalPath f : handle.getPrivateState()) {
            names.add(nameOf(f.getHandle()));
        }
        return names;
    }

    private String nameOf(StreamStateHandle h) {
        return LocalizedHandles.fileOf(h).map(Object::toString).orElse(ctx.metadataFile());
    }

    static void rethrowFatal(Throwable t) {
        if (t instanceof VirtualMachineError && !(t instanceof OutOfMemoryError)) {
            throw (VirtualMachineError) t;
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // the caller removes the whole scratch directory at the end
        }
    }

    /**
     * A write into the rehearsal's scratch directory failed (a full disk, a quota, a directory that
     * cannot be written): the host's shortage, never evidence about the checkpoint.
     */
    static final class ScratchUnwritable extends IOException {
        ScratchUnwritable(Path target, IOException cause) {
            super("the scratch directory could not hold " + target + " (" + cause + "); free space there, or point"
                    + " java.io.tmpdir elsewhere", cause);
        }

        interface Write<T> {
            T run() throws IOException;
        }

        static <T> T when(Path target, Write<T> write) throws ScratchUnwritable {
            try {
                return write.run();
            } catch (ScratchUnwritable e) {
                throw e;
            } catch (IOException e) {
                throw new ScratchUnwritable(target, e);
            }
        }
    }
}
