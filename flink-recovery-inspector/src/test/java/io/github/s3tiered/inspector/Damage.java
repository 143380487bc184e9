package io.github.s3tiered.inspector;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Damages files of a real checkpoint in place and puts them back on close. In place because the
 * metadata holds absolute paths of shared files: a copy elsewhere would still point at the originals.
 */
final class Damage implements AutoCloseable {

    private record Backup(Path original, Path copy) {}

    private final Path backupDir;
    private final List<Backup> backups = new ArrayList<>();
    private final List<Path> created = new ArrayList<>();

    Damage() throws IOException {
        backupDir = Files.createTempDirectory("inspector-damage");
    }

    private void backUp(Path file) throws IOException {
        Path copy = backupDir.resolve(backups.size() + "-" + file.getFileName());
        Files.copy(file, copy, StandardCopyOption.COPY_ATTRIBUTES);
        backups.add(new Backup(file, copy));
    }

    Damage delete(Path file) throws IOException {
        backUp(file);
        Files.delete(file);
        return this;
    }

    Damage truncate(Path file, long newLength) throws IOException {
        backUp(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(newLength);
        }
        return this;
    }

    Damage flipByte(Path file, long offset) throws IOException {
        backUp(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int b = raf.read();
            raf.seek(offset);
            raf.write(b ^ 0xFF);
        }
        return this;
    }

    /** Appends {@code bytes} to the file. */
    Damage extend(Path file, byte[] bytes) throws IOException {
        backUp(file);
        Files.write(file, bytes, java.nio.file.StandardOpenOption.APPEND);
        return this;
    }

    /** Sets the file's modification time, as a later write would have. */
    Damage touch(Path file, long modifiedMillis) throws IOException {
        backUp(file);
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(modifiedMillis));
        return this;
    }

    /** Cuts the file to zero bytes. */
    Damage empty(Path file) throws IOException {
        return truncate(file, 0);
    }

    /** Replaces the whole content of the file with {@code bytes}. */
    Damage replace(Path file, byte[] bytes) throws IOException {
        backUp(file);
        Files.write(file, bytes, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
        return this;
    }

    /** Overwrites the middle of the file with 0xFF bytes: a length field or handle type becomes garbage. */
    Damage garble(Path file) throws IOException {
        backUp(file);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            long len = raf.length();
            raf.seek(Math.min(8, len / 2));
            byte[] junk = new byte[(int) Math.min(64, len - Math.min(8, len / 2))];
            java.util.Arrays.fill(junk, (byte) 0xFF);
            raf.write(junk);
        }
        return this;
    }

    /** A file or directory that the test adds; removed on close. */
    Path create(Path file, byte[] content, long ageMillis) throws IOException {
        Path dir = file.getParent();
        if (!Files.exists(dir)) {
            Files.createDirectories(dir);
            created.add(dir);
        }
        Files.write(file, content);
        created.add(0, file);
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - ageMillis));
        return file;
    }

    Path createDirectory(Path dir, long ageMillis) throws IOException {
        Files.createDirectories(dir);
        created.add(dir);
        Files.setLastModifiedTime(dir, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - ageMillis));
        return dir;
    }

    @Override
    public void close() throws IOException {
        for (Path p : created) {
            if (Files.isDirectory(p)) {
                try (var s = Files.walk(p)) {
                    for (Path q : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(q);
                    }
                }
            } else {
                Files.deleteIfExists(p);
            }
        }
        // a file damaged twice has two backups: restore the newest first, so that the original comes back last
        for (int i = backups.size() - 1; i >= 0; i--) {
            Backup b = backups.get(i);
            Files.createDirectories(b.original().getParent());
            Files.copy(b.copy(), b.original(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
            Files.delete(b.copy());
        }
        Files.deleteIfExists(backupDir);
    }
}
