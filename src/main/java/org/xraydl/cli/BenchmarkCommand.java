package org.xraydl.cli;

import org.xraydl.UserError;
import org.xraydl.bench.BenchReport;
import org.xraydl.bench.BenchResult;
import org.xraydl.bench.Benchmark;
import org.xraydl.bench.DevicesBenchmark;
import org.xraydl.bench.EpochBenchmark;
import org.xraydl.bench.MatrixBenchmark;
import org.xraydl.bench.Step;
import org.xraydl.bench.Timing;
import org.xraydl.bench.Tuning;
import org.xraydl.bench.Workload;
import org.xraydl.bench.WorkersBenchmark;
import org.xraydl.kernels.NativeHelpers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * benchmark: images/s of one workload ({@code --step}), the whole matrix (no {@code --step}),
 * training time vs workers ({@code --workers N}), or CPU vs GPU time per batch ({@code --devices}).
 */
@Command(name = "benchmark", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Speed benchmarks on random float32 input (NCHW), comparable with shared/bench/torch_peer.py.",
                "  --step S             one workload: prints images/s after a warm-up (JSON line; --json FILE to keep it)",
                "  --step epoch --data DIR [--split runs/X/split.csv] [--epochs N]",
                "                       whole epochs of the real training job with a per-stage breakdown (JSON)",
                "  (no --step)          the matrix models x sizes x steps: table, benchmark.json, benchmark.png",
                "  --workers N          training time vs ParallelWrapper workers 1..N: workers.json, workers.png",
                "  --devices            time per batch on CPU vs GPU (GPU only if a CUDA backend is on the classpath): devices.json, devices.png",
                "Reports go to --out (default runs/benchmark-<timestamp>/)."})
public class BenchmarkCommand implements Callable<Integer> {

    @Option(names = "--model", description = "vgg16 | densenet121 | densenet (compact). Matrix: default all three")
    String model;
    @Option(names = "--models", split = ",", description = "Matrix/devices: models to run (comma-separated)")
    List<String> models;
    @Option(names = "--size", description = "Input size in pixels (default 128)")
    Integer size;
    @Option(names = "--sizes", split = ",", description = "Matrix: sizes (default 128,224)")
    List<Integer> sizes;
    @Option(names = "--batch", defaultValue = "16", description = "Minibatch size (default ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--step", description = "forward | head | full | featurize: run only this workload;"
            + " epoch: time whole training epochs of the train goal's pipeline on --data")
    String step;
    @Option(names = "--steps", split = ",", description = "Matrix/devices: steps (default forward,head,full,featurize; devices: forward,full)")
    List<String> steps;
    @Option(names = "--seconds", description = "Timed seconds per workload after the warm-up (default 20; matrix 10)")
    Double seconds;
    @Option(names = "--warmup", defaultValue = "2", description = "Untimed warm-up iterations (default ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--max-iterations", defaultValue = "0", description = "Cap on timed iterations (0 = none; for tests)")
    int maxIterations;
    @Option(names = "--json", description = "Single workload: write the result to this JSON file")
    Path json;
    @Option(names = "--out", description = "Report folder (default runs/benchmark-<timestamp>)")
    Path out;

    @Option(names = "--data", description = "Epoch step: data folder (NORMAL/ and PNEUMONIA/ or a Kaggle chest_xray tree)")
    String data;
    @Option(names = "--split", description = "Epoch step: a run's split.csv, to train on exactly its partition")
    Path split;
    @Option(names = "--epochs", defaultValue = "2", description = "Epoch step: epochs to time (default ${DEFAULT-VALUE})")
    int epochs;
    @Option(names = "--config", description = "Epoch step: YAML config to start from (default: the bundled defaults)")
    Path config;
    @Option(names = "--growth", description = "Epoch step, compact DenseNet: growth rate")
    Integer growth;
    @Option(names = "--blocks", split = ",", description = "Epoch step, compact DenseNet: layers per dense block, e.g. 2,4,6")
    List<Integer> blocks;
    @Option(names = "--init-features", description = "Epoch step, compact DenseNet: stem features")
    Integer initFeatures;
    @Option(names = "--loader-threads", description = "Epoch step: background loader threads (0 = decode on the training thread)")
    Integer loaderThreads;
    @Option(names = "--decode-threads", description = "Epoch step: threads decoding each batch, the loading thread included (0 = one per processor, 1 = that thread alone)")
    Integer decodeThreads;
    @Option(names = "--eval-batch", description = "Epoch step: validation batch size (default 2 x --batch)")
    Integer evalBatch;
    @Option(names = "--max-batches", description = "Epoch step: cap on batches per epoch (tests)")
    Integer maxBatches;

    @Option(names = "--workers", description = "Training time vs workers 1..N with ParallelWrapper (default model densenet, step full)")
    Integer workers;
    @Option(names = "--batches", defaultValue = "8", description = "Workers mode: minibatches per timed epoch (default ${DEFAULT-VALUE})")
    int batches;
    @Option(names = "--devices", description = "CPU vs GPU time per batch for the backends on the classpath")
    boolean devices;
    @Option(names = "--in-process", description = "Run in this JVM instead of child JVMs (one per cell; a single workload is"
            + " forked only to set --omp-wait-policy)")
    boolean inProcess;
    @Option(names = "--omp-wait-policy", defaultValue = "inherit", description = "OMP_WAIT_POLICY for the child JVMs: inherit | passive |"
            + " active (default ${DEFAULT-VALUE}: the caller's environment, fastest on an idle machine; passive helps only on a"
            + " busy, oversubscribed machine, where spin-waiting OpenMP threads lose their time slice)")
    String ompWaitPolicy;

    @Option(names = "--workspace", defaultValue = "enabled", description = "Tuning: DL4J workspaces enabled | none (default ${DEFAULT-VALUE})")
    String workspace;
    @Option(names = "--cache", defaultValue = "none", description = "Tuning: DL4J cache mode none | host | device (default ${DEFAULT-VALUE})")
    String cache;
    @Option(names = "--helpers", arity = "1", description = "Tuning: oneDNN layer helpers true | false (default: the pipeline's, true)")
    Boolean helpers;
    @Option(names = "--threads", defaultValue = "0", description = "Tuning: native threads (0 = one per core)")
    int threads;
    @Option(names = "--fast-batch-norm", arity = "1", defaultValue = "true", description = "Tuning: the pipeline's batch-norm"
            + " helper (true) or DL4J's own oneDNN one (false), for A/B runs (default ${DEFAULT-VALUE})")
    boolean fastBatchNorm;
    @Option(names = "--fast-relu", arity = "1", defaultValue = "true", description = "Tuning: the pipeline's ReLU layer"
            + " (true) or DL4J's ActivationLayer code (false), for A/B runs (default ${DEFAULT-VALUE})")
    boolean fastRelu;
    @Option(names = "--fast-pooling", arity = "1", defaultValue = "true", description = "Tuning: the pipeline's pooling layer"
            + " (true) or DL4J's SubsamplingLayer code (false), for A/B runs (default ${DEFAULT-VALUE})")
    boolean fastPooling;
    @Option(names = "--fast-conv", arity = "1", defaultValue = "true", description = "Tuning: the pipeline's convolution layer"
            + " (true) or DL4J's ConvolutionLayer code (false), for A/B runs (default ${DEFAULT-VALUE})")
    boolean fastConv;

    @Override
    public Integer call() throws IOException {
        Map<String, String> childEnv = childEnv();
        String wantedPolicy = childEnv.get("OMP_WAIT_POLICY");
        if (wantedPolicy != null && (inProcess || workers != null || EpochBenchmark.STEP.equalsIgnoreCase(String.valueOf(step)))
                && !wantedPolicy.equalsIgnoreCase(String.valueOf(System.getenv("OMP_WAIT_POLICY")))) {
            System.out.println("[benchmark] note: running in this JVM, whose OMP_WAIT_POLICY is "
                    + (System.getenv("OMP_WAIT_POLICY") == null ? "unset" : System.getenv("OMP_WAIT_POLICY"))
                    + " (OpenMP reads it at start-up); on a busy machine export OMP_WAIT_POLICY=" + wantedPolicy + " first");
        }
        Tuning tuning = new Tuning(workspace, cache, helpers == null ? NativeHelpers.DEFAULT_ON : helpers, threads,
                fastBatchNorm, fastRelu, fastPooling, fastConv);
        if (workers != null && devices) {
            throw new UserError("--workers and --devices are separate benchmarks: pass one of them");
        }
        if (EpochBenchmark.STEP.equalsIgnoreCase(String.valueOf(step))) {
            return epochBenchmark(tuning);
        }
        if (workers != null) {
            Step s = step == null ? Step.FULL : Step.parse(step);
            WorkersBenchmark.Spec spec = new WorkersBenchmark.Spec(model == null ? "densenet" : model,
                    size == null ? 112 : size, batch, s, workers, batches, tuning);
            Path dir = outDir();
            WorkersBenchmark.run(spec, dir, System.out);
            System.out.println("[benchmark] wrote " + dir.resolve(WorkersBenchmark.JSON) + " and " + dir.resolve(WorkersBenchmark.PNG));
            return 0;
        }
        if (devices) {
            List<Step> st = steps == null ? List.of(Step.FORWARD, Step.FULL) : steps.stream().map(Step::parse).toList();
            if (step != null) {
                st = List.of(Step.parse(step));
            }
            List<String> ms = models != null ? models : List.of(model == null ? "densenet121" : model);
            DevicesBenchmark.Spec spec = new DevicesBenchmark.Spec(ms, size == null ? 128 : size, batch, st,
                    timing(10), tuning, !inProcess, childEnv);
            Path dir = outDir();
            DevicesBenchmark.run(spec, dir, System.out);
            System.out.println("[benchmark] wrote " + dir.resolve(DevicesBenchmark.JSON) + " and " + dir.resolve(DevicesBenchmark.PNG));
            return 0;
        }
        if (step != null) {
            if (model == null) {
                throw new UserError("--step runs one workload: pass --model too (vgg16, densenet121 or densenet)");
            }
            Workload w = new Workload(model, size == null ? 128 : size, batch, Step.parse(step));
            String wanted = childEnv.get("OMP_WAIT_POLICY");
            boolean fork = !inProcess && wanted != null && !wanted.equalsIgnoreCase(String.valueOf(System.getenv("OMP_WAIT_POLICY")));
            BenchResult r;
            if (fork) {
                // OpenMP reads OMP_WAIT_POLICY once, when the native library loads: only a new JVM can change it
                Path dir = Files.createTempDirectory("xraydl-benchmark");
                r = MatrixBenchmark.forkOne(w, timing(20), tuning, childEnv, dir);
                if (!r.ok()) {
                    throw new UserError(w.label() + " failed: " + r.error());
                }
            } else {
                r = Benchmark.run(w, timing(20), tuning);
            }
            System.out.printf(java.util.Locale.ROOT, "%s: %.2f img/s (%.1f ms/batch, %d iterations in %.1f s, load %.1f)%n",
                    w.label(), r.imgPerS(), r.msPerBatch(), r.iterations(), r.seconds(), r.loadAfter());
            System.out.println(BenchReport.jsonLine(r));
            if (json != null) {
                BenchReport.write(json, r);
            }
            return 0;
        }
        List<String> ms = models != null ? models : model != null ? List.of(model) : List.of("vgg16", "densenet121", "densenet");
        List<Integer> ss = sizes != null ? sizes : size != null ? List.of(size) : List.of(128, 224);
        List<Step> st = steps == null ? List.of(Step.values()) : steps.stream().map(Step::parse).toList();
        MatrixBenchmark.Spec spec = new MatrixBenchmark.Spec(ms, ss, st, batch, timing(10), tuning, !inProcess, childEnv);
        for (String m : ms) {
            new Workload(m, ss.get(0), batch, st.get(0)); // validate names before the long run
        }
        Path dir = outDir();
        List<BenchResult> results = MatrixBenchmark.run(spec, dir, System.out);
        System.out.println();
        System.out.print(BenchReport.table(results));
        System.out.println("[benchmark] wrote " + dir.resolve(MatrixBenchmark.JSON) + " and " + dir.resolve(MatrixBenchmark.PNG));
        return results.stream().allMatch(BenchResult::ok) ? 0 : 1;
    }

    private int epochBenchmark(Tuning tuning) throws IOException {
        if (data == null) {
            throw new UserError("--step epoch trains on real images: pass --data DIR (and --split runs/NAME/split.csv to reuse a partition)");
        }
        Map<String, Object> o = new java.util.LinkedHashMap<>();
        o.put("data", data);
        o.put("epochs", epochs);
        o.put("batchSize", batch);
        o.put("maxBatchesPerEpoch", maxBatches);
        o.put("model", model);
        if (model != null) {
            o.put("weights", "none"); // speed only: random initial weights, every layer training
        }
        o.put("imageSize", size);
        o.put("densenetGrowth", growth);
        o.put("densenetBlocks", blocks);
        o.put("densenetInitFeatures", initFeatures);
        o.put("loaderThreads", loaderThreads);
        o.put("decodeThreads", decodeThreads);
        o.put("evalBatchSize", evalBatch);
        Map<String, Object> doc = EpochBenchmark.run(new EpochBenchmark.Spec(config, o, split, tuning), System.out);
        String line = org.xraydl.config.ConfigLoader.JSON.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(doc);
        System.out.println(line);
        if (json != null) {
            org.xraydl.AtomicFiles.writeString(json, org.xraydl.config.ConfigLoader.JSON.writeValueAsString(doc));
        }
        return 0;
    }

    private Map<String, String> childEnv() {
        String p = ompWaitPolicy.toLowerCase(java.util.Locale.ROOT);
        return switch (p) {
            case "inherit" -> Map.of();
            case "passive", "active" -> Map.of("OMP_WAIT_POLICY", p.toUpperCase(java.util.Locale.ROOT));
            default -> throw new UserError("--omp-wait-policy must be passive, active or inherit, got " + ompWaitPolicy);
        };
    }

    private Timing timing(double defaultSeconds) {
        return new Timing(seconds == null ? defaultSeconds : seconds, warmup, 1, maxIterations);
    }

    private Path outDir() throws IOException {
        Path dir = out != null ? out
                : Path.of("runs", "benchmark-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(dir);
        return dir;
    }
}
