package org.xraydl.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.AtomicFiles;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;

import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** JSON documents and console tables of the benchmark. */
public final class BenchReport {
    /** Environment variables that change native speed; recorded with every report. */
    static final List<String> ENV_KEYS = List.of("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
            "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "SD_MAX_THREADS", "SD_MASTER_THREADS");

    private BenchReport() {
    }

    /** What every report says about where it ran. */
    public static Map<String, Object> host() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("created", Instant.now().toString());
        m.put("engine", Benchmark.ENGINE);
        m.put("backend", Benchmark.backend());
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("java", System.getProperty("java.version"));
        m.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
        m.put("load_average", Benchmark.loadAverage());
        Map<String, String> env = new LinkedHashMap<>();
        for (String k : ENV_KEYS) {
            if (System.getenv(k) != null) {
                env.put(k, System.getenv(k));
            }
        }
        m.put("env", env);
        m.put("nd4j", Nd4j.getExecutioner().getEnvironmentInformation().toString());
        return m;
    }

    public static String json(Object value) {
        try {
            return ConfigLoader.JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One line, for stdout (like torch_peer.py). */
    public static String jsonLine(Object value) {
        try {
            return ConfigLoader.JSON.copy().disable(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static void write(Path file, Object value) {
        AtomicFiles.writeString(file, json(value) + "\n");
    }

    public static BenchResult readResult(Path file) {
        try {
            return ConfigLoader.JSON.readValue(file.toFile(), BenchResult.class);
        } catch (java.io.IOException e) {
            throw new UserError("cannot read benchmark result " + file + ": " + e.getMessage());
        }
    }

    public static String table(List<BenchResult> results) {
        StringBuilder sb = new StringBuilder();
        String fmt = "| %-11s | %4s | %5s | %-9s | %10s | %10s | %5s | %-7s | %s%n";
        sb.append(String.format(Locale.ROOT, fmt, "model", "size", "batch", "step", "img/s", "ms/batch", "load", "helpers", "note"));
        sb.append("|-------------|------|-------|-----------|------------|------------|-------|---------|-----\n");
        for (BenchResult r : results) {
            Object helpers = r.settings() == null ? "" : r.settings().get("onednn_layer_helpers");
            sb.append(String.format(Locale.ROOT, fmt, r.model(), r.size(), r.batch(), r.step(),
                    r.ok() ? String.format(Locale.ROOT, "%.2f", r.imgPerS()) : "-",
                    r.ok() ? String.format(Locale.ROOT, "%.1f", r.msPerBatch()) : "-",
                    String.format(Locale.ROOT, "%.1f", r.loadAfter()), helpers == null ? "" : helpers,
                    r.ok() ? "" : "FAILED: " + r.error()));
        }
        return sb.toString();
    }
}
