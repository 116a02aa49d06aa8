package org.xraydl.kernels;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * How long ND4J's idle OpenMP worker spins before it sleeps. libgomp (ND4J's OpenMP runtime on Linux)
 * spins 300,000 rounds by default when {@code OMP_WAIT_POLICY} is unset, about 3 ms by its own estimate
 * of 100,000 rounds a millisecond. On a 2-core machine the training thread and one helper decode the next
 * batch right after each step, and the worker spins through most of that wait on the core the helper
 * needs. 30,000 rounds (~0.3 ms) still bridges the gaps between the ops of a step, so steps keep their
 * speed, and hands the core to decoding soon after the step's last op. Measured on the compact 96 px job:
 * data wait 1.7-2.4 -> 1.4-1.6 s an epoch, steps unchanged; 10,000 made steps ~20 % slower (docs/benchmark).
 *
 * <p>libgomp reads {@code GOMP_SPINCOUNT} once, when it is loaded, so {@link #applyBeforeNd4j} sets it in
 * the process environment (C {@code setenv} through JNA) before anything loads ND4J. Left alone when the
 * user set {@code GOMP_SPINCOUNT} or {@code OMP_WAIT_POLICY} (their choice wins), with
 * {@code -D}{@value #PROPERTY}{@code =libgomp}, where there is no C library to call (then one warning), and
 * once libgomp is loaded (a second call in one JVM, tests). {@code -D}{@value #PROPERTY}{@code =N} sets
 * another count. Notebooks and Spark executors do not start through the CLI and keep libgomp's default.
 */
public final class OpenMpSpin {
    private static final Logger log = LoggerFactory.getLogger(OpenMpSpin.class);

    public static final String PROPERTY = "xraydl.ompSpinCount";
    /** The pipeline's spin count, ~0.3 ms (see the class comment). */
    public static final long DEFAULT_SPIN_COUNT = 30_000;
    /** The property value that keeps libgomp's own default. */
    public static final String LIBGOMP_DEFAULT = "libgomp";
    static final String SPIN_VARIABLE = "GOMP_SPINCOUNT";
    static final String WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY";

    /** What this process runs with: the spin count (or a description) and why. */
    public record Setting(String spinCount, String source) {
        @Override
        public String toString() {
            return spinCount + " (" + source + ")";
        }
    }

    private static Setting applied;

    private OpenMpSpin() {
    }

    /**
     * Sets {@code GOMP_SPINCOUNT} for libgomp unless the user or the property says otherwise; call before
     * anything touches ND4J. Only the first call of a process acts. Throws {@link UserError} for a bad
     * property value.
     */
    public static synchronized Setting applyBeforeNd4j() {
        if (applied != null) {
            return applied;
        }
        String property = System.getProperty(PROPERTY);
        Optional<Long> wanted = parse(property);
        Setting decided = decide(System.getenv(), property);
        if (decided == null) { // ours to set
            long count = wanted.orElse(DEFAULT_SPIN_COUNT);
            if (libgompLoaded()) {
                decided = new Setting("libgomp's", "libgomp was already loaded in this JVM; " + SPIN_VARIABLE + " not set");
            } else if (setenv(SPIN_VARIABLE, Long.toString(count))) {
                decided = new Setting(Long.toString(count), wanted.isPresent() ? "-D" + PROPERTY : "the pipeline's default");
            } else {
                decided = new Setting("libgomp's", "no C setenv here; " + SPIN_VARIABLE + " not set");
            }
        }
        applied = decided;
        log.debug("OpenMP spin count: {}", applied);
        return applied;
    }

    /** The setting of this process, for reports ({@link #applyBeforeNd4j} not called: libgomp's default or the environment's). */
    public static synchronized Setting current() {
        if (applied != null) {
            return applied;
        }
        Setting fromEnv = decide(System.getenv(), null);
        return fromEnv != null ? fromEnv : new Setting("libgomp's", "not set by the pipeline in this JVM");
    }

    /** The setting when the environment or the property decides it; null when the pipeline sets its count. */
    static Setting decide(Map<String, String> env, String property) {
        String spin = env.get(SPIN_VARIABLE);
        if (spin != null) {
            return new Setting(spin, SPIN_VARIABLE + " from the environment");
        }
        String policy = env.get(WAIT_POLICY_VARIABLE);
        if (policy != null) {
            return new Setting("libgomp's for " + WAIT_POLICY_VARIABLE + "=" + policy, WAIT_POLICY_VARIABLE + " from the environment");
        }
        if (property != null && property.trim().equalsIgnoreCase(LIBGOMP_DEFAULT)) {
            return new Setting("libgomp's", "-D" + PROPERTY + "=" + LIBGOMP_DEFAULT);
        }
        return null;
    }

    /** The property's spin count: empty when unset or {@value #LIBGOMP_DEFAULT}; a {@link UserError} otherwise if not a count. */
    static Optional<Long> parse(String value) {
        if (value == null || value.isBlank() || value.trim().equalsIgnoreCase(LIBGOMP_DEFAULT)) {
            return Optional.empty();
        }
        try {
            long n = Long.parseLong(value.trim());
            if (n >= 0) {
                return Optional.of(n);
            }
        } catch (NumberFormatException ignored) {
            // falls through to the error
        }
        throw new UserError("-D" + PROPERTY + "=" + value + " is not a spin count: give a whole number >= 0 (e.g. "
                + DEFAULT_SPIN_COUNT + ") or " + LIBGOMP_DEFAULT + " for libgomp's default");
    }

    /** Whether libgomp is mapped into this process already (Linux; false where /proc is missing). */
    static boolean libgompLoaded() {
        try {
            return Files.readString(Path.of("/proc/self/maps")).contains("libgomp");
        } catch (IOException | RuntimeException noProc) {
            return false;
        }
    }

    private static boolean setenv(String name, String value) {
        try {
            Function f = NativeLibrary.getInstance("c").getFunction("setenv");
            return f.invokeInt(new Object[]{name, value, 1}) == 0;
        } catch (UnsatisfiedLinkError | RuntimeException noLibc) {
            log.warn("could not set {} ({}): ND4J's OpenMP threads keep libgomp's default spin", name, noLibc.getMessage());
            return false;
        }
    }
}
