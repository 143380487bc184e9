package io.github.s3tiered.inspector.discovery;

import io.github.s3tiered.inspector.CheckpointKind;
import io.github.s3tiered.inspector.CheckpointLocation;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.PathRole;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.storage.DirectoryListings;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import static io.github.s3tiered.inspector.discovery.CheckpointNames.checkpointDirectory;
import static io.github.s3tiered.inspector.discovery.CheckpointNames.idFromName;
import static io.github.s3tiered.inspector.discovery.CheckpointNames.isCheckpointName;
import static io.github.s3tiered.inspector.discovery.CheckpointNames.isSavepointName;
import static io.github.s3tiered.inspector.discovery.CheckpointNames.kindOf;
import static io.github.s3tiered.inspector.discovery.CheckpointNames.roleByName;

/**
 * Finds checkpoints and savepoints by the names Flink gives them ({@link CheckpointNames}):
 * {@code chk-N} and {@code savepoint-*} directories inside a job's directory, beside
 * {@code shared/} and {@code taskowned/}.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class CheckpointDiscovery {

    private CheckpointDiscovery() {}

    /** By name, else by listing the directory (one request), else by listing its subdirectories. */
    public static PathRole classify(Path path, DirectoryListings listings) throws IOException {
        PathRole byName = roleByName(path);
        if (byName != PathRole.UNKNOWN) {
            return byName;
        }
        DirectoryListings.Listing listing = listings.listOrThrow(path);
        if (isAFile(path, listing, listings)) {
            // Flink reads any file a restore path names as the metadata of the checkpoint in its directory
            return path.getParent() != null && kindOf(path.getParent()) == CheckpointKind.SAVEPOINT
                    ? PathRole.SAVEPOINT : PathRole.CHECKPOINT;
        }
        if (!listing.exists()) {
            throw new FileNotFoundException("No such directory: " + path);
        }
        PathRole role = roleOfEntries(listing);
        if (role == PathRole.JOB_DIRECTORY && onlySavepoints(listing)) {
            // savepoints beside the job directories (the savepoint directory set to the checkpoint
            // directory): a directory of several jobs, not one job's, whose checkpoints would go unread
            for (FileStatus child : listing.entries().values()) {
                if (child.isDir() && !isSavepointName(child.getPath().getName())
                        && roleOfEntries(listings.listOrThrow(child.getPath())) == PathRole.JOB_DIRECTORY) {
                    return PathRole.BASE_DIRECTORY;
                }
            }
        }
        if (role != PathRole.UNKNOWN) {
            return role;
        }
        for (FileStatus child : listing.entries().values()) {
            if (child.isDir() && roleOfEntries(listings.listOrThrow(child.getPath())) == PathRole.JOB_DIRECTORY) {
                return PathRole.BASE_DIRECTORY;
            }
        }
        return PathRole.UNKNOWN;
    }

    /**
     * The directory of the checkpoint or savepoint {@code path} names ({@link #classify} said it is
     * one): the path itself, the directory of its {@code _metadata}, or the directory of a metadata
     * file named otherwise, which Flink restores from too.
     */
    public static Path checkpointDirectoryOf(Path path, DirectoryListings listings) throws IOException {
        if (roleByName(path) != PathRole.UNKNOWN || path.getParent() == null) {
            return checkpointDirectory(path);
        }
        return isAFile(path, listings.listOrThrow(path), listings) ? path.getParent() : path;
    }

    /**
     * Whether {@code path} is a file: a listing of it answered itself (a local disk), or found
     * nothing (S3) and its status says so.
     */
    private static boolean isAFile(Path path, DirectoryListings.Listing listing, DirectoryListings listings) throws IOException {
        if (listing.itselfAFile()) {
            return true;
        }
        if (listing.exists()) {
            return false;
        }
        FileStatus status = listings.calls().getFileStatus(path);
        return status != null && !status.isDir();
    }

    /** Whether only {@code savepoint-*} directories make it a job directory (no {@code chk-N}, {@code shared/}, {@code taskowned/}). */
    private static boolean onlySavepoints(DirectoryListings.Listing listing) {
        for (Map.Entry<String, FileStatus> e : listing.entries().entrySet()) {
            String name = e.getKey();
            if (e.getValue().isDir() && (isCheckpointName(name)
                    || CheckpointNames.SHARED_DIR.equals(name) || CheckpointNames.TASK_OWNED_DIR.equals(name))) {
                return false;
            }
        }
        return true;
    }

    private static PathRole roleOfEntries(DirectoryListings.Listing listing) {
        Map<String, FileStatus> entries = listing.entries();
        if (entries.containsKey(CheckpointMetadataReader.METADATA_FILE)) {
            return PathRole.CHECKPOINT;
        }
        for (Map.Entry<String, FileStatus> e : entries.entrySet()) {
            String name = e.getKey();
            if (e.getValue().isDir() && (isCheckpointName(name) || isSavepointName(name)
                    || CheckpointNames.SHARED_DIR.equals(name) || CheckpointNames.TASK_OWNED_DIR.equals(name))) {
                return PathRole.JOB_DIRECTORY;
            }
        }
        return PathRole.UNKNOWN;
    }

    /** The checkpoints and savepoints of one job directory (one listing). */
    public static JobDirectory jobDirectory(Path jobDir, DirectoryListings listings) throws IOException {
        DirectoryListings.Listing listing = listings.listOrThrow(jobDir);
        if (!listing.exists()) {
            throw new FileNotFoundException("No such job checkpoint directory: " + jobDir);
        }
        List<CheckpointLocation> checkpoints = new ArrayList<>();
        List<CheckpointLocation> savepoints = new ArrayList<>();
        for (FileStatus s : listing.entries().values()) {
            String name = s.getPath().getName();
            if (!s.isDir()) {
                continue;
            }
            if (isCheckpointName(name)) {
                checkpoints.add(new CheckpointLocation(s.getPath(), CheckpointKind.CHECKPOINT, idFromName(name)));
            } else if (isSavepointName(name)) {
                savepoints.add(new CheckpointLocation(s.getPath(), CheckpointKind.SAVEPOINT, -1));
            }
        }
        checkpoints.sort(Comparator.comparingLong(CheckpointLocation::idFromName).reversed());
        savepoints.sort(Comparator.comparing(c -> c.path().getName()));
        checkpoints.addAll(savepoints);
        return new JobDirectory(jobDir, checkpoints);
    }

    /**
     * The job directories under {@code dir}: the directory itself when it is a job directory (or a
     * checkpoint, then as the only member of its parent), else each job directory inside it.
     */
    public static List<JobDirectory> discover(Path dir, DirectoryListings listings) throws IOException {
        PathRole role = classify(dir, listings);
        switch (role) {
            case CHECKPOINT, SAVEPOINT -> {
                Path cp = checkpointDirectoryOf(dir, listings);
                // a metadata file named otherwise stays the location: only through it is the checkpoint read
                Path location = cp.equals(checkpointDirectory(dir)) ? cp : dir;
                return List.of(new JobDirectory(cp.getParent(),
                        List.of(new CheckpointLocation(location, kindOf(cp), idFromName(cp.getName())))));
            }
            case JOB_DIRECTORY -> {
                return List.of(jobDirectory(dir, listings));
            }
            case BASE_DIRECTORY -> {
                List<JobDirectory> jobs = new ArrayList<>();
                for (FileStatus child : listings.listOrThrow(dir).entries().values()) {
                    if (child.isDir() && roleOfEntries(listings.listOrThrow(child.getPath())) == PathRole.JOB_DIRECTORY) {
                        jobs.add(jobDirectory(child.getPath(), listings));
                    }
                }
                jobs.sort(Comparator.comparing(j -> j.path().getName()));
                // savepoints beside the job directories (the savepoint directory set to the checkpoint directory)
                List<CheckpointLocation> beside = new ArrayList<>();
                for (CheckpointLocation c : jobDirectory(dir, listings).checkpoints()) {
                    if (c.kind() == CheckpointKind.SAVEPOINT) {
                        beside.add(c);
                    }
                }
                if (!beside.isEmpty()) {
                    jobs.add(new JobDirectory(dir, beside));
                }
                return jobs;
            }
            default -> {
                return List.of();
            }
        }
    }
}
