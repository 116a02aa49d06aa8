package org.xraydl.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.IntSupplier;

/** Runs the CLI (or a diagnostic main) in this JVM as a user would, capturing its exit code and output. */
public final class CliRunner {
    private CliRunner() {
    }

    public record Outcome(int code, String out, String err) {
    }

    /** {@link Main#run} with stdout and stderr captured (and echoed afterwards, for the test log). */
    public static Outcome cli(String... args) {
        return capture(() -> Main.run(args));
    }

    /** Any entry point returning an exit code (a diagnostic main's {@code run}), stdout and stderr captured as {@link #cli}. */
    public static Outcome capture(IntSupplier entryPoint) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = entryPoint.getAsInt();
            return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
            oldOut.print(out.toString(StandardCharsets.UTF_8));
            oldErr.print(err.toString(StandardCharsets.UTF_8));
        }
    }
}
