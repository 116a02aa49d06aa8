package org.xraydl.bench;

import org.xraydl.UserError;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The whole matrix: models x sizes x steps, one cell per child JVM (or in this JVM for tests). */
public final class MatrixBenchmark {
    public static final String JSON = "benchmark.json";
    public static final String PNG = "benchmark.png";

    /** @param childEnv environment variables set for each child JVM (e.g. OMP_WAIT_POLICY) */
    public record Spec(List<String> models, List<Integer> sizes, List<Step> steps, int batch, Timing timing,
                       Tuning tuning, boolean fork, Map<String, String> childEnv) {
    }

    private MatrixBenchmark() {
    }

    public static List<BenchResult> run(Spec spec, Path outDir, PrintStream log) {
        List<BenchResult> results = new ArrayList<>();
        Path cells = outDir.resolve("cells");
        for (String model : spec.models()) {
            for (int size : spec.sizes()) {
                for (Step step : spec.steps()) {
                    Workload w = new Workload(model, size, spec.batch(), step);
                    log.printf(Locale.ROOT, "[benchmark] %-28s ... ", w.label());
                    log.flush();
                    BenchResult r = spec.fork() ? forked(w, spec, cells) : inProcess(w, spec);
                    results.add(r);
                    log.println(r.ok() ? String.format(Locale.ROOT, "%.2f img/s (%.0f ms/batch, load %.1f)",
                            r.imgPerS(), r.msPerBatch(), r.loadAfter()) : "failed: " + r.error());
                    write(spec, results, outDir);
                }
            }
        }
        return results;
    }

    /** benchmark.json and benchmark.png, rewritten after every cell so a long run can be watched or stopped. */
    static void write(Spec spec, List<BenchResult> results, Path outDir) {
        Map<String, Object> doc = BenchReport.host();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("models", spec.models());
        s.put("sizes", spec.sizes());
        s.put("steps", spec.steps().stream().map(Step::id).toList());
        s.put("batch", spec.batch());
        s.put("seconds", spec.timing().seconds());
        s.put("warmup", spec.timing().warmup());
        s.put("one_jvm_per_cell", spec.fork());
        s.put("child_env", spec.childEnv());
        s.put("tuning", spec.tuning());
        doc.put("matrix", s);
        doc.put("results", results);
        BenchReport.write(outDir.resolve(JSON), doc);
        BenchCharts.matrix(results, "", outDir.resolve(PNG));
    }

    static BenchResult inProcess(Workload w, Spec spec) {
        try {
            return Benchmark.run(w, spec.timing(), spec.tuning());
        } catch (RuntimeException | OutOfMemoryError e) {
            return BenchResult.failed(w, Benchmark.backend(), e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()));
        }
    }

    static BenchResult forked(Workload w, Spec spec, Path cells) {
        String name = w.model() + "-" + w.size() + "-" + w.step().id();
        Path json = cells.resolve(name + ".json");
        Path log = cells.resolve(name + ".log");
        try {
            Files.createDirectories(cells);
            Files.deleteIfExists(json);
            int code = ChildJvm.run(cellArgs(w, spec.timing(), spec.tuning(), json), spec.childEnv(), log);
            if (code == 0 && Files.isRegularFile(json)) {
                return BenchReport.readResult(json);
            }
            return BenchResult.failed(w, Benchmark.backend(), "exit code " + code + ": " + lastLines(log) + " (log " + log + ")");
        } catch (Exception e) {
            return BenchResult.failed(w, Benchmark.backend(), e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()));
        }
    }

    /** Runs one workload in a child JVM with {@code env} and returns its result. */
    public static BenchResult forkOne(Workload w, Timing t, Tuning tuning, Map<String, String> env, Path dir) {
        return forked(w, new Spec(List.of(), List.of(), List.of(), w.batch(), t, tuning, true, env), dir);
    }

    static List<String> cellArgs(Workload w, Timing t, Tuning tuning, Path json) {
        List<String> a = new ArrayList<>(List.of("--model", w.model(), "--size", String.valueOf(w.size()),
                "--batch", String.valueOf(w.batch()), "--step", w.step().id(),
                "--seconds", String.valueOf(t.seconds()), "--warmup", String.valueOf(t.warmup()),
                "--workspace", tuning.workspace(), "--cache", tuning.cache(),
                "--helpers", String.valueOf(tuning.helpers()), "--threads", String.valueOf(tuning.threads()),
                "--fast-batch-norm", String.valueOf(tuning.fastBatchNorm()), "--fast-relu", String.valueOf(tuning.fastRelu()),
                "--fast-pooling", String.valueOf(tuning.fastPooling()), "--fast-conv", String.valueOf(tuning.fastConv()),
                "--json", json.toAbsolutePath().toString()));
        if (t.maxIterations() > 0) {
            a.add("--max-iterations");
            a.add(String.valueOf(t.maxIterations()));
        }
        return a;
    }

    static String lastLines(Path log) {
        try {
            List<String> lines = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).toList();
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i);
                if (l.startsWith("error:") || l.contains("Exception") || l.contains("Error")) {
                    return l.trim();
                }
            }
            return lines.isEmpty() ? "no output" : lines.get(lines.size() - 1).trim();
        } catch (IOException e) {
            return "no log";
        }
    }

    static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }

    static void requireNonEmpty(List<?> l, String what) {
        if (l == null || l.isEmpty()) {
            throw new UserError(what + " must not be empty");
        }
    }
}
