package org.xraydl.bench;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.TransferLearningHelper;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.profiler.OpProfiler;
import org.xraydl.Versions;
import org.xraydl.kernels.FastBatchNormHelper;
import org.xraydl.kernels.FastBatchNormalizationLayer;
import org.xraydl.kernels.HelperReport;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Times one {@link Workload}: build, warm up, then a timed loop; random float32 input, NCHW. */
public final class Benchmark {
    public static final String ENGINE = "dl4j " + Versions.dl4j();
    public static final long SEED = 0;

    private Benchmark() {
    }

    public static BenchResult run(Workload w, Timing t, Tuning tuning) {
        tuning.applyGlobal();
        double loadBefore = loadAverage();
        long b0 = System.nanoTime();
        ComputationGraph net = BenchNets.build(w, SEED);
        tuning.applyTo(net);
        Runnable step = step(net, w);
        double buildSeconds = (System.nanoTime() - b0) / 1e9;

        long w0 = System.nanoTime();
        for (int i = 0; i < t.warmup(); i++) {
            step.run();
        }
        double warmupSeconds = (System.nanoTime() - w0) / 1e9;

        List<Long> times = new ArrayList<>();
        long start = System.nanoTime();
        long deadline = start + (long) (t.seconds() * 1e9);
        while (times.size() < t.minIterations()
                || (System.nanoTime() < deadline && (t.maxIterations() <= 0 || times.size() < t.maxIterations()))) {
            long s = System.nanoTime();
            step.run();
            times.add(System.nanoTime() - s);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        int n = times.size();
        long images = (long) n * w.batch();
        Map<String, Object> settings = tuning.describe();
        settings.put("layer_helpers_engaged", HelperReport.summary(net));
        settings.put("batch_norm_exact_variance_calls", FastBatchNormHelper.exactVarianceFallbacks());
        settings.put("batch_norm_shared_statistics_calls", FastBatchNormalizationLayer.sharedStatistics());
        settings.put("nd4j_op_calls_per_iteration", opCallsOfOneIteration(step)); // after the timing: profiling slows ops
        // memory the kept blocked convolution inputs take (0 when switched off or never trained) and how often backprop read them
        settings.put("conv_kept_input_mb", Math.round(org.xraydl.kernels.FastLayers.keptBlockedInputBytes() / 1e5) / 10.0);
        long[] keptUses = org.xraydl.kernels.FastLayers.keptBlockedInputUses();
        settings.put("conv_kept_input_reused_missed", keptUses[0] + "/" + keptUses[1]);
        BenchResult r = new BenchResult(ENGINE, backend(), w.model(), w.size(), w.batch(), w.step().id(),
                ((Number) settings.get("threads")).intValue(), images / seconds, 1000 * seconds / n,
                median(times) / 1e6, n, images, seconds, t.warmup(), warmupSeconds, buildSeconds, net.numParams(),
                loadBefore, loadAverage(), settings, null);
        return r;
    }

    /**
     * ND4J op calls of one more, untimed iteration, counted by ND4J's own op profiler: each call costs
     * tens of microseconds of serial overhead besides its compute, so this count explains much of the
     * gap between small-layer networks here and in PyTorch (docs/benchmark/README.md).
     */
    static long opCallsOfOneIteration(Runnable step) {
        OpExecutioner executioner = Nd4j.getExecutioner();
        OpExecutioner.ProfilingMode before = executioner.getProfilingMode();
        executioner.setProfilingMode(OpExecutioner.ProfilingMode.OPERATIONS);
        OpProfiler.getInstance().reset();
        try {
            step.run();
            return OpProfiler.getInstance().getInvocationsCount();
        } finally {
            executioner.setProfilingMode(before);
            OpProfiler.getInstance().reset();
        }
    }

    /** The work of one iteration on {@code net}; input and labels are made once, outside the timed loop. */
    static Runnable step(ComputationGraph net, Workload w) {
        Nd4j.getRandom().setSeed(SEED);
        INDArray x = Nd4j.rand(DataType.FLOAT, w.batch(), 3, w.size(), w.size());
        INDArray y = Nd4j.zeros(DataType.FLOAT, w.batch(), BenchNets.NUM_CLASSES);
        for (int i = 0; i < w.batch(); i++) {
            y.putScalar(i, i % BenchNets.NUM_CLASSES, 1.0);
        }
        DataSet ds = new DataSet(x, y);
        return switch (w.step()) {
            case FORWARD -> () -> {
                net.output(false, x);
                sync();
            };
            case HEAD, FULL -> () -> {
                net.fit(ds);
                sync();
            };
            case FEATURIZE -> {
                TransferLearningHelper helper = new TransferLearningHelper(net);
                yield () -> {
                    helper.featurize(ds);
                    sync();
                };
            }
        };
    }

    private static void sync() {
        Nd4j.getExecutioner().commit(); // a no-op on CPU; waits for queued kernels on CUDA
    }

    public static String backend() {
        return String.valueOf(Nd4j.getExecutioner().getEnvironmentInformation().getProperty("backend"));
    }

    public static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    static double median(List<Long> xs) {
        long[] a = xs.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(a);
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2.0;
    }
}
