package io.github.s3tiered.inspector.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.Callable;

/**
 * Exit code 1 means "not restorable", and a deploy pipeline may fall back to an older checkpoint
 * on it; a crash of the inspector (an {@link Error}, which picocli does not hand to its exception
 * handler) must exit with 2, as every other failure.
 */
class ExitCodeOfCrashTest {

    @CommandLine.Command(name = "crashing")
    static final class Crashing implements Callable<Integer> {
        @Override
        public Integer call() {
            throw new StackOverflowError("deep in a listing");
        }
    }

    @Test
    void anErrorInACommandExitsWithTheErrorCodeNotWithNotRestorable() {
        StringWriter err = new StringWriter();

        int code = RecoveryInspector.run(new CommandLine(new Crashing()), new PrintWriter(new StringWriter()),
                new PrintWriter(err));

        assertThat(code).isEqualTo(InspectorSubcommand.ERROR).isEqualTo(2);
        assertThat(err.toString()).contains("error: StackOverflowError: deep in a listing");
    }
}
