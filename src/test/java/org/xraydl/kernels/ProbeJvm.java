package org.xraydl.kernels;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs a probe's main class in a fresh JVM (settings that only take effect before ND4J starts). */
final class ProbeJvm {
    private ProbeJvm() {
    }

    /**
     * Starts {@code main} with the test's class path and {@code jvmOptions}; {@code unsetEnv} are removed from the
     * environment and {@code env} put into it. Asserts it exits 0 within 180 s and returns its output.
     */
    static String run(Class<?> main, List<String> jvmOptions, List<String> unsetEnv, Map<String, String> env) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        unsetEnv.forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "probe did not finish");
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
