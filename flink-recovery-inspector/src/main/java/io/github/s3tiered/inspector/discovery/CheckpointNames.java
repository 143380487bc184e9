package io.github.s3tiered.inspector.discovery;

import io.github.s3tiered.inspector.CheckpointKind;
import io.github.s3tiered.inspector.PathRole;
import io.github.s3tiered.inspector.metadata.CheckpointMetadataReader;

import org.apache.flink.core.fs.Path;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names Flink gives the parts of a job's checkpoint directory: {@code chk-N} and
 * {@code savepoint-*} directories beside {@code shared/} and {@code taskowned/}, the job directory
 * named by the job id, and the {@code _metadata} file inside a checkpoint. Judged by name alone: no
 * request is made. Discovery, validation, the restore-point search and the orphan search all use
 * them.
 *
 * <p>Internal: public only so that the inspector's other packages can use it; not part of the
 * library's API.
 */
public final class CheckpointNames {

    public static final String SHARED_DIR = "shared";
    public static final String TASK_OWNED_DIR = "taskowned";
    /**
     * Written by the tiered checkpoint storage beside the checkpoints (outside {@code chk-N},
     * {@code shared/} and {@code taskowned/}): how long unreferenced uploads ahead of checkpoints
     * must be kept.
     */
    public static final String PRE_UPLOAD_RECORD_FILE = "s3tiered-preupload.json";
    private static final Pattern CHECKPOINT_NAME = Pattern.compile("chk-(\\d+)");
    private static final String SAVEPOINT_PREFIX = "savepoint-";

    private CheckpointNames() {}

    public static boolean isCheckpointName(String name) {
        return CHECKPOINT_NAME.matcher(name).matches();
    }

    public static boolean isSavepointName(String name) {
        return name.startsWith(SAVEPOINT_PREFIX);
    }

    public static CheckpointKind kindOf(Path dir) {
        return isSavepointName(dir.getName()) ? CheckpointKind.SAVEPOINT : CheckpointKind.CHECKPOINT;
    }

    /** N of {@code chk-N}, or -1 for any other name. */
    public static long idFromName(String name) {
        Matcher m = CHECKPOINT_NAME.matcher(name);
        return m.matches() ? parseId(m.group(1)) : -1;
    }

    private static long parseId(String digits) {
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Whether a name in {@code shared/} is that of an SST file the tiered storage uploaded ahead of
     * the checkpoint that will reference it: {@code <sha256 hex>-<16 hex digits>.sst}, unique to
     * its upload, or {@code <sha256 hex>.sst} as earlier versions (0.2.0) wrote them. Flink names its
     * own shared files with random UUIDs, so none of its names matches.
     */
    public static boolean isPreUploadedName(String name) {
        if (!name.endsWith(".sst") || name.length() != 68 && name.length() != 85) {
            return false;
        }
        for (int i = 0; i < name.length() - 4; i++) {
            char c = name.charAt(i);
            boolean hex = c >= '0' && c <= '9' || c >= 'a' && c <= 'f';
            if (i == 64 ? c != '-' : !hex) {
                return false;
            }
        }
        return true;
    }

    /** By name alone (no request): {@code _metadata}, {@code chk-N} or {@code savepoint-*}. */
    public static PathRole roleByName(Path path) {
        String name = path.getName();
        if (CheckpointMetadataReader.METADATA_FILE.equals(name)) {
            return kindOf(path.getParent()) == CheckpointKind.SAVEPOINT ? PathRole.SAVEPOINT : PathRole.CHECKPOINT;
        }
        if (isCheckpointName(name)) {
            return PathRole.CHECKPOINT;
        }
        if (isSavepointName(name)) {
            return PathRole.SAVEPOINT;
        }
        return PathRole.UNKNOWN;
    }

    /** The checkpoint directory a user means: {@code chk-N/_metadata} names {@code chk-N}. */
    public static Path checkpointDirectory(Path path) {
        return CheckpointMetadataReader.METADATA_FILE.equals(path.getName()) ? path.getParent() : path;
    }

    /** Flink names a job's directory by its job id: 32 hex digits. */
    public static boolean looksLikeJobId(String name) {
        return name.length() == 32 && name.chars().allMatch(c -> Character.digit(c, 16) >= 0);
    }
}
