package io.github.s3tiered.tier;

import java.util.Objects;
import java.util.function.Consumer;

/**
 * A test hook, and nothing else: names the points between two file operations of the tier where a
 * crash leaves a state of its own ({@code CrashPointITCase} kills a process at each: crash-point
 * tests stop here), or where another thread's change makes a race ({@code StaleReadCopyTest}). In production the listener does nothing; the cost is one volatile read.
 */
public final class TierSteps {

    /** Commit: the data file was renamed into {@code objects/}, its sidecar not yet. */
    public static final String COMMIT_DATA_RENAMED = "commit:data-renamed";
    /** Commit: the sidecar was renamed in; the copy is complete, nothing counted it in this process yet. */
    public static final String COMMIT_SIDECAR_RENAMED = "commit:sidecar-renamed";
    /** Commit: the copy is complete and counted against the budget; an eviction may be due next. */
    public static final String COMMIT_COUNTED = "commit:counted";
    /** A copy read from S3 is about to be checked against its reader's ticket and kept ({@code commitRead}). */
    public static final String READ_COMMIT_CHECKING = "commit-read:checking";
    /** A reader read a copy's sidecar and is about to check the copy against it. */
    public static final String CHECK_SIDECAR_READ = "check:sidecar-read";
    /** A copy is about to be removed (its sidecar first); a listener may fail it as a disk that refuses would. */
    public static final String REMOVING = "remove:sidecar";
    /** Eviction: this process's lock is taken and a scan of the directory is about to start. */
    public static final String EVICT_SCANNING = "evict:scanning";
    /** Eviction: a copy's sidecar was removed, its data not yet. */
    public static final String EVICT_SIDECAR_REMOVED = "evict:sidecar-removed";

    private static volatile Consumer<String> listener = step -> {};

    private TierSteps() {}

    /** Installs the listener called at each step, on the thread doing it (tests only). */
    public static void listen(Consumer<String> stepListener) {
        listener = Objects.requireNonNull(stepListener);
    }

    static void reached(String step) {
        listener.accept(step);
    }
}
