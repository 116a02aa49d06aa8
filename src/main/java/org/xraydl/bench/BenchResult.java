package org.xraydl.bench;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.Map;

/**
 * One measured cell, as written to JSON (snake_case, the same core keys as {@code torch_peer.py}:
 * model, size, batch, step, img_per_s). {@code error} is set, and the speeds are 0, when the cell
 * could not run (e.g. out of memory).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record BenchResult(
        @JsonProperty("engine") String engine,
        @JsonProperty("backend") String backend,
        @JsonProperty("model") String model,
        @JsonProperty("size") int size,
        @JsonProperty("batch") int batch,
        @JsonProperty("step") String step,
        @JsonProperty("threads") int threads,
        @JsonProperty("img_per_s") double imgPerS,
        @JsonProperty("ms_per_batch") double msPerBatch,
        @JsonProperty("ms_per_batch_median") double msPerBatchMedian,
        @JsonProperty("iterations") int iterations,
        @JsonProperty("images") long images,
        @JsonProperty("seconds") double seconds,
        @JsonProperty("warmup_iterations") int warmupIterations,
        @JsonProperty("warmup_seconds") double warmupSeconds,
        @JsonProperty("build_seconds") double buildSeconds,
        @JsonProperty("parameters") long parameters,
        @JsonProperty("load_average_before") double loadBefore,
        @JsonProperty("load_average_after") double loadAfter,
        @JsonProperty("settings") Map<String, Object> settings,
        @JsonProperty("error") String error) {

    public boolean ok() {
        return error == null;
    }

    public static BenchResult failed(Workload w, String backend, String error) {
        return new BenchResult(Benchmark.ENGINE, backend, w.model(), w.size(), w.batch(), w.step().id(), 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, Benchmark.loadAverage(), Benchmark.loadAverage(), null, error);
    }
}
