package io.github.s3tiered.inspector;

import org.apache.flink.core.fs.Path;

import java.util.Set;

/**
 * A physical file a checkpoint needs, counted once however many handles point into it.
 *
 * @param path absolute path of the file
 * @param minSize the size it must have at least: the recorded size of a whole-file handle, or the
 *     largest offset + length of the segments in it (file merging)
 * @param exactSize true when the recorded size is the file's whole size (a whole-file handle)
 * @param kinds what the file holds, such as "keyed-shared" or "channel"
 * @param operators ids of the operators whose state is in it
 */
public record ReferencedFile(Path path, long minSize, boolean exactSize, Set<String> kinds, Set<String> operators) {}
