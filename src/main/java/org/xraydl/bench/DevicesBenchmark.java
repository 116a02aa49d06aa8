package org.xraydl.bench;

import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Time per batch on CPU vs GPU (the paper's figure 21). ND4J runs one backend per JVM, chosen by
 * priority among those on the classpath, so each backend present is measured in its own child
 * JVM with {@code BACKEND_PRIORITY_CPU/GPU} making it win (the active one may run in this JVM).
 * Nothing is measured, and the report says so, for a backend that is not on the classpath.
 */
public final class DevicesBenchmark {
    public static final String JSON = "devices.json";
    public static final String PNG = "devices.png";
    static final Map<String, String> BACKEND_CLASSES = Map.of(
            "CPU", "org.nd4j.linalg.cpu.nativecpu.CpuBackend",
            "CUDA", "org.nd4j.linalg.jcublas.JCublasBackend");

    public record Spec(List<String> models, int size, int batch, List<Step> steps, Timing timing, Tuning tuning,
                       boolean fork, Map<String, String> childEnv) {
    }

    private DevicesBenchmark() {
    }

    /** Backends whose classes are on the classpath, CPU first. */
    public static List<String> backendsOnClasspath() {
        List<String> out = new ArrayList<>();
        for (String b : List.of("CPU", "CUDA")) {
            try {
                Class.forName(BACKEND_CLASSES.get(b), false, DevicesBenchmark.class.getClassLoader());
                out.add(b);
            } catch (ClassNotFoundException | LinkageError e) {
                // not present
            }
        }
        return out;
    }

    public static Map<String, Object> run(Spec spec, Path outDir, PrintStream log) {
        String active = Benchmark.backend().toUpperCase(Locale.ROOT);
        List<String> present = backendsOnClasspath();
        boolean gpu = present.contains("CUDA");
        String note;
        if (!gpu) {
            note = "no GPU backend on the classpath (nd4j-cuda-11.6 is only added by the Maven profile -Pcuda, which needs an "
                    + "NVIDIA GPU with CUDA 11.6 libraries): only CPU times are measured; no GPU numbers are reported";
        } else if (!present.contains("CPU")) {
            note = "only the CUDA backend is on the classpath (-Pcuda replaces nd4j-native): GPU times only; run the same "
                    + "command without -Pcuda for the CPU side";
        } else {
            note = "both backends on the classpath: each measured in its own JVM";
        }
        log.println("[benchmark] backends on the classpath: " + present + ", active: " + active + " - " + note);
        List<BenchResult> results = new ArrayList<>();
        Map<String, Object> doc = BenchReport.host();
        doc.put("backends_on_classpath", present);
        doc.put("active_backend", active);
        doc.put("gpu_backend_present", gpu);
        doc.put("gpus", gpu && active.equals("CUDA") ? Nd4j.getAffinityManager().getNumberOfDevices() : 0);
        doc.put("note", note);
        doc.put("results", results);
        for (String backend : present) {
            for (String model : spec.models()) {
                for (Step step : spec.steps()) {
                    Workload w = new Workload(model, spec.size(), spec.batch(), step);
                    log.printf(Locale.ROOT, "[benchmark] %-5s %-28s ... ", backend, w.label());
                    log.flush();
                    BenchResult r;
                    if (backend.equals(active) && !spec.fork()) {
                        r = MatrixBenchmark.inProcess(w, new MatrixBenchmark.Spec(List.of(), List.of(), List.of(), spec.batch(),
                                spec.timing(), spec.tuning(), false, spec.childEnv()));
                    } else {
                        r = forked(backend, w, spec, outDir.resolve("cells"));
                    }
                    results.add(r);
                    log.println(r.ok() ? String.format(Locale.ROOT, "%.1f ms/batch (%.2f img/s)", r.msPerBatch(), r.imgPerS())
                            : "failed: " + r.error());
                    BenchReport.write(outDir.resolve(JSON), doc);
                }
            }
        }
        BenchReport.write(outDir.resolve(JSON), doc);
        BenchCharts.devices(results, "Time per batch by backend" + (gpu ? "" : " (no GPU backend present: CPU only)"),
                outDir.resolve(PNG));
        return doc;
    }

    private static BenchResult forked(String backend, Workload w, Spec spec, Path cells) {
        String name = backend.toLowerCase(Locale.ROOT) + "-" + w.model() + "-" + w.size() + "-" + w.step().id();
        Path json = cells.resolve(name + ".json");
        Path log = cells.resolve(name + ".log");
        Map<String, String> env = new java.util.HashMap<>(spec.childEnv());
        env.putAll(backend.equals("CUDA")
                ? Map.of("BACKEND_PRIORITY_GPU", "1000", "BACKEND_PRIORITY_CPU", "0")
                : Map.of("BACKEND_PRIORITY_CPU", "1000", "BACKEND_PRIORITY_GPU", "0"));
        try {
            Files.createDirectories(cells);
            Files.deleteIfExists(json);
            int code = ChildJvm.run(MatrixBenchmark.cellArgs(w, spec.timing(), spec.tuning(), json), env, log);
            if (code == 0 && Files.isRegularFile(json)) {
                return BenchReport.readResult(json);
            }
            return BenchResult.failed(w, backend, "exit code " + code + ": " + MatrixBenchmark.lastLines(log));
        } catch (Exception e) {
            return BenchResult.failed(w, backend, e.getClass().getSimpleName() + ": " + MatrixBenchmark.firstLine(e.getMessage()));
        }
    }

}
