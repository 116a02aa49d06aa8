package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.kernels.OpenMpSpin;
import org.xraydl.kernels.PoolingKernel;
import org.xraydl.kernels.ShapeInfoCache;
import org.xraydl.model.io.DeserializationGuard;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point: {@code train | evaluate | predict | benchmark | ui | serve}. Each command only wires the packages. */
@Command(name = "xraydl", mixinStandardHelpOptions = true, version = "pneumonia-dl4j 0.1.0",
        description = "Pneumonia diagnosis from chest X-rays with Deeplearning4j.",
        subcommands = {TrainCommand.class, EvaluateCommand.class, PredictCommand.class,
                BenchmarkCommand.class, UiCommand.class, ServeCommand.class})
public class Main implements Runnable {

    public static void main(String[] args) {
        int code = run(args);
        // exec:java runs inside Maven: exit explicitly so non-daemon threads (UI, Vert.x) never hang the build.
        System.exit(code);
    }

    /** Runs a command and returns its exit code; never calls System.exit (tests use this). */
    public static int run(String... args) {
        // Before anything creates an ObjectInputStream: the JDK accepts a filter factory only then.
        DeserializationGuard.install();
        // The resident-memory ceiling (JavaCPP's per-allocation check is off in .mvn/jvm.config: it cost ~6 % of a step).
        try {
            // first: libgomp reads its spin count once, when ND4J loads it
            OpenMpSpin.applyBeforeNd4j();
            // ND4J reads its shape-information provider once, when it initialises
            ShapeInfoCache.applyBeforeNd4j();
            MemoryGuard.startForProcess();
            // checked here too, not only when the first pooling layer is built: a bad value stops before any work
            PoolingKernel.parseProperty(System.getProperty(PoolingKernel.PROPERTY));
        } catch (UserError e) { // a bad -Dxraydl.maxResidentBytes, -Dxraydl.poolingKernel, -Dxraydl.ompSpinCount or -Dxraydl.shapeInfoCache: one line
            System.err.println("error: " + e.getMessage());
            return 2;
        }
        return commandLine(new Main()).execute(args);
    }

    /**
     * A picocli command line for {@code command} with the project's convention for failures: a bad option or a
     * {@link UserError} (anywhere in the cause chain) is one line on stderr and exit status 2; anything else is one
     * line and status 1, its stack trace only with {@code XRAYDL_DEBUG} set. The diagnostic mains
     * ({@code org.xraydl.diagnose}) use it too.
     */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            Throwable t = ex;
            while (!(t instanceof UserError) && t.getCause() != null && t.getCause() != t) {
                t = t.getCause();
            }
            if (t instanceof UserError) {
                commandLine.getErr().println("error: " + t.getMessage());
                return 2;
            }
            // Unexpected: still one line; the stack trace only when asked for.
            commandLine.getErr().println("error: " + ex.getClass().getSimpleName() + ": " + firstLine(ex.getMessage())
                    + " (set XRAYDL_DEBUG=1 for the stack trace)");
            if (System.getenv("XRAYDL_DEBUG") != null) {
                ex.printStackTrace(commandLine.getErr());
            }
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args1) -> {
            ex.getCommandLine().getErr().println("error: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        return cl;
    }

    static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
