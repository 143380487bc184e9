package io.github.s3tiered.inspector.cli;

import io.github.s3tiered.inspector.CheckpointInspector;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.fs.Path;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** What every subcommand does first: configuration, file systems, the inspector. */
abstract class InspectorSubcommand implements Callable<Integer> {

    static final int RESTORABLE = 0;
    static final int NOT_RESTORABLE = 1;
    /** Usage or configuration errors, and checkpoints that could not be judged (storage unreadable). */
    static final int ERROR = 2;

    @Mixin
    CommonOptions common = new CommonOptions();

    @Spec
    CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    @Override
    public final Integer call() throws Exception {
        if (common.verbose) {
            verboseLogging();
        }
        Configuration conf = FlinkEnvironment.load(common);
        FlinkEnvironment.initializeFileSystems(conf, common);
        CheckpointInspector inspector = new CheckpointInspector(getClass().getClassLoader());
        if (!common.jobClasspath.isEmpty()) {
            inspector = inspector.withJobClasses(JobClasses.loader(common.jobClasspath, getClass().getClassLoader()));
        }
        if (!common.quiet) {
            inspector = inspector.withProgress(new Progress(err()));
        }
        // judged as Flink restores it with this configuration: a checkpoint it resumes without its in-flight data
        // needs none of those files
        long inFlightDataIgnoredOf = conf.get(StateRecoveryOptions.CHECKPOINT_ID_OF_IGNORED_IN_FLIGHT_DATA);
        if (inFlightDataIgnoredOf >= 0) {
            inspector = inspector.withInFlightDataIgnoredOf(inFlightDataIgnoredOf);
        }
        int code = run(inspector);
        out().flush();
        err().flush();
        return code;
    }

    private static void verboseLogging() {
        try {
            org.apache.logging.log4j.core.config.Configurator.setRootLevel(org.apache.logging.log4j.Level.INFO);
        } catch (LinkageError e) {
            // another logging binding: its own configuration decides
        }
    }

    abstract int run(CheckpointInspector inspector) throws IOException;

    /** The exit code of an outcome: 0 restorable, 1 not, 2 could not be judged. */
    static int exitCode(io.github.s3tiered.inspector.Outcome outcome) {
        return switch (outcome) {
            case RESTORABLE -> RESTORABLE;
            case NOT_RESTORABLE -> NOT_RESTORABLE;
            case UNKNOWN -> ERROR;
        };
    }

    /** An inspection failure of the storage (not of a checkpoint) as one message naming the path. */
    static InspectorFailure failure(String action, Path path, IOException e) {
        if (e instanceof FileNotFoundException) {
            return new InspectorFailure(e.getMessage() == null ? "Not found: " + path : e.getMessage(), e);
        }
        String hint = e instanceof org.apache.flink.core.fs.UnsupportedFileSystemSchemeException
                ? " (is the file system's plugin in the plugins/ of --flink-home, $FLINK_PLUGINS_DIR or $FLINK_HOME?)"
                : "";
        return new InspectorFailure("Cannot " + action + " " + path + ": " + e.getMessage() + hint, e);
    }

    /**
     * An error (exit code 2) naming what {@code path} is instead, unless it is one job's checkpoint
     * directory. A checkpoint or the directory of several jobs, given where a job directory belongs
     * (a common slip), holds no chk-N of its own: a search would find nothing and say "not
     * restorable" or "no orphans", which a script may read as "start afresh" or "clean".
     */
    static void requireJobDirectory(CheckpointInspector inspector, Path path) throws IOException {
        switch (inspector.classify(path)) {
            case JOB_DIRECTORY -> { }
            case CHECKPOINT, SAVEPOINT -> throw new InspectorFailure(path + " is a checkpoint or savepoint, not a job"
                    + " directory: name the job directory that holds it (" + inspector.checkpointDirectoryOf(path).getParent()
                    + "), or validate the checkpoint itself");
            case BASE_DIRECTORY -> throw new InspectorFailure(path + " holds job directories, not checkpoints: name one"
                    + " (<dir>/<job-id>; 'list " + path + "' shows them)");
            default -> throw new InspectorFailure(path + " is not a job's checkpoint directory (no chk-N, savepoint-*, shared/"
                    + " or taskowned/ inside)");
        }
    }
}
