package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastBatchNormalizationLayer} and {@link FastReluLayer} with their element-wise passes on oneDNN's primitives
 * ({@link DirectEltwise}) against the same layers on ND4J's ops: training forward and backward, inference, batches of
 * 1 and more, channels that are not multiples of 8, batch sizes changing from call to call, a gradient that is not
 * dense (ND4J's ops run it), an instance that declines every shape, a layer run on another thread than the one that
 * built its plans; the switch. The values against double-precision references: {@link DirectEltwiseTest},
 * {@link FastBatchNormalizationLayerTest} (which runs the oneDNN path, the default).
 */
class DirectEltwiseLayersTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    /** (N, C, H, W). */
    static List<long[]> shapes() {
        return List.of(new long[]{1, 5, 9, 7}, new long[]{4, 13, 6, 6}, new long[]{3, 24, 5, 5});
    }

    @BeforeAll
    static void helpersOn() {
        NativeHelpers.configure(true);
        assertTrue(OneDnn.available(), "oneDNN's Java bindings load here");
    }

    @AfterAll
    static void restoreDefault() {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
    }

    @AfterEach
    void clearProperty() {
        System.clearProperty(FastLayers.DIRECT_ELTWISE_PROPERTY);
    }

    // ---------------------------------------------------------------- batch norm

    /** A stand-alone fast batch-norm layer over a copy of {@code params}, with a FastBatchNormHelper, on the given primitives. */
    private static FastBatchNormalizationLayer batchNorm(int c, INDArray params, DirectEltwise direct) {
        org.deeplearning4j.nn.conf.layers.BatchNormalization bn = new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder()
                .nIn(c).nOut(c).eps(1e-5).decay(0.9).build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).layer(bn).build();
        INDArray p = params.dup();
        BatchNormalization dl4j = (BatchNormalization) bn.instantiate(conf, List.of(), 0, p, false, DataType.FLOAT);
        FastBatchNormalizationLayer out = new FastBatchNormalizationLayer(conf, DataType.FLOAT);
        assertTrue(out.usesDirectEltwise(), "made with oneDNN's primitives by default");
        out.setParamsViewArray(p);
        out.setParamTable(dl4j.paramTable());
        out.setBackpropGradientsViewArray(Nd4j.zeros(DataType.FLOAT, p.shape()));
        try {
            Dl4jHooks.standard().batchNormHelper().orElseThrow().set(out, new FastBatchNormHelper(DataType.FLOAT));
        } catch (IllegalAccessException e) {
            throw new AssertionError(e);
        }
        out.useDirectEltwise(direct);
        return out;
    }

    private static INDArray params(int c) {
        Nd4j.getRandom().setSeed(3);
        return Nd4j.hstack(Nd4j.rand(DataType.FLOAT, 1, c).addi(0.5), Nd4j.rand(DataType.FLOAT, 1, c).subi(0.5),
                Nd4j.randn(DataType.FLOAT, 1, c).muli(0.3), Nd4j.rand(DataType.FLOAT, 1, c).addi(0.5));
    }

    private static INDArray randn(long seed, double scale, double offset, long... shape) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.randn(DataType.FLOAT, shape).muli(scale).addi(offset);
    }

    /** Training forward and backward, then an inference forward pass: every output and gradient, copied. */
    private static Map<String, INDArray> trainAndInfer(BatchNormalization l, INDArray x, INDArray dy) {
        Map<String, INDArray> out = new TreeMap<>();
        l.setInput(x, NO_WS);
        out.put("out", l.activate(true, NO_WS).dup());
        Pair<Gradient, INDArray> g = l.backpropGradient(dy, NO_WS);
        out.put("dx", g.getSecond().dup());
        g.getFirst().gradientForVariable().forEach((k, v) -> out.put("d" + k, v.dup()));
        l.setInput(x, NO_WS);
        out.put("inference", l.activate(false, NO_WS).dup());
        return out;
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void batchNormOnOneDnnGivesTheNd4jPathsValues(long[] shape) {
        int c = (int) shape[1];
        INDArray params = params(c);
        INDArray x = randn(42, 2, 0.5, shape);
        INDArray dy = randn(43, 0.01, 0.004, shape);
        long before = DirectEltwise.calls();
        Map<String, INDArray> direct = trainAndInfer(batchNorm(c, params, DirectEltwise.createIfAvailable()), x, dy);
        assertEquals(3, DirectEltwise.calls() - before, "training forward, backward and inference forward on oneDNN");
        Map<String, INDArray> nd4j = trainAndInfer(batchNorm(c, params, null), x, dy);
        assertEquals(3, DirectEltwise.calls() - before, "none on the ND4J path");
        assertEquals(nd4j.keySet(), direct.keySet());
        for (String k : nd4j.keySet()) {
            int differing = DirectEltwiseTest.differingBits(nd4j.get(k), direct.get(k));
            System.out.printf("[direct eltwise layers] batch norm %s %-10s elements differing from the ND4J path: %d%n",
                    java.util.Arrays.toString(shape), k, differing);
            DirectEltwiseTest.assertClose(nd4j.get(k), direct.get(k), 1e-6);
        }
    }

    @Test
    void batchNormWithChangingBatchSizesAndADecliningInstance() {
        int c = 7;
        INDArray params = params(c);
        DirectEltwise direct = DirectEltwise.createIfAvailable();
        FastBatchNormalizationLayer onOneDnn = batchNorm(c, params, direct);
        FastBatchNormalizationLayer declining = batchNorm(c, params, DirectEltwise.decliningForTests());
        FastBatchNormalizationLayer nd4j = batchNorm(c, params, null);
        for (int n : new int[]{3, 1, 5, 3}) {
            INDArray x = randn(50 + n, 1.5, -0.2, n, c, 4, 6);
            INDArray dy = randn(60 + n, 0.02, 0.001, n, c, 4, 6);
            long before = DirectEltwise.calls();
            Map<String, INDArray> ref = trainAndInfer(nd4j, x, dy);
            Map<String, INDArray> fellBack = trainAndInfer(declining, x, dy);
            assertEquals(before, DirectEltwise.calls(), "a declined shape runs ND4J's ops");
            assertEquals(ref, fellBack);
            for (Map.Entry<String, INDArray> e : ref.entrySet()) {
                assertArrayEquals(e.getValue().data().asFloat(), fellBack.get(e.getKey()).data().asFloat(), e.getKey() + ": the ND4J path's bits");
            }
            Map<String, INDArray> got = trainAndInfer(onOneDnn, x, dy);
            assertEquals(before + 3, DirectEltwise.calls());
            for (String k : ref.keySet()) {
                DirectEltwiseTest.assertClose(ref.get(k), got.get(k), 1e-6);
            }
        }
        assertEquals(3, direct.plans("scaleShift"), "one plan per batch size (3, 1, 5), the 3 reused");
        assertEquals(3, direct.plans("batchNormBackward"));
    }

    // ---------------------------------------------------------------- ReLU

    private static FastReluLayer relu(DirectEltwise direct) {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT)
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build()).build();
        FastReluLayer l = new FastReluLayer(conf, DataType.FLOAT);
        assertTrue(l.usesDirectEltwise(), "made with oneDNN's primitives by default");
        l.useDirectEltwise(direct);
        return l;
    }

    private static INDArray reluBackprop(FastReluLayer l, INDArray x, INDArray epsilon) {
        l.setInput(x, NO_WS);
        l.activate(true, NO_WS);
        Pair<Gradient, INDArray> g = l.backpropGradient(epsilon, NO_WS);
        assertTrue(g.getFirst().gradientForVariable().isEmpty());
        return g.getSecond().dup();
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void reluBackpropOnOneDnnIsTheNd4jPathsBits(long[] shape) {
        INDArray x = randn(70, 1, 0, shape);
        // exact zeros of both signs among the inputs (ReLU after batch norm rarely has them; a ReLU after a ReLU does)
        x.putScalar(new long[]{0, 0, 0, 0}, 0.0);
        x.putScalar(new long[]{0, 0, 0, 1}, -0.0);
        x.putScalar(new long[]{0, shape[1] - 1, 1, 1}, 0.0);
        INDArray eps = randn(71, 1, 0, shape);
        long before = DirectEltwise.calls();
        INDArray direct = reluBackprop(relu(DirectEltwise.createIfAvailable()), x, eps);
        assertEquals(before + 1, DirectEltwise.calls());
        INDArray nd4j = reluBackprop(relu(null), x, eps);
        assertArrayEquals(nd4j.data().asFloat(), direct.data().asFloat());
    }

    @Test
    void reluBackpropWithAGradientThatIsNotDenseRunsNd4jsOps() {
        long[] shape = {2, 5, 4, 4};
        INDArray x = randn(72, 1, 0, shape);
        INDArray wide = randn(73, 1, 0, 2, 5, 4, 8);
        INDArray eps = wide.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, 4));
        assertFalse(OneDnn.denseC(eps), "a view with gaps, C order");
        assertEquals(x.ordering(), eps.ordering());
        long before = DirectEltwise.calls();
        INDArray got = reluBackprop(relu(DirectEltwise.createIfAvailable()), x, eps);
        assertEquals(before, DirectEltwise.calls(), "ND4J's ops ran it");
        assertArrayEquals(reluBackprop(relu(null), x, eps.dup()).data().asFloat(), got.data().asFloat());
    }

    // ---------------------------------------------------------------- threads and the switch

    @Test
    void layersWhosePlansWereBuiltOnAnEndedThreadRunOnAnother() throws Exception {
        long[] shape = {4, 13, 6, 6};
        INDArray params = params(13);
        INDArray x = randn(80, 2, 0.5, shape);
        INDArray dy = randn(81, 0.01, 0.004, shape);
        FastBatchNormalizationLayer bn = batchNorm(13, params, DirectEltwise.createIfAvailable());
        FastReluLayer relu = relu(DirectEltwise.createIfAvailable());
        List<Map<String, INDArray>> results = new ArrayList<>();
        Runnable step = () -> {
            Map<String, INDArray> r = trainAndInfer(bn, x, dy);
            r.put("relu", reluBackprop(relu, x, dy));
            results.add(r);
        };
        Thread builder = new Thread(step);
        builder.start();
        builder.join();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            try {
                for (int i = 0; i < 10; i++) {
                    step.run();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        worker.start();
        worker.join();
        assertNull(failure.get());
        step.run();
        assertEquals(12, results.size());
        Map<String, INDArray> nd4j = trainAndInfer(batchNorm(13, params, null), x, dy);
        for (Map<String, INDArray> r : results) {
            for (String k : nd4j.keySet()) {
                DirectEltwiseTest.assertClose(nd4j.get(k), r.get(k), 1e-6);
                assertArrayEquals(results.get(0).get(k).data().asFloat(), r.get(k).data().asFloat(), k + ": the same bits every time");
            }
            assertArrayEquals(results.get(0).get("relu").data().asFloat(), r.get("relu").data().asFloat());
        }
    }

    @Test
    void thePropertyKeepsNd4jsOps() {
        System.setProperty(FastLayers.DIRECT_ELTWISE_PROPERTY, "false");
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT)
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build()).build();
        assertFalse(new FastReluLayer(conf, DataType.FLOAT).usesDirectEltwise());
        NeuralNetConfiguration bnConf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT)
                .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().nIn(3).nOut(3).build()).build();
        assertFalse(new FastBatchNormalizationLayer(bnConf, DataType.FLOAT).usesDirectEltwise());
    }
}
