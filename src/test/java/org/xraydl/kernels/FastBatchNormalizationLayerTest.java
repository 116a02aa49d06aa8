package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.executioner.OpExecutioner;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.profiler.OpProfiler;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastBatchNormalizationLayer} against DL4J's BatchNormalization layer, both with DL4J's own
 * oneDNN helper (the {@code xraydl.fastBatchNorm=false} path) and with {@link FastBatchNormHelper}:
 * the same activations, epsilon, gamma/beta gradients and global mean / variance / log10-std
 * "gradients", also against a double-precision reference (the fast layer on oneDNN's element-wise primitives,
 * {@link DirectEltwise}, the default); the same training (Adam) in a small graph; 12 ND4J op calls per layer and
 * training step on ND4J's ops alone, 6 with oneDNN's; in inference the same output from the global statistics in 2
 * op calls (none with oneDNN's); DL4J's code for NHWC and large (batch or global) means.
 */
@ExtendWith(NativeHelpersOn.class)
class FastBatchNormalizationLayerTest {
    private static final int N = FastBatchNormHelperTest.N;
    private static final int C = FastBatchNormHelperTest.C;
    private static final int H = FastBatchNormHelperTest.H;
    private static final int W = FastBatchNormHelperTest.W;
    private static final double EPS = FastBatchNormHelperTest.EPS;
    private static final double DECAY = 0.7;
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();
    private static final List<String> OTHER_LEVERS = List.of(FastLayers.FAST_RELU_PROPERTY,
            FastLayers.FAST_POOLING_PROPERTY, FastLayers.FAST_CONV_PROPERTY, FastLayers.FAST_MERGE_PROPERTY);


    @AfterEach
    void clear() {
        OTHER_LEVERS.forEach(System::clearProperty);
        System.clearProperty(FastLayers.FAST_BATCH_NORM_PROPERTY);
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
    }

    // ---------------------------------------------------------------- single layer

    private enum Kind { DL4J_HELPER, FAST_HELPER, FAST_LAYER }

    /** A stand-alone batch-norm layer over given parameters (copied), with its own gradient array. */
    private static BatchNormalization layer(Kind kind, boolean useLogStd, CNN2DFormat format, INDArray params) {
        org.deeplearning4j.nn.conf.layers.BatchNormalization bn = new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder()
                .nIn(C).nOut(C).eps(EPS).decay(DECAY).useLogStd(useLogStd).dataFormat(format).build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).layer(bn).build();
        INDArray p = params.dup();
        BatchNormalization dl4j = (BatchNormalization) bn.instantiate(conf, List.of(), 0, p, false, DataType.FLOAT);
        INDArray grads = Nd4j.zeros(DataType.FLOAT, p.shape());
        dl4j.setBackpropGradientsViewArray(grads);
        BatchNormalization out = dl4j;
        if (kind == Kind.FAST_LAYER) {
            out = new FastBatchNormalizationLayer(conf, DataType.FLOAT);
            out.setParamsViewArray(p);
            out.setParamTable(dl4j.paramTable());
            out.setBackpropGradientsViewArray(grads);
        }
        assertEquals("MKLDNNBatchNormHelper", out.getHelper().getClass().getSimpleName());
        if (kind != Kind.DL4J_HELPER) {
            try {
                Dl4jHooks.standard().batchNormHelper().orElseThrow().set(out, new FastBatchNormHelper(DataType.FLOAT));
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            }
        }
        return out;
    }

    /** gamma, beta, global mean, global variance or log10 std: away from their initial 1, 0, 0, 1 (0). */
    private static INDArray params(boolean useLogStd) {
        Nd4j.getRandom().setSeed(3);
        INDArray gamma = Nd4j.rand(DataType.FLOAT, 1, C).addi(0.5);
        INDArray beta = Nd4j.rand(DataType.FLOAT, 1, C).subi(0.5);
        INDArray mean = Nd4j.randn(DataType.FLOAT, 1, C).muli(0.3);
        INDArray var = Nd4j.rand(DataType.FLOAT, 1, C).addi(0.5);
        INDArray last = useLogStd ? Nd4j.createFromArray(log10Std(var.toFloatVector())).reshape(1, C) : var;
        return Nd4j.hstack(gamma, beta, mean, last);
    }

    private static float[] log10Std(float[] var) {
        float[] out = new float[var.length];
        for (int i = 0; i < var.length; i++) {
            out[i] = (float) (0.5 * Math.log10(var[i]));
        }
        return out;
    }

    /** One training-mode forward and backward pass: output, epsilon, and the gradient of each parameter. */
    record Step(INDArray out, INDArray dx, Map<String, INDArray> grads) {
    }

    private static Step step(BatchNormalization l, INDArray x, INDArray dy, boolean training) {
        l.setInput(x, NO_WS);
        INDArray out = l.activate(training, NO_WS).dup();
        if (!training) {
            return new Step(out, null, Map.of());
        }
        Pair<Gradient, INDArray> g = l.backpropGradient(dy, NO_WS);
        Map<String, INDArray> grads = new java.util.TreeMap<>();
        g.getFirst().gradientForVariable().forEach((k, v) -> grads.put(k, v.dup()));
        return new Step(out, g.getSecond().dup(), grads);
    }

    private static INDArray input(double offset) {
        Nd4j.getRandom().setSeed(42);
        return Nd4j.randn(DataType.FLOAT, N, C, H, W).muli(2).addi(offset);
    }

    private static INDArray gradient() {
        Nd4j.getRandom().setSeed(43);
        return Nd4j.randn(DataType.FLOAT, N, C, H, W).muli(0.01).addi(0.004);
    }

    private static double maxRelDiff(INDArray expected, INDArray actual) {
        INDArray e = expected.castTo(DataType.DOUBLE);
        double scale = e.amaxNumber().doubleValue();
        return e.sub(actual.castTo(DataType.DOUBLE)).amaxNumber().doubleValue() / scale;
    }

    @ParameterizedTest(name = "useLogStd {0}")
    @ValueSource(booleans = {true, false})
    void sameValuesAsDl4jsLayerAndADoublePrecisionReference(boolean useLogStd) {
        INDArray params = params(useLogStd);
        INDArray x = input(0.5);
        INDArray dy = gradient();
        Step fast = step(layer(Kind.FAST_LAYER, useLogStd, CNN2DFormat.NCHW, params), x, dy, true);
        Step helper = step(layer(Kind.FAST_HELPER, useLogStd, CNN2DFormat.NCHW, params), x, dy, true);
        Step dl4j = step(layer(Kind.DL4J_HELPER, useLogStd, CNN2DFormat.NCHW, params), x, dy, true);
        String stat = useLogStd ? "log10stdev" : "var";
        assertEquals(new java.util.TreeSet<>(List.of("beta", "gamma", "mean", stat)), fast.grads().keySet());
        assertEquals(helper.grads().keySet(), fast.grads().keySet());

        // double-precision reference, computed here from the inputs alone
        float[] g = params.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(0, C)).toFloatVector();
        float[] b = params.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(C, 2 * C)).toFloatVector();
        float[] gm = params.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(2 * C, 3 * C)).toFloatVector();
        float[] last = params.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(3 * C, 4 * C)).toFloatVector();
        FastBatchNormHelperTest.Reference ref = FastBatchNormHelperTest.Reference.of(x.data().asFloat(), dy.data().asFloat(), g, b);
        double[] dMean = new double[C];
        double[] dStat = new double[C];
        for (int c = 0; c < C; c++) {
            dMean[c] = (gm[c] - ref.mean()[c]) * (1 - DECAY); // the no-op updater subtracts it: mean <- decay*mean + (1-decay)*batch
            if (useLogStd) {
                double var = Math.pow(10, 2.0 * last[c]);
                dStat[c] = 0.5 * Math.log10(var / (DECAY * var + (1 - DECAY) * ref.var()[c])); // log10std <- log10(sqrt(new var))
            } else {
                dStat[c] = (last[c] - ref.var()[c]) * (1 - DECAY);
            }
        }
        Map<String, double[]> expected = Map.of("out", ref.out(), "dx", ref.dx(), "gamma", ref.dGamma(), "beta", ref.dBeta(),
                "mean", dMean, stat, dStat);
        Map<String, INDArray> actualFast = values(fast, stat);
        Map<String, INDArray> actualHelper = values(helper, stat);
        Map<String, INDArray> actualDl4j = values(dl4j, stat);
        for (String k : expected.keySet()) {
            double vsRef = FastBatchNormHelperTest.maxRelErr(actualFast.get(k).dup().data().asFloat(), expected.get(k));
            double vsHelper = maxRelDiff(actualHelper.get(k), actualFast.get(k));
            double vsDl4j = maxRelDiff(actualDl4j.get(k), actualFast.get(k));
            System.out.printf("[batch-norm layer, logStd %s] %-10s rel. diff vs double %.2e, vs DL4J+FastBatchNormHelper %.2e, vs DL4J+oneDNN %.2e%n",
                    useLogStd, k, vsRef, vsHelper, vsDl4j);
            assertTrue(vsRef < 2e-5, k + " vs double reference: " + vsRef);
            // same arithmetic as DL4J with FastBatchNormHelper except the row sums (Dot with ones, not Sum): float rounding
            assertTrue(vsHelper < 2e-6, k + " vs DL4J with FastBatchNormHelper: " + vsHelper);
            assertTrue(vsDl4j < 2e-5, k + " vs DL4J with its oneDNN helper: " + vsDl4j);
        }
    }

    private static Map<String, INDArray> values(Step s, String stat) {
        return Map.of("out", s.out(), "dx", s.dx(), "gamma", s.grads().get("gamma"), "beta", s.grads().get("beta"),
                "mean", s.grads().get("mean"), stat, s.grads().get(stat));
    }

    /** ND4J op calls of one training-mode forward and backward pass of a stand-alone layer (after a warm-up pass). */
    private static long layerOpCallsPerStep(Kind kind) {
        return layerOpCallsPerStep(kind, true);
    }

    /** The same, the fast layer with or without oneDNN's element-wise primitives ({@link DirectEltwise}). */
    private static long layerOpCallsPerStep(Kind kind, boolean directEltwise) {
        INDArray params = params(true);
        INDArray x = input(0.5);
        INDArray dy = gradient();
        BatchNormalization l = layer(kind, true, CNN2DFormat.NCHW, params);
        if (!directEltwise) {
            ((FastBatchNormalizationLayer) l).useDirectEltwise(null);
        }
        Runnable step = () -> {
            l.setInput(x, NO_WS);
            l.activate(true, NO_WS);
            l.backpropGradient(dy, NO_WS);
        };
        step.run(); // warm-up: per-layer arrays, the shared ones
        return opCalls(step);
    }

    @Test
    void twelveOpCallsPerTrainingStepOrSixWithOneDnnAgainstDl4jsTwentyOdd() {
        long fastOps = layerOpCallsPerStep(Kind.FAST_LAYER, false);
        long before = DirectEltwise.calls();
        long directOps = layerOpCallsPerStep(Kind.FAST_LAYER, true);
        long directCalls = DirectEltwise.calls() - before;
        long helperOps = layerOpCallsPerStep(Kind.FAST_HELPER);
        long dl4jOps = layerOpCallsPerStep(Kind.DL4J_HELPER);
        System.out.printf("[batch-norm layer] op calls per training step: fast layer %d (with oneDNN's element-wise primitives:"
                + " %d + %d oneDNN calls in two steps), DL4J layer + FastBatchNormHelper %d, DL4J layer + oneDNN helper %d%n",
                fastOps, directOps, directCalls, helperOps, dl4jOps);
        // forward: gemv (row sums) + x*x + gemv (sums of squares) + per-row scale + per-row shift;
        // backward: gemv (sum(dy)) + dy*x + gemv (sum(dy*x)) + 2 per-row scales + add + per-row shift.
        // Nothing else is an op.
        assertEquals(12, fastOps, "fast layer on ND4J's ops");
        // the scale and shift one oneDNN call, the four backward passes another (warm-up and counted step: 4)
        assertEquals(6, directOps, "fast layer with oneDNN's element-wise primitives: the reductions only");
        assertEquals(4, directCalls, "oneDNN calls: forward and backward, in the warm-up and the counted step");
        // DL4J's layer adds ~3 ops forward (log10 std -> variance) and ~12 backward (global statistics)
        assertTrue(helperOps >= 25, "DL4J's layer with FastBatchNormHelper: " + helperOps);
        assertTrue(dl4jOps > fastOps, "DL4J's layer with its oneDNN helper: " + dl4jOps);
    }

    /** ND4J op calls (OpProfiler invocations) while {@code r} runs. */
    private static long opCalls(Runnable r) {
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.OPERATIONS);
        OpProfiler.getInstance().reset();
        r.run();
        long n = OpProfiler.getInstance().getInvocationsCount();
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
        return n;
    }

    // ---------------------------------------------------------------- inference

    /**
     * Parameters after three training steps of DL4J's own layer (oneDNN helper) on shifted inputs: the global
     * statistics "gradients" subtracted as DL4J's no-op updater does, gamma and beta moved by plain SGD.
     */
    private static INDArray trainedParams(boolean useLogStd) {
        BatchNormalization l = layer(Kind.DL4J_HELPER, useLogStd, CNN2DFormat.NCHW, params(useLogStd));
        for (int i = 0; i < 3; i++) {
            l.setInput(input(0.4 * i - 0.3), NO_WS);
            l.activate(true, NO_WS);
            Gradient g = l.backpropGradient(gradient(), NO_WS).getFirst();
            for (Map.Entry<String, INDArray> e : g.gradientForVariable().entrySet()) {
                boolean stat = e.getKey().equals("mean") || e.getKey().equals("var") || e.getKey().equals("log10stdev");
                l.getParam(e.getKey()).subi(stat ? e.getValue() : e.getValue().mul(0.5));
            }
        }
        return l.params().dup();
    }

    private static float[] part(INDArray params, int index) {
        return params.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(index * C, (index + 1) * C)).toFloatVector();
    }

    /** y = gamma * (x - mean) / sqrt(var + eps) + beta in double, var = 10^(2 log10std) with the log-std form. */
    private static double[] inferenceReference(INDArray params, boolean useLogStd, INDArray x) {
        float[] g = part(params, 0);
        float[] b = part(params, 1);
        float[] mean = part(params, 2);
        float[] last = part(params, 3);
        float[] in = x.dup('c').data().asFloat();
        double[] out = new double[in.length];
        long plane = (long) H * W;
        for (int i = 0; i < in.length; i++) {
            int c = (int) ((i / plane) % C);
            double var = useLogStd ? Math.pow(10.0, 2.0 * last[c]) : last[c];
            out[i] = g[c] * (in[i] - mean[c]) / Math.sqrt(var + EPS) + b[c];
        }
        return out;
    }

    @ParameterizedTest(name = "useLogStd {0}")
    @ValueSource(booleans = {true, false})
    void inferenceMatchesDl4jsLayerAndADoublePrecisionReference(boolean useLogStd) {
        INDArray params = trainedParams(useLogStd);
        INDArray initial = params(useLogStd);
        assertNotEquals(part(initial, 2)[0], part(params, 2)[0], "the global mean moved");
        assertNotEquals(part(initial, 3)[0], part(params, 3)[0], "the global variance / log10 std moved");
        INDArray x = input(0.5);
        INDArray fast = step(layer(Kind.FAST_LAYER, useLogStd, CNN2DFormat.NCHW, params), x, null, false).out();
        INDArray dl4j = step(layer(Kind.DL4J_HELPER, useLogStd, CNN2DFormat.NCHW, params), x, null, false).out();
        INDArray helper = step(layer(Kind.FAST_HELPER, useLogStd, CNN2DFormat.NCHW, params), x, null, false).out();
        double[] ref = inferenceReference(params, useLogStd, x);
        double vsRef = FastBatchNormHelperTest.maxRelErr(fast.data().asFloat(), ref);
        double dl4jVsRef = FastBatchNormHelperTest.maxRelErr(dl4j.data().asFloat(), ref);
        double vsDl4j = maxRelDiff(dl4j, fast);
        double vsHelper = maxRelDiff(helper, fast);
        System.out.printf("[batch-norm layer, inference, logStd %s] rel. diff vs double %.2e (DL4J+oneDNN vs double %.2e),"
                + " vs DL4J+oneDNN %.2e, vs DL4J+FastBatchNormHelper %.2e%n", useLogStd, vsRef, dl4jVsRef, vsDl4j, vsHelper);
        assertTrue(vsRef <= 1e-5, "vs double reference: " + vsRef);
        assertTrue(vsDl4j <= 1e-5, "vs DL4J with its oneDNN helper: " + vsDl4j);
        assertTrue(vsHelper <= 1e-5, "vs DL4J with FastBatchNormHelper: " + vsHelper);
    }

    /** ND4J op calls of one inference-mode forward pass of a stand-alone layer (after a warm-up pass). */
    private static long layerOpCallsPerInference(Kind kind, INDArray params) {
        return layerOpCallsPerInference(kind, params, true);
    }

    private static long layerOpCallsPerInference(Kind kind, INDArray params, boolean directEltwise) {
        INDArray x = input(0.5);
        BatchNormalization l = layer(kind, true, CNN2DFormat.NCHW, params);
        if (!directEltwise) {
            ((FastBatchNormalizationLayer) l).useDirectEltwise(null);
        }
        Runnable forward = () -> {
            l.setInput(x, NO_WS);
            l.activate(false, NO_WS);
        };
        forward.run(); // warm-up: per-layer arrays
        return opCalls(forward);
    }

    @Test
    void twoOpCallsPerInferenceForward() {
        INDArray params = trainedParams(true);
        long fastOps = layerOpCallsPerInference(Kind.FAST_LAYER, params, false);
        long before = DirectEltwise.calls();
        long directOps = layerOpCallsPerInference(Kind.FAST_LAYER, params, true);
        long directCalls = DirectEltwise.calls() - before;
        long helperOps = layerOpCallsPerInference(Kind.FAST_HELPER, params);
        long dl4jOps = layerOpCallsPerInference(Kind.DL4J_HELPER, params);
        System.out.printf("[batch-norm layer] op calls per inference forward: fast layer %d (with oneDNN's element-wise primitives:"
                + " %d + %d oneDNN calls in two passes), DL4J layer + FastBatchNormHelper %d, DL4J layer + oneDNN helper %d%n",
                fastOps, directOps, directCalls, helperOps, dl4jOps);
        assertEquals(2, fastOps, "fast layer on ND4J's ops: per-row scale and per-row shift");
        assertEquals(0, directOps, "fast layer with oneDNN's element-wise primitives: no ND4J op");
        assertEquals(2, directCalls, "one oneDNN call a pass (warm-up and counted)");
        assertTrue(dl4jOps > fastOps, "DL4J's layer with its oneDNN helper: " + dl4jOps);
    }

    @Test
    void inferenceWithALargeGlobalMeanRunsDl4jsCode() {
        INDArray params = trainedParams(true);
        // global mean 30 for one channel, global variance ~1: mean^2 / var >> MAX_MEAN2_OVER_VAR
        params.putScalar(0, 2 * C + 1, 30f);
        INDArray x = input(30);
        INDArray fast = step(layer(Kind.FAST_LAYER, true, CNN2DFormat.NCHW, params), x, null, false).out();
        INDArray viaDl4j = step(layer(Kind.FAST_HELPER, true, CNN2DFormat.NCHW, params), x, null, false).out();
        assertArrayEquals(viaDl4j.data().asFloat(), fast.data().asFloat(), "DL4J's values, bit for bit");
        long fastOps = layerOpCallsPerInference(Kind.FAST_LAYER, params);
        long dl4jOps = layerOpCallsPerInference(Kind.FAST_HELPER, params);
        System.out.printf("[batch-norm layer] large global mean: inference op calls fast layer %d, DL4J layer %d%n", fastOps, dl4jOps);
        assertEquals(dl4jOps, fastOps, "DL4J's op calls");
    }

    @Test
    void nhwcAndLargeMeansRunDl4jsCode() {
        INDArray params = params(true);
        INDArray x = input(0.5);
        INDArray dy = gradient();

        // NHWC: never replaced by FastLayers, and a replacement would still run DL4J's code
        INDArray nhwc = x.permute(0, 2, 3, 1).dup('c');
        INDArray dyNhwc = dy.permute(0, 2, 3, 1).dup('c');
        Step viaDl4j = step(layer(Kind.FAST_HELPER, true, CNN2DFormat.NHWC, params), nhwc, dyNhwc, true);
        Step viaFast = step(layer(Kind.FAST_LAYER, true, CNN2DFormat.NHWC, params), nhwc, dyNhwc, true);
        assertEquals(viaDl4j.out(), viaFast.out());
        assertEquals(viaDl4j.dx(), viaFast.dx());
        assertEquals(viaDl4j.grads(), viaFast.grads());
        assertTrue(!FastBatchNormalizationLayer.handles(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder()
                .nOut(C).dataFormat(CNN2DFormat.NHWC).build()));
        assertTrue(!FastBatchNormalizationLayer.handles(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder()
                .nOut(C).lockGammaBeta(true).build()));

        // a mean that dwarfs the spread: the helper's exact variance through DL4J's layer
        INDArray far = input(30);
        long before = FastBatchNormHelper.exactVarianceFallbacks();
        Step fast = step(layer(Kind.FAST_LAYER, true, CNN2DFormat.NCHW, params), far, dy, true);
        assertEquals(1, FastBatchNormHelper.exactVarianceFallbacks() - before, "the fast layer handed the batch to the helper's exact path");
        Step helper = step(layer(Kind.FAST_HELPER, true, CNN2DFormat.NCHW, params), far, dy, true);
        assertEquals(helper.out(), fast.out());
        assertEquals(helper.dx(), fast.dx());
        assertEquals(helper.grads(), fast.grads());
    }

    // ---------------------------------------------------------------- in a graph

    /**
     * A dense-block-like graph: stem conv, BN-ReLU-conv twice, concatenation with the stem, BN-ReLU, global
     * pooling. No convolution bias ahead of a batch norm (as in DenseNet): its gradient is zero in exact
     * arithmetic, and Adam turns the float noise there into full learning-rate steps of random sign.
     */
    private static ComputationGraph net(boolean useLogStd) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(10, 10, 2))
                .addLayer("stem", new ConvolutionLayer.Builder(3, 3).stride(2, 2).nOut(4).hasBias(false).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn1", bn(useLogStd), "stem")
                .addLayer("relu1", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn1")
                .addLayer("c1", new ConvolutionLayer.Builder(1, 1).nOut(6).hasBias(false).activation(Activation.IDENTITY).build(), "relu1")
                .addLayer("bn2", bn(useLogStd), "c1")
                .addLayer("relu2", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn2")
                .addLayer("c2", new ConvolutionLayer.Builder(3, 3).nOut(3).hasBias(false).activation(Activation.IDENTITY).build(), "relu2")
                .addVertex("cat", new MergeVertex(), "stem", "c2")
                .addLayer("bn3", bn(useLogStd), "cat")
                .addLayer("relu3", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn3")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "relu3")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    private static final int GRAPH_BN_LAYERS = 3;

    private static org.deeplearning4j.nn.conf.layers.BatchNormalization bn(boolean useLogStd) {
        return new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().decay(DECAY).useLogStd(useLogStd).build();
    }

    /** The graph with only the batch-norm lever on, through the given hooks ("layers" renamed: DL4J's layer + FastBatchNormHelper). */
    private static ComputationGraph engaged(ComputationGraph net, Dl4jHooks hooks, FastLayers.Engaged expected) {
        OTHER_LEVERS.forEach(p -> System.setProperty(p, "false"));
        assertEquals(expected, FastLayers.engage(net, hooks));
        return net;
    }

    private static Dl4jHooks withoutLayerArray() {
        return new Dl4jHooks((owner, name) -> owner.getDeclaredField(name.equals("layers") ? "layersRenamed" : name));
    }

    @ParameterizedTest(name = "useLogStd {0}")
    @ValueSource(booleans = {true, false})
    void trainsLikeDl4jsBatchNormInADenseBlock(boolean useLogStd) {
        ComputationGraph dl4j = net(useLogStd);
        ComputationGraph helper = engaged(dl4j.clone(), withoutLayerArray(), new FastLayers.Engaged(GRAPH_BN_LAYERS, 0, 0, 0, 0, 0));
        ComputationGraph fast = engaged(dl4j.clone(), new Dl4jHooks(Class::getDeclaredField),
                new FastLayers.Engaged(GRAPH_BN_LAYERS, 0, 0, 0, GRAPH_BN_LAYERS, 0));
        assertEquals("ConvolutionLayer,FastBatchNormalizationLayer,ActivationLayer,ConvolutionLayer,FastBatchNormalizationLayer,"
                + "ActivationLayer,ConvolutionLayer,FastBatchNormalizationLayer,ActivationLayer,GlobalPoolingLayer,OutputLayer", KernelTestNets.layerClasses(fast));
        assertEquals("FastBatchNormHelper", fast.getLayer("bn3").getHelper().getClass().getSimpleName());
        assertEquals("MKLDNNBatchNormHelper", dl4j.getLayer("bn3").getHelper().getClass().getSimpleName());
        assertEquals(dl4j.params(), fast.params());

        DataSet data = KernelTestNets.batch();
        for (int i = 0; i < 5; i++) {
            dl4j.fit(data);
            helper.fit(data);
            fast.fit(data);
        }
        String stat = useLogStd ? "log10stdev" : "var";
        INDArray initialStat = net(useLogStd).getLayer("bn3").getParam(stat);
        assertNotEquals(initialStat, fast.getLayer("bn3").getParam(stat), "the global statistics moved");
        for (ComputationGraph other : List.of(helper, dl4j)) {
            // float rounding only: the row sums are BLAS gemv here (its own summation order), Sum and Dot
            // reductions in the helper; 1.2e-6 measured on the log10 std after 5 steps
            double tol = other == helper ? 2e-6 : 1e-5;
            String what = other == helper ? "DL4J + FastBatchNormHelper" : "DL4J + oneDNN helper";
            for (String layer : List.of("stem", "c1", "c2", "out")) {
                assertClose(other.getLayer(layer).params(), fast.getLayer(layer).params(), tol, layer + " vs " + what);
            }
            assertClose(other.params(), fast.params(), tol, "parameters vs " + what);
            for (String layer : List.of("bn1", "bn2", "bn3")) {
                for (String p : List.of("mean", stat, "gamma", "beta")) {
                    assertClose(other.getLayer(layer).getParam(p), fast.getLayer(layer).getParam(p), tol, layer + "/" + p + " vs " + what);
                }
            }
            assertClose(other.getUpdater().getStateViewArray(), fast.getUpdater().getStateViewArray(), tol, "Adam state vs " + what);
            assertClose(other.outputSingle(data.getFeatures()), fast.outputSingle(data.getFeatures()), tol, "inference output vs " + what);
            assertClose(other.outputSingle(true, data.getFeatures()), fast.outputSingle(true, data.getFeatures()), tol, "training output vs " + what);
        }
    }

    private static void assertClose(INDArray expected, INDArray actual, double rtol, String what) {
        double diff = maxRelDiff(expected, actual);
        System.out.printf("[batch-norm graph] %-50s max rel. diff %.2e%n", what, diff);
        assertTrue(diff <= rtol, what + ": max |diff| / max |value| = " + diff);
    }

    @Test
    void opCallsPerTrainingStepOfAGraph() {
        DataSet data = KernelTestNets.batch();
        ComputationGraph dl4j = net(true);
        ComputationGraph helper = engaged(net(true), withoutLayerArray(), new FastLayers.Engaged(GRAPH_BN_LAYERS, 0, 0, 0, 0, 0));
        ComputationGraph fast = engaged(net(true), new Dl4jHooks(Class::getDeclaredField),
                new FastLayers.Engaged(GRAPH_BN_LAYERS, 0, 0, 0, GRAPH_BN_LAYERS, 0));
        for (ComputationGraph net : List.of(dl4j, helper, fast)) {
            net.fit(data); // warm-up
        }
        long dl4jOps = opCalls(() -> dl4j.fit(data));
        long helperOps = opCalls(() -> helper.fit(data));
        long fastOps = opCalls(() -> fast.fit(data));
        System.out.printf("[batch-norm graph] op calls per step with %d BN layers: DL4J+oneDNN %d, DL4J+FastBatchNormHelper %d, fast layer %d%n",
                GRAPH_BN_LAYERS, dl4jOps, helperOps, fastOps);
        // The graphs differ only in their batch-norm layer objects, whose op calls per step do not depend on the
        // shapes: the fast graph's batch-norm share is what is left after taking DL4J's layers out of the other graph.
        long helperLayer = layerOpCallsPerStep(Kind.FAST_HELPER);
        long dl4jLayer = layerOpCallsPerStep(Kind.DL4J_HELPER);
        long rest = helperOps - GRAPH_BN_LAYERS * helperLayer;
        assertEquals(rest, dl4jOps - GRAPH_BN_LAYERS * dl4jLayer, "the same non-batch-norm op calls in both DL4J graphs");
        long bnShare = fastOps - rest;
        System.out.printf("[batch-norm graph] batch-norm op calls per step: fast %d (%d per layer), DL4J+FastBatchNormHelper %d,"
                + " DL4J+oneDNN %d%n", bnShare, bnShare / GRAPH_BN_LAYERS, GRAPH_BN_LAYERS * helperLayer, GRAPH_BN_LAYERS * dl4jLayer);
        assertTrue(bnShare <= 12L * GRAPH_BN_LAYERS, "at most 12 op calls per batch-norm layer and step: " + bnShare);
        assertTrue(fastOps < dl4jOps, "fewer op calls than DL4J with its oneDNN helper");
    }
}
