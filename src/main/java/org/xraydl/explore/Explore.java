package org.xraydl.explore;

import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.run.RunDirectory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where the notebooks look, each from an environment variable with a default, so a notebook can be
 * pointed at other data, runs or benchmark output without editing it:
 *
 * <table>
 *   <caption>locations</caption>
 *   <tr><th>variable</th><th>default</th></tr>
 *   <tr><td>{@code XRAYDL_PROJECT}</td><td>the nearest folder upwards with pom.xml and src/main/java/org/xraydl</td></tr>
 *   <tr><td>{@code XRAYDL_DATA}</td><td>{@code <project>/data/chest-xray-sample}</td></tr>
 *   <tr><td>{@code XRAYDL_RUN}</td><td>the most recent run folder under {@code <project>/runs}</td></tr>
 *   <tr><td>{@code XRAYDL_RUNS}</td><td>{@code <project>/runs} (the runs compared by speed)</td></tr>
 *   <tr><td>{@code XRAYDL_BENCHMARK}</td><td>the most recent {@code <project>/runs/benchmark-*} folder</td></tr>
 * </table>
 *
 * Relative values are taken from the project folder.
 */
public final class Explore {
    public static final String PROJECT = "XRAYDL_PROJECT";
    public static final String DATA = "XRAYDL_DATA";
    public static final String RUN = "XRAYDL_RUN";
    public static final String RUNS = "XRAYDL_RUNS";
    public static final String BENCHMARK = "XRAYDL_BENCHMARK";

    private Explore() {
    }

    /** The project folder: {@code XRAYDL_PROJECT}, else the nearest folder upwards from the working directory that holds the project. */
    public static Path projectDir() {
        String env = System.getenv(PROJECT);
        if (env != null && !env.isBlank()) {
            return Path.of(env).toAbsolutePath().normalize();
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isDirectory(p.resolve("src/main/java/org/xraydl"))) {
                return p;
            }
        }
        return Path.of("").toAbsolutePath();
    }

    /** The data folder to explore: {@code XRAYDL_DATA}, else the shipped sample. */
    public static Path dataDir() {
        return fromEnv(DATA).orElse(projectDir().resolve("data/chest-xray-sample"));
    }

    /** The folder holding the runs: {@code XRAYDL_RUNS}, else {@code <project>/runs}. */
    public static Path runsDir() {
        return fromEnv(RUNS).orElse(projectDir().resolve("runs"));
    }

    /** The run to explore: {@code XRAYDL_RUN}, else the most recently written run under {@link #runsDir()}. */
    public static Path runDir() {
        Optional<Path> env = fromEnv(RUN);
        if (env.isPresent()) {
            if (!Files.isRegularFile(env.get().resolve(RunDirectory.HISTORY))) {
                throw new UserError(RUN + "=" + env.get() + " is not a run folder (it has no " + RunDirectory.HISTORY + ")");
            }
            return env.get();
        }
        List<Path> runs = runDirs(runsDir());
        if (runs.isEmpty()) {
            throw new UserError("no run folder found under " + runsDir() + ": train one first (mvn -q compile exec:java@train)"
                    + " or set " + RUN + " to a run folder");
        }
        return runs.get(runs.size() - 1);
    }

    /** The benchmark output to show: {@code XRAYDL_BENCHMARK}, else the newest {@code benchmark-*} folder under {@link #runsDir()}. */
    public static Optional<Path> benchmarkDir() {
        Optional<Path> env = fromEnv(BENCHMARK);
        if (env.isPresent()) {
            return env;
        }
        Path runs = runsDir();
        if (!Files.isDirectory(runs)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(runs)) {
            return s.filter(Files::isDirectory)
                    .filter(p -> p.getFileName().toString().startsWith("benchmark"))
                    .filter(p -> Files.isRegularFile(p.resolve(SpeedExplorer.BENCHMARK_JSON))
                            || Files.isRegularFile(p.resolve(SpeedExplorer.WORKERS_JSON)))
                    .max(Comparator.comparing(Explore::modified));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Run folders (those with a history.csv) directly under {@code root} or one level deeper, oldest first. */
    public static List<Path> runDirs(Path root) {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(root, 2)) {
            return s.filter(p -> Files.isRegularFile(p.resolve(RunDirectory.HISTORY)))
                    .sorted(Comparator.comparing((Path p) -> modified(p.resolve(RunDirectory.HISTORY))).thenComparing(Path::toString))
                    .toList();
        } catch (IOException e) {
            throw new UserError("cannot list " + root + ": " + e.getMessage());
        }
    }

    /**
     * The configuration training would use by default: {@code <project>/config/default.yaml} when it
     * exists (as {@code train} does), else the bundled defaults.
     */
    public static RunConfig defaultConfig() {
        Path yaml = projectDir().resolve("config/default.yaml");
        return ConfigLoader.load(Files.isRegularFile(yaml) ? yaml : null, Map.of());
    }

    static Optional<Path> fromEnv(String name) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            return Optional.empty();
        }
        Path p = Path.of(v);
        return Optional.of(p.isAbsolute() ? p.normalize() : projectDir().resolve(p).normalize());
    }

    static FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }
}
