package org.xraydl.bench;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs {@code benchmark} for one cell in a fresh JVM. ND4J does not give native memory back
 * between models in one JVM, and only one ND4J backend can be active per JVM, so the matrix and
 * the CPU-vs-GPU comparison start one child per cell with this JVM's options and classpath
 * (also under {@code mvn exec:java}, where the project classpath lives in a class loader).
 */
final class ChildJvm {

    private ChildJvm() {
    }

    /** Runs {@code org.xraydl.cli.Main benchmark <args>}; output goes to {@code log}. Returns the exit code. */
    static int run(List<String> args, Map<String, String> env, Path log) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // keep memory and --add-opens options, drop debugger/profiler agents and Maven's own launcher settings
            if (a.startsWith("-agentlib") || a.startsWith("-javaagent") || a.startsWith("-XX:StartFlightRecording")
                    || a.startsWith("-Dclassworlds") || a.startsWith("-Dmaven") || a.startsWith("-Dlibrary.jansi")) {
                continue;
            }
            cmd.add(a);
        }
        cmd.add("-cp");
        cmd.add(classpath());
        cmd.add("org.xraydl.cli.Main");
        cmd.add("benchmark");
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        try {
            return p.waitFor();
        } finally {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        }
    }

    /** The project classpath: the class loader's URLs (exec:java) plus java.class.path (plain java, surefire). */
    static String classpath() {
        Set<String> entries = new LinkedHashSet<>();
        ClassLoader cl = ChildJvm.class.getClassLoader();
        while (cl != null) {
            if (cl instanceof URLClassLoader u) {
                for (URL url : u.getURLs()) {
                    try {
                        entries.add(Path.of(url.toURI()).toString());
                    } catch (URISyntaxException | IllegalArgumentException e) {
                        // not a file URL: skip
                    }
                }
            }
            cl = cl.getParent();
        }
        for (String e : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            if (!e.isBlank()) {
                entries.add(e);
            }
        }
        return String.join(File.pathSeparator, entries);
    }
}
