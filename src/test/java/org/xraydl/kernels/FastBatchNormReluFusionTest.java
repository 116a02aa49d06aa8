package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.xraydl.model.DenseNetBuilder;
import org.xraydl.model.DenseNetSpec;
import org.xraydl.model.HeadSpec;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batch norm whose only consumer is a plain ReLU applies that ReLU in its training forward and the ReLU layer hands
 * the array on ({@link FastBatchNormalizationLayer#fuseRelu}, {@link FastLayers#linkBatchNormRelu}): which pairs are
 * linked, the same bits as the unfused pair (outputs, loss, every gradient, parameters after steps, with and without
 * workspaces, with shared batch-norm statistics and fast merges), NaN still visible, inference and the switch unfused.
 */
@ExtendWith(NativeHelpersOn.class)
class FastBatchNormReluFusionTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    @AfterEach
    void clearProperty() {
        System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
    }

    /** A small DenseNet: blocks of 3 and 2 layers (growth 4), a transition, the final batch norm; merges everywhere. */
    private static ComputationGraph denseNet() {
        return DenseNetBuilder.build(DenseNetSpec.compact(4, List.of(3, 2), 8), 16, 3, 13, 1e-2,
                new HeadSpec(List.of(), List.of(), 2, null));
    }

    private static DataSet batch(long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 16, 16).subi(0.5).muli(3);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 2);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        return new DataSet(x, y);
    }

    /** Float bits, NaN canonical (a NaN's payload is not compared, its presence is). */
    private static int[] bits(INDArray a) {
        float[] f = a.dup().data().asFloat();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            b[i] = Float.floatToIntBits(f[i]);
        }
        return b;
    }

    private static List<String> fusedBatchNorms(ComputationGraph net) {
        return Arrays.stream(net.getLayers()).filter(l -> l instanceof FastBatchNormalizationLayer b && b.fusesRelu())
                .map(l -> l.conf().getLayer().getLayerName()).sorted().toList();
    }

    private static long countOf(ComputationGraph net, Class<?> type) {
        return Arrays.stream(net.getLayers()).filter(type::isInstance).count();
    }

    /** One training step's score and gradient of {@code net} on {@code data}, the switch set as given. */
    private static INDArray gradient(ComputationGraph net, DataSet data, boolean fuse, double[] score) {
        System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, String.valueOf(fuse));
        try {
            net.setInputs(data.getFeatures());
            net.setLabels(data.getLabels());
            net.computeGradientAndScore();
            score[0] = net.score();
            return net.getGradientsViewArray().dup();
        } finally {
            System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
        }
    }

    @Test
    void everyDenseNetPairIsLinkedAndTrainsToTheSameBitsAsUnfused() {
        for (WorkspaceMode mode : new WorkspaceMode[]{WorkspaceMode.ENABLED, WorkspaceMode.NONE}) {
            ComputationGraph fused = denseNet();
            fused.getConfiguration().setTrainingWorkspaceMode(mode);
            fused.getConfiguration().setInferenceWorkspaceMode(mode);
            ComputationGraph unfused = fused.clone();
            FastLayers.engage(fused);
            FastLayers.engage(unfused);
            long pairs = countOf(fused, FastBatchNormalizationLayer.class);
            assertEquals(pairs, fusedBatchNorms(fused).size(), "every batch norm feeds only a ReLU: " + fusedBatchNorms(fused));
            assertTrue(pairs >= 8, "pairs " + pairs);
            assertTrue(Arrays.stream(fused.getLayers()).anyMatch(l -> l instanceof FastBatchNormalizationLayer b && b.sharesPrefixStatistics()),
                    "composes with the shared statistics");
            assertTrue(Arrays.stream(fused.getVertices()).anyMatch(v -> v instanceof FastMergeVertex), "and with the fast merges");
            for (int step = 0; step < 3; step++) {
                DataSet data = batch(3 + step);
                double[] sf = new double[1];
                double[] su = new double[1];
                long fusedBefore = FastBatchNormalizationLayer.fusedRelus();
                long passedBefore = FastReluLayer.passedOn();
                INDArray gf = gradient(fused, data, true, sf);
                assertEquals(pairs, FastBatchNormalizationLayer.fusedRelus() - fusedBefore, mode + " step " + step + ": fused forwards");
                assertEquals(pairs, FastReluLayer.passedOn() - passedBefore, mode + " step " + step + ": ReLU layers that handed on");
                fusedBefore = FastBatchNormalizationLayer.fusedRelus();
                INDArray gu = gradient(unfused, data, false, su);
                assertEquals(fusedBefore, FastBatchNormalizationLayer.fusedRelus(), "switched off: nothing fused");
                assertEquals(su[0], sf[0], 0.0, mode + " step " + step + ": loss");
                assertArrayEquals(bits(gu), bits(gf), mode + " step " + step + ": every gradient, bit for bit");
                // training-mode output (the detached forward of output()), fused or not: the same bits
                System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, "false");
                INDArray outUnfused = unfused.outputSingle(true, data.getFeatures());
                System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
                assertArrayEquals(bits(outUnfused), bits(fused.outputSingle(true, data.getFeatures())), mode + " step " + step + ": output(train)");
                // the same plain update on both, then the same parameters
                fused.params().subi(gf.reshape(fused.params().shape()).mul(1e-1));
                unfused.params().subi(gu.reshape(unfused.params().shape()).mul(1e-1));
                assertArrayEquals(bits(unfused.params()), bits(fused.params()), mode + " step " + step + ": parameters");
            }
        }
    }

    /** fit() with Adam (the pipeline's updater) through DL4J's own training loop: the same parameter bits after steps. */
    @Test
    void fitWithAdamGivesTheSameParameters() {
        ComputationGraph base = denseNet();
        ComputationGraph fused = new TransferLearning.GraphBuilder(base)
                .fineTuneConfiguration(new FineTuneConfiguration.Builder().updater(new Adam(1e-2)).build()).build();
        ComputationGraph unfused = fused.clone();
        FastLayers.engage(fused);
        FastLayers.engage(unfused);
        long before = FastBatchNormalizationLayer.fusedRelus();
        for (int step = 0; step < 3; step++) {
            fused.fit(batch(10 + step));
        }
        assertTrue(FastBatchNormalizationLayer.fusedRelus() - before >= 3 * countOf(fused, FastBatchNormalizationLayer.class));
        System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, "false");
        before = FastBatchNormalizationLayer.fusedRelus();
        for (int step = 0; step < 3; step++) {
            unfused.fit(batch(10 + step));
        }
        assertEquals(before, FastBatchNormalizationLayer.fusedRelus());
        System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
        assertArrayEquals(bits(unfused.params()), bits(fused.params()), "parameters after 3 Adam steps");
        assertArrayEquals(bits(unfused.outputSingle(false, batch(20).getFeatures())), bits(fused.outputSingle(false, batch(20).getFeatures())),
                "inference after training");
    }

    /** Against DL4J's plain layers (no helpers, no fast layers): within float rounding, as FastPathEquivalenceTest. */
    @Test
    void agreesWithDl4jsPlainLayers() {
        NativeHelpers.configure(false);
        ComputationGraph plain = denseNet();
        NativeHelpers.configure(true);
        ComputationGraph fused = plain.clone();
        FastLayers.engage(fused);
        assertFalse(fusedBatchNorms(fused).isEmpty());
        DataSet data = batch(7);
        double[] sp = new double[1];
        double[] sf = new double[1];
        INDArray gp = gradient(plain, data, true, sp);
        long before = FastBatchNormalizationLayer.fusedRelus();
        INDArray gf = gradient(fused, data, true, sf);
        assertTrue(FastBatchNormalizationLayer.fusedRelus() > before);
        assertEquals(sp[0], sf[0], 1e-4 * Math.abs(sp[0]), "loss");
        double diff = gp.castTo(DataType.DOUBLE).sub(gf.castTo(DataType.DOUBLE)).amaxNumber().doubleValue() / gp.amaxNumber().doubleValue();
        assertTrue(diff < 1e-3, "gradient max rel. diff " + diff);
    }

    /**
     * A NaN in the input makes every later activation NaN in the unfused pair (libnd4j's ReLU keeps NaN); the fused
     * forward sees the NaN in its statistics and runs unfused, so the NaN stays visible, the same bits as switched off.
     */
    @Test
    void aNanBatchStaysNanAndRunsUnfused() {
        ComputationGraph fused = denseNet();
        ComputationGraph unfused = fused.clone();
        FastLayers.engage(fused);
        FastLayers.engage(unfused);
        DataSet data = batch(4);
        data.getFeatures().putScalar(new long[]{1, 2, 5, 5}, Float.NaN);
        long before = FastBatchNormalizationLayer.fusedRelus();
        INDArray out = fused.outputSingle(true, data.getFeatures());
        double[] sf = new double[1];
        INDArray gf = gradient(fused, data, true, sf);
        long fusedCalls = FastBatchNormalizationLayer.fusedRelus() - before;
        System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, "false");
        INDArray outUnfused = unfused.outputSingle(true, data.getFeatures());
        System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
        double[] su = new double[1];
        INDArray gu = gradient(unfused, data, false, su);
        // the stem's batch norm sees the NaN input's convolution; after it every batch statistic is NaN, and libnd4j's
        // ReLU keeps NaN: the output and the loss are NaN (a ReLU that made NaN into 0 would hide it from the next layers)
        assertTrue(Double.isNaN(outUnfused.getDouble(1, 0)), "unfused: example 1's output is NaN: " + outUnfused);
        assertArrayEquals(bits(outUnfused), bits(out), "output(train), NaN where unfused has it");
        assertTrue(Double.isNaN(sf[0]) && Double.isNaN(su[0]), "the loss is NaN");
        assertArrayEquals(bits(gu), bits(gf));
        assertEquals(0, fusedCalls, "no batch norm fused a NaN batch");
    }

    /** Layer by layer: a NaN or infinite input, NaN or infinite factors, a -0 shift all run unfused; the ReLU keeps the NaN. */
    @Test
    void theStatisticsCheckRoutesNonFiniteAndNegativeZeroToTheUnfusedPath() {
        double[] ok = {1, 2};
        assertTrue(FastBatchNormalizationLayer.reluSafe(ok, ok, new float[]{1f, -2f}, new float[]{0f, -1f}));
        assertFalse(FastBatchNormalizationLayer.reluSafe(new double[]{1, Double.NaN}, ok, new float[]{1f, 1f}, new float[]{0f, 0f}));
        assertFalse(FastBatchNormalizationLayer.reluSafe(ok, new double[]{Double.POSITIVE_INFINITY, 1}, new float[]{1f, 1f}, new float[]{0f, 0f}));
        assertFalse(FastBatchNormalizationLayer.reluSafe(ok, ok, new float[]{Float.NaN, 1f}, new float[]{0f, 0f}));
        assertFalse(FastBatchNormalizationLayer.reluSafe(ok, ok, new float[]{1f, 1f}, new float[]{0f, Float.NEGATIVE_INFINITY}));
        assertFalse(FastBatchNormalizationLayer.reluSafe(ok, ok, new float[]{1f, 1f}, new float[]{0f, -0f}), "-0 shift");

        ComputationGraph net = pairNet(false, false);
        FastLayers.engage(net);
        FastBatchNormalizationLayer bn = (FastBatchNormalizationLayer) net.getLayer("bn");
        FastReluLayer relu = (FastReluLayer) net.getLayer("relu");
        assertTrue(bn.fusesRelu() && relu.fusedIntoBatchNorm());
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 4, 5, 5);
        // finite: fused, and the same bits as the unfused pair
        bn.setInput(x, NO_WS);
        INDArray y = bn.activate(true, NO_WS);
        assertSame(y, bn.reluAppliedOutput());
        relu.setInput(y, NO_WS);
        INDArray fusedOut = relu.activate(true, NO_WS);
        assertSame(y, fusedOut, "handed on (no workspace: the same array)");
        System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, "false");
        bn.setInput(x, NO_WS);
        INDArray yUnfused = bn.activate(true, NO_WS);
        assertEquals(null, bn.reluAppliedOutput());
        assertTrue(yUnfused.minNumber().doubleValue() < 0, "unfused: the batch norm's output has negatives");
        relu.setInput(yUnfused, NO_WS);
        INDArray unfusedOut = relu.activate(true, NO_WS);
        assertNotSame(yUnfused, unfusedOut);
        System.clearProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY);
        assertArrayEquals(bits(unfusedOut), bits(fusedOut));
        // a ReLU fed another array than the batch norm's fused output (the per-call identity check): it applies ReLU itself
        relu.setInput(yUnfused, NO_WS);
        assertArrayEquals(bits(unfusedOut), bits(relu.activate(true, NO_WS)));
        // NaN and infinity in the input: unfused, the NaN comes out of the ReLU
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
            INDArray xb = x.dup();
            xb.putScalar(new long[]{0, 1, 2, 2}, bad);
            long before = FastBatchNormalizationLayer.fusedRelus();
            bn.setInput(xb, NO_WS);
            INDArray yb = bn.activate(true, NO_WS);
            assertEquals(before, FastBatchNormalizationLayer.fusedRelus(), "input " + bad + ": unfused");
            assertEquals(null, bn.reluAppliedOutput());
            relu.setInput(yb, NO_WS);
            INDArray ob = relu.activate(true, NO_WS);
            assertTrue(Double.isNaN(ob.getDouble(0, 1, 2, 2)) || Double.isNaN(ob.getDouble(0, 1, 0, 0)), "input " + bad + ": NaN visible");
        }
        // a NaN gamma: the factors are NaN, unfused, NaN visible
        INDArray gamma = bn.getParam(BatchNormalizationParamInitializer.GAMMA);
        float g0 = gamma.getFloat(2);
        gamma.putScalar(2, Float.NaN);
        long before = FastBatchNormalizationLayer.fusedRelus();
        bn.setInput(x, NO_WS);
        INDArray yn = bn.activate(true, NO_WS);
        assertEquals(before, FastBatchNormalizationLayer.fusedRelus(), "NaN gamma: unfused");
        relu.setInput(yn, NO_WS);
        assertTrue(Double.isNaN(relu.activate(true, NO_WS).getDouble(1, 2, 3, 3)), "NaN gamma: NaN visible");
        gamma.putScalar(2, g0);
    }

    /** Inference (activate(false)) is never fused: the same bits as switched off, nothing counted. */
    @Test
    void inferenceRunsUnfused() {
        ComputationGraph net = denseNet();
        FastLayers.engage(net);
        net.fit(batch(5));
        DataSet data = batch(6);
        long before = FastBatchNormalizationLayer.fusedRelus();
        long passed = FastReluLayer.passedOn();
        INDArray out = net.outputSingle(false, data.getFeatures());
        assertEquals(before, FastBatchNormalizationLayer.fusedRelus());
        assertEquals(passed, FastReluLayer.passedOn());
        System.setProperty(FastBatchNormalizationLayer.FUSE_RELU_PROPERTY, "false");
        assertArrayEquals(bits(net.outputSingle(false, data.getFeatures())), bits(out));
    }

    /**
     * A graph with one batch norm (and conv) -> ReLU pair; optionally the batch norm feeds a second vertex too, and a
     * ReLU with dropout follows a second batch norm.
     */
    private static ComputationGraph pairNet(boolean secondConsumer, boolean dropout) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(7).updater(new Sgd(0.1)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(5, 5, 4))
                .addLayer("bn", new BatchNormalization.Builder().build(), "in")
                .addLayer("relu", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn")
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(3).hasBias(false).activation(Activation.IDENTITY).build(), "relu")
                .addLayer("bn2", new BatchNormalization.Builder().build(), "conv");
        ActivationLayer.Builder relu2 = new ActivationLayer.Builder().activation(Activation.RELU);
        if (dropout) {
            relu2.dropOut(0.5);
        }
        g.addLayer("relu2", relu2.build(), "bn2")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "relu2");
        String out = "gap";
        if (secondConsumer) {
            g.addLayer("gap2", new GlobalPoolingLayer.Builder(PoolingType.MAX).build(), "bn");
            g.addVertex("heads", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "gap", "gap2");
            out = "heads";
        }
        g.addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build(), out)
                .setOutputs("out");
        ComputationGraph net = new ComputationGraph(g.build());
        net.init();
        return net;
    }

    @Test
    void onlySoleConsumerPlainReluPairsWithoutDropoutOrFreezingAreLinked() {
        ComputationGraph plainPairs = pairNet(false, false);
        FastLayers.engage(plainPairs);
        assertEquals(List.of("bn", "bn2"), fusedBatchNorms(plainPairs));
        ComputationGraph twoConsumers = pairNet(true, false);
        FastLayers.engage(twoConsumers);
        assertEquals(List.of("bn2"), fusedBatchNorms(twoConsumers), "bn feeds a second vertex");
        assertFalse(((FastReluLayer) twoConsumers.getLayer("relu")).fusedIntoBatchNorm());
        ComputationGraph withDropout = pairNet(false, true);
        FastLayers.engage(withDropout);
        assertEquals(List.of("bn"), fusedBatchNorms(withDropout), "relu2 has dropout");
        // transfer learning's frozen trunk: bn, relu and conv frozen (FrozenLayer wrappers run in inference mode)
        ComputationGraph frozen = new TransferLearning.GraphBuilder(pairNet(false, false)).setFeatureExtractor("conv").build();
        FastLayers.engage(frozen);
        assertEquals(List.of("bn2"), fusedBatchNorms(frozen), "the frozen pair is not linked");
        // the frozen trunk's training step still works and the trainable pair is fused
        Nd4j.getRandom().setSeed(2);
        DataSet data = new DataSet(Nd4j.randn(DataType.FLOAT, 3, 4, 5, 5), Nd4j.createFromArray(new float[][]{{1, 0}, {0, 1}, {1, 0}}));
        long before = FastBatchNormalizationLayer.fusedRelus();
        frozen.fit(data);
        assertEquals(1, FastBatchNormalizationLayer.fusedRelus() - before);
        assertTrue(Double.isFinite(frozen.score()));
    }
}
