package io.github.s3tiered.inspector.rehearsal;

import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.Status;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Run in a JVM of its own under a low open-file limit (by {@link HostShortageTest}): writes a
 * RocksDB directory of {@code args[1]} tables, holds descriptors until fewer than half of them
 * are left (with {@code args[2]} "all": every descriptor it can get), opens it read-only with
 * every table at once, as the rehearsal does, and prints how {@link HostShortage} judges RocksDB's
 * real failure ("explains=<bool> status=<code>/<sub code> message=<text>"), and the same failure
 * with the errno text taken out of its message, which only the descriptor count can explain.
 */
public final class DescriptorShortageRun {

    public static void main(String[] args) throws Exception {
        RocksDB.loadLibrary();
        String dir = args[0];
        int tables = Integer.parseInt(args[1]);
        try (Options o = new Options().setCreateIfMissing(true).setDisableAutoCompactions(true);
                RocksDB db = RocksDB.open(o, dir);
                FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            for (int i = 0; i < tables; i++) {
                db.put(("key-" + i).getBytes(StandardCharsets.UTF_8), new byte[64]);
                db.flush(flush);
            }
        }
        // a first translated error loads the C library's message catalogue; without a free
        // descriptor it could not be loaded, and the shortage's text would stay English
        try (Options o = new Options(); RocksDB absent = RocksDB.openReadOnly(o, dir + "-absent")) {
            throw new IllegalStateException("opened a directory that does not exist");
        } catch (RocksDBException expected) {
            System.out.println("warm-up: " + expected.getMessage());
        }
        String[] open = new java.io.File("/proc/self/fd").list();
        long limit = HostShortage.OpenFiles.softLimit(java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/limits")));
        boolean all = args.length > 2 && args[2].equals("all");
        // what runs after the descriptors are gone must not need to open a class file then
        HostShortage.explains(new RocksDBException("warm-up", new Status(Status.Code.Corruption, Status.SubCode.None, "")),
                () -> HostShortage.OpenFiles.UNKNOWN, tables);
        List<InputStream> held = new ArrayList<>();
        for (long i = open.length; all || i < limit - tables / 2; i++) {
            try {
                held.add(new FileInputStream("/proc/self/limits"));
            } catch (java.io.FileNotFoundException noDescriptorLeft) {
                break;
            }
        }
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions o = new DBOptions().setParanoidChecks(true).setMaxOpenFiles(-1);
                RocksDB db = RocksDB.openReadOnly(o, dir,
                        List.of(new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY)), handles)) {
            handles.forEach(ColumnFamilyHandle::close);
            System.out.println("opened");
        } catch (RocksDBException e) {
            boolean explains = HostShortage.explains(e, HostShortage.OpenFiles::ofThisProcess, tables + 4);
            String message = e.getMessage();
            RocksDBException withoutText = new RocksDBException(message.substring(0, message.lastIndexOf(": ") + 2) + "-",
                    e.getStatus());
            boolean byCount = HostShortage.explains(withoutText, HostShortage.OpenFiles::ofThisProcess, tables + 4);
            System.out.println("explains=" + explains + " status=" + e.getStatus().getCode() + "/" + e.getStatus().getSubCode()
                    + " message=" + message);
            System.out.println("without its errno text: explains=" + byCount);
        }
        for (InputStream in : held) {
            in.close();
        }
    }
}
