package io.github.s3tiered.inspector.orphans;

import io.github.s3tiered.inspector.CheckpointLocation;
import io.github.s3tiered.inspector.ChecksumSource;
import io.github.s3tiered.inspector.InspectionProgress;
import io.github.s3tiered.inspector.JobDirectory;
import io.github.s3tiered.inspector.OrphanFile;
import io.github.s3tiered.inspector.OrphanOptions;
import io.github.s3tiered.inspector.Orphans;
import io.github.s3tiered.inspector.PathKey;
import io.github.s3tiered.inspector.Problem;
import io.github.s3tiered.inspector.ReferencedFile;
import io.github.s3tiered.inspector.Verdict;
import io.github.s3tiered.inspector.discovery.CheckpointDiscovery;
import io.github.s3tiered.inspector.discovery.CheckpointNames;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;
import io.github.s3tiered.inspector.metadata.CheckpointReferences;
import io.github.s3tiered.inspector.metadata.MetadataLoading;
import io.github.s3tiered.inspector.storage.DirectoryListings;
import io.github.s3tiered.inspector.storage.FileSystemCalls;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds files under a job's {@code shared/} and {@code taskowned/}, and {@code chk-N} directories
 * without metadata, that no retained checkpoint references. A file is kept when in doubt: younger
 * than the minimum age, of unknown age, or inside a directory a retained checkpoint references
 * something in.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class OrphanSearch {

    private final ClassLoader classLoader;
    private final ChecksumSource checksums;
    private final InspectionProgress progress;

    public OrphanSearch(ClassLoader classLoader, ChecksumSource checksums, InspectionProgress progress) {
        this.classLoader = classLoader;
        this.checksums = checksums;
        this.progress = progress;
    }

    public Orphans search(Path jobDir, OrphanOptions options, long nowMillis, DirectoryListings listings) throws IOException {
        FileSystemCalls calls = listings.calls();
        JobDirectory job = CheckpointDiscovery.jobDirectory(jobDir, listings);
        Set<String> referenced = new HashSet<>();
        List<Path> retained = new ArrayList<>();
        List<Problem> unreadable = new ArrayList<>();
        List<CheckpointLocation> withoutMetadata = new ArrayList<>();

        collectReferences(job, referenced, retained, unreadable, withoutMetadata, listings);
        if (options.includeSiblingJobs() && jobDir.getParent() != null) {
            for (JobDirectory sibling : siblingJobs(jobDir, listings)) {
                progress.step("reading the checkpoints of sibling job directory " + sibling.path());
                collectReferences(sibling, referenced, retained, unreadable, new ArrayList<>(), listings);
            }
        }

        long oldest = nowMillis - options.minAge().toMillis();
        List<OrphanFile> orphans = new ArrayList<>();
        int[] tooYoung = {0};
        walk(new Path(jobDir, CheckpointNames.SHARED_DIR), OrphanFile.Kind.SHARED_FILE, referenced, oldest, orphans, tooYoung, listings);
        walk(new Path(jobDir, CheckpointNames.TASK_OWNED_DIR), OrphanFile.Kind.TASK_OWNED_FILE, referenced, oldest, orphans, tooYoung, listings);

        for (CheckpointLocation stray : withoutMetadata) {
            String dirKey = PathKey.of(stray.path());
            if (referenced.stream().anyMatch(r -> PathKey.isInside(r, dirKey))) {
                continue;
            }
            DirectoryListings.Listing content = listings.listOrThrow(stray.path());
            long newest = 0;
            long bytes = 0;
            FileStatus self = null;
            for (FileStatus s : listings.listOrThrow(jobDir).entries().values()) {
                if (PathKey.of(s.getPath()).equals(dirKey)) {
                    self = s;
                }
            }
            if (self != null) {
                newest = self.getModificationTime();
            }
            for (FileStatus s : content.entries().values()) {
                newest = Math.max(newest, s.getModificationTime());
                bytes += s.isDir() ? 0 : s.getLen();
            }
            if (newest > 0 && newest <= oldest) {
                orphans.add(new OrphanFile(stray.path(), OrphanFile.Kind.STRAY_CHECKPOINT_DIRECTORY, bytes, newest));
            } else {
                tooYoung[0]++;
            }
        }

        List<Path> deleted = new ArrayList<>();
        String refused = null;
        if (options.delete()) {
            if (!unreadable.isEmpty()) {
                refused = "nothing deleted: the _metadata of " + unreadable.size() + " checkpoint(s) cannot be read,"
                        + " so the files they reference are unknown (first: " + unreadable.get(0).file() + ")";
            } else {
                for (OrphanFile o : orphans) {
                    boolean recursive = o.kind() == OrphanFile.Kind.STRAY_CHECKPOINT_DIRECTORY;
                    if (calls.delete(o.path(), recursive) || calls.getFileStatus(o.path()) == null) {
                        deleted.add(o.path());
                    }
                }
            }
        }
        return new Orphans(jobDir, orphans, retained, unreadable, referenced.size(), tooYoung[0], deleted, refused,
                calls.snapshot());
    }

    private void collectReferences(JobDirectory job, Set<String> referenced, List<Path> retained, List<Problem> unreadable,
            List<CheckpointLocation> withoutMetadata, DirectoryListings listings) throws IOException {
        for (CheckpointLocation cp : job.checkpoints()) {
            DirectoryListings.Listing content = listings.listOrThrow(cp.path());
            FileStatus metadataStatus = content.get(CheckpointMetadataReader.METADATA_FILE);
            if (metadataStatus == null) {
                withoutMetadata.add(cp);
                continue;
            }
            progress.step("reading " + new Path(cp.path(), CheckpointMetadataReader.METADATA_FILE));
            // as the storage durably holds it: a stale local copy must not decide what is referenced
            MetadataLoading.Loaded loaded = MetadataLoading.load(cp.path(), listings.calls(), checksums, classLoader);
            if (loaded.metadata() == null) {
                if (loaded.problem().verdict() != Verdict.NO_METADATA) {
                    unreadable.add(loaded.problem());
                }
                // NO_METADATA here: deleted since the listing, a checkpoint Flink just subsumed
                continue;
            }
            CheckpointMetadata metadata = loaded.metadata();
            retained.add(cp.path());
            for (ReferencedFile f : CheckpointReferences.of(metadata).files()) {
                referenced.add(PathKey.of(f.path()));
            }
        }
    }

    private static List<JobDirectory> siblingJobs(Path jobDir, DirectoryListings listings) throws IOException {
        List<JobDirectory> out = new ArrayList<>();
        String self = PathKey.of(jobDir);
        for (FileStatus s : listings.listOrThrow(jobDir.getParent()).entries().values()) {
            if (!s.isDir() || PathKey.of(s.getPath()).equals(self) || !CheckpointNames.looksLikeJobId(s.getPath().getName())) {
                continue;
            }
            JobDirectory sibling = CheckpointDiscovery.jobDirectory(s.getPath(), listings);
            if (!sibling.checkpoints().isEmpty()) {
                out.add(sibling);
            }
        }
        return out;
    }

    private void walk(Path dir, OrphanFile.Kind kind, Set<String> referenced, long oldest, List<OrphanFile> orphans,
            int[] tooYoung, DirectoryListings listings) throws IOException {
        DirectoryListings.Listing listing = listings.listOrThrow(dir);
        for (FileStatus s : listing.entries().values()) {
            if (s.isDir()) {
                walk(s.getPath(), kind, referenced, oldest, orphans, tooYoung, listings);
            } else if (!referenced.contains(PathKey.of(s.getPath()))) {
                long time = s.getModificationTime();
                if (time > 0 && time <= oldest) {
                    orphans.add(new OrphanFile(s.getPath(), kind, s.getLen(), time));
                } else {
                    tooYoung[0]++;
                }
            }
        }
    }
}
