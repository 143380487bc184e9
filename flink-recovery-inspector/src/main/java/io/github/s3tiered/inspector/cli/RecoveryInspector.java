package io.github.s3tiered.inspector.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;

/** The {@code recovery-inspector} command line. */
@Command(name = "recovery-inspector", mixinStandardHelpOptions = true, versionProvider = RecoveryInspector.Version.class,
        description = "Validates Flink checkpoints and savepoints, finds the restore point and orphaned files.",
        subcommands = {ListCommand.class, ValidateCommand.class, RestorePointCommand.class, DescribeCommand.class,
                OrphansCommand.class},
        footer = {"", "Exit codes: 0 success/restorable, 1 not restorable, 2 usage or configuration error."})
public final class RecoveryInspector implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** The version the build wrote, and the Flink line. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            java.util.Properties p = Launcher.buildProperties();
            return new String[] {"recovery-inspector " + p.getProperty("version", "(unknown version)") + " for Flink "
                    + p.getProperty("flink.version", "(unknown)")};
        }
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand");
    }

    public static void main(String[] args) {
        if (System.getProperty("log4j2.configurationFile") == null && System.getProperty("log4j.configurationFile") == null) {
            // quiet by default: Flink's file systems log at INFO
            System.setProperty("log4j2.configurationFile", "recovery-inspector-log4j2.properties");
        }
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the command line in this JVM; returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        return run(new CommandLine(new RecoveryInspector()), out, err, args);
    }

    /**
     * Every failure is exit code 2, an {@link Error} too (picocli hands only exceptions to its
     * handler): 1 means "not restorable", which a crash must never be taken for.
     */
    static int run(CommandLine cl, PrintWriter out, PrintWriter err, String... args) {
        try {
            return execute(cl, out, err, args);
        } catch (Throwable t) {
            try {
                err.println("error: " + message(t));
                err.flush();
            } catch (Throwable ignored) {
                // out of memory even for the message: the exit code still says it
            }
            return InspectorSubcommand.ERROR;
        }
    }

    private static int execute(CommandLine cl, PrintWriter out, PrintWriter err, String... args) {
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            boolean verbose = commandLine.getCommand() instanceof InspectorSubcommand s && s.common.verbose;
            commandLine.getErr().println("error: " + message(ex));
            if (verbose) {
                ex.printStackTrace(commandLine.getErr());
            }
            commandLine.getErr().flush();
            return InspectorSubcommand.ERROR;
        });
        return cl.execute(args);
    }

    private static String message(Throwable ex) {
        if (ex instanceof InspectorFailure) {
            return ex.getMessage();
        }
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
