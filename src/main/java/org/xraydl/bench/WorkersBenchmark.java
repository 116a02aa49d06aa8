package org.xraydl.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.train.EpochData;
import org.xraydl.train.LocalEngine;
import org.xraydl.train.ParallelWrapperEngine;
import org.xraydl.train.TrainingEngine;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Training time of one epoch against the number of workers, 1..N (the paper's figures 25-27 and 30,
 * which scale over GPUs): 1 = plain {@code fit()} ({@link LocalEngine}, what the trainer uses), N > 1 =
 * {@link ParallelWrapperEngine} with N replicas, parameters averaged every iteration. On the CPU
 * backend the workers share the machine's cores; with CUDA, ParallelWrapper puts replicas on the GPUs.
 */
public final class WorkersBenchmark {
    public static final String JSON = "workers.json";
    public static final String PNG = "workers.png";

    public record Spec(String model, int size, int batch, Step step, int maxWorkers, int batches, Tuning tuning) {
        public Spec {
            if (step != Step.FULL && step != Step.HEAD) {
                throw new UserError("the workers benchmark trains: --step must be full or head, got " + step.id());
            }
            if (maxWorkers < 1) {
                throw new UserError("--workers must be at least 1, got " + maxWorkers);
            }
            if (batches < 1) {
                throw new UserError("--batches must be at least 1, got " + batches);
            }
        }
    }

    public record Point(@JsonProperty("workers") int workers, @JsonProperty("engine") String engine,
                        @JsonProperty("seconds_per_epoch") double secondsPerEpoch,
                        @JsonProperty("img_per_s") double imgPerS, @JsonProperty("speedup") double speedup,
                        @JsonProperty("images") long images, @JsonProperty("load_average") double loadAverage) {
    }

    private WorkersBenchmark() {
    }

    public static List<Point> run(Spec spec, Path outDir, PrintStream log) {
        spec.tuning().applyGlobal();
        Workload w = new Workload(spec.model(), spec.size(), spec.batch(), spec.step());
        List<DataSet> data = data(spec);
        List<Point> points = new ArrayList<>();
        for (int n = 1; n <= spec.maxWorkers(); n++) {
            log.printf(Locale.ROOT, "[benchmark] %s, %d worker(s) ... ", w.label(), n);
            log.flush();
            ComputationGraph net = BenchNets.build(w, Benchmark.SEED);
            spec.tuning().applyTo(net);
            RunConfig config = BenchNets.config(w, Benchmark.SEED);
            double seconds;
            String engineName;
            try (TrainingEngine engine = n == 1 ? new LocalEngine()
                    : new ParallelWrapperEngine(n)) {
                engineName = engine.name();
                engine.start(net, List.of());
                // warm-up: one batch per worker (JIT, workspaces, replicas)
                engine.fitEpoch(net, epoch(0, config, data.subList(0, Math.min(n, data.size()))));
                long t0 = System.nanoTime();
                engine.fitEpoch(net, epoch(1, config, data));
                seconds = (System.nanoTime() - t0) / 1e9;
            }
            long images = (long) spec.batches() * spec.batch();
            double speedup = points.isEmpty() ? 1.0 : points.get(0).secondsPerEpoch() / seconds;
            Point p = new Point(n, engineName, seconds, images / seconds, speedup, images, Benchmark.loadAverage());
            points.add(p);
            log.printf(Locale.ROOT, "%.2f s/epoch, %.2f img/s, speed-up %.2f%n", p.secondsPerEpoch(), p.imgPerS(), p.speedup());
            write(spec, points, outDir);
        }
        return points;
    }

    static void write(Spec spec, List<Point> points, Path outDir) {
        Map<String, Object> doc = BenchReport.host();
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("model", spec.model());
        s.put("size", spec.size());
        s.put("batch", spec.batch());
        s.put("step", spec.step().id());
        s.put("batches_per_epoch", spec.batches());
        s.put("max_workers", spec.maxWorkers());
        s.put("training_mode", "AVERAGING, averagingFrequency 1 (workers > 1); plain fit() for 1 worker");
        s.put("tuning", spec.tuning());
        doc.put("workers_benchmark", s);
        doc.put("points", points);
        BenchReport.write(outDir.resolve(JSON), doc);
        BenchCharts.workers(points, String.format(Locale.ROOT, "Training time vs workers: %s %d px, batch %d, %d batches/epoch (%s)",
                spec.model(), spec.size(), spec.batch(), spec.batches(), Benchmark.backend()), outDir.resolve(PNG));
    }

    private static EpochData epoch(int e, RunConfig c, List<DataSet> batches) {
        return new EpochData(e, List.of(), null, c, () -> new ExistingDataSetIterator(batches));
    }

    private static List<DataSet> data(Spec spec) {
        Nd4j.getRandom().setSeed(Benchmark.SEED);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < spec.batches(); b++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, spec.batch(), 3, spec.size(), spec.size());
            INDArray y = Nd4j.zeros(DataType.FLOAT, spec.batch(), BenchNets.NUM_CLASSES);
            for (int i = 0; i < spec.batch(); i++) {
                y.putScalar(i, (i + b) % BenchNets.NUM_CLASSES, 1.0);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }
}
