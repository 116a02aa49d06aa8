package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The blocked input a training forward pass keeps for its backward pass ({@link DirectConvolution}'s class comment,
 * {@code -Dxraydl.keepBlockedInput}): the same bits as reordering the input again, used only for the array it was made
 * from (a second forward pass with another input, an inference pass, another array over the same buffer, another
 * geometry, a second backward pass all reorder again), what an input changed in place gets, another thread, and a
 * network trained with it on and off.
 */
@ExtendWith(NativeHelpersOn.class)
class DirectConvKeptInputTest {

    @AfterEach
    void restoreSwitch() {
        System.clearProperty(DirectConvolution.KEEP_INPUT_PROPERTY);
        System.clearProperty(DirectConvolution.KEEP_INPUT_BUDGET_PROPERTY);
    }

    /** Input [n, c, h, w], k x k weights to o channels, stride, padding (Same-like: output h/stride). */
    private record Case(int n, int c, int h, int o, int k, int stride, int pad) {
        int out() {
            return (h + 2 * pad - k) / stride + 1;
        }
    }

    private static final Case[] CASES = {
            new Case(2, 16, 6, 8, 1, 1, 0),   // 1x1 bottleneck, channels a multiple of 8 (nChw8c)
            new Case(2, 16, 7, 8, 3, 1, 1),   // 3x3, padding 1
            new Case(3, 12, 8, 8, 3, 2, 1),   // 12 channels: nChw8c with a padded last block; stride 2
            new Case(2, 24, 5, 16, 1, 1, 0),  // 1x1, 24 -> 16
    };

    private record Grads(INDArray dx, INDArray dw) {
    }

    /** One forward (keeping the input or not) and one backward call; the outputs start as NaN. */
    private static Grads step(DirectConvolution conv, Case k, INDArray xForward, INDArray xBackward, INDArray w, INDArray dy, boolean keep) {
        int[] s = {k.stride, k.stride};
        int[] p = {k.pad, k.pad};
        INDArray y = Nd4j.valueArrayOf(new long[]{k.n, k.o, k.out(), k.out()}, Float.NaN, DataType.FLOAT);
        assertTrue(conv.forward(xForward, w, s, p, y, keep), k.toString());
        return backward(conv, k, xBackward, w, dy);
    }

    private static Grads backward(DirectConvolution conv, Case k, INDArray x, INDArray w, INDArray dy) {
        INDArray dx = Nd4j.valueArrayOf(x.shape(), Float.NaN, DataType.FLOAT);
        INDArray dw = Nd4j.valueArrayOf(w.shape(), Float.NaN, DataType.FLOAT);
        assertTrue(conv.backward(x, w, dy, new int[]{k.stride, k.stride}, new int[]{k.pad, k.pad}, dx, dw), k.toString());
        return new Grads(dx, dw);
    }

    private static void assertSameBits(Grads expected, Grads actual, String what) {
        assertEquals(expected.dx, actual.dx, what + ": input gradient");
        assertEquals(expected.dw, actual.dw, what + ": weight gradient");
    }

    @Test
    void keptInputGivesTheSameBitsAsReorderingAgain() {
        Random r = new Random(3);
        for (Case k : CASES) {
            DirectConvolution kept = DirectConvolution.createIfAvailable();
            DirectConvolution plain = DirectConvolution.createIfAvailable();
            assertNotNull(kept, "oneDNN's Java bindings load here");
            INDArray x = random(r, k.n, k.c, k.h, k.h);
            INDArray w = random(r, k.o, k.c, k.k, k.k);
            INDArray dy = random(r, k.n, k.o, k.out(), k.out());
            long reused = DirectConvolution.keptInputReuses();
            long bytes = DirectConvolution.keptInputBytes();
            Grads off = step(plain, k, x, x, w, dy, false);
            assertEquals(reused, DirectConvolution.keptInputReuses(), "nothing kept without keepInput");
            Grads on = step(kept, k, x, x, w, dy, true);
            assertEquals(reused + 1, DirectConvolution.keptInputReuses(), k + ": the backward pass read the kept copy");
            assertTrue(DirectConvolution.keptInputBytes() - bytes >= (long) k.n * k.c * k.h * k.h * 4,
                    k + ": a buffer at least as large as the input is kept");
            assertSameBits(off, on, k.toString());
            assertFalse(kept.keepsInputOf(x), "one backward pass per forward pass: the copy is forgotten");
            kept.releaseKeptInput();
            assertEquals(bytes, DirectConvolution.keptInputBytes(), "released");
        }
    }

    /** Over the memory budget a layer keeps nothing (no buffer allocated) and reorders again, with the same bits. */
    @Test
    void overTheBudgetNothingIsKept() {
        Random r = new Random(5);
        Case k = CASES[3];
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        DirectConvolution plain = DirectConvolution.createIfAvailable();
        INDArray x = random(r, k.n, k.c, k.h, k.h);
        INDArray w = random(r, k.o, k.c, k.k, k.k);
        INDArray dy = random(r, k.n, k.o, k.out(), k.out());
        Grads expected = step(plain, k, x, x, w, dy, false);
        System.setProperty(DirectConvolution.KEEP_INPUT_BUDGET_PROPERTY, "0");
        long bytes = DirectConvolution.keptInputBytes();
        long reused = DirectConvolution.keptInputReuses();
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.out(), k.out());
        assertTrue(conv.forward(x, w, new int[]{k.stride, k.stride}, new int[]{k.pad, k.pad}, y, true));
        assertFalse(conv.keepsInputOf(x));
        assertEquals(bytes, DirectConvolution.keptInputBytes(), "nothing allocated over the budget");
        assertSameBits(expected, backward(conv, k, x, w, dy), "over the budget");
        assertEquals(reused, DirectConvolution.keptInputReuses());
        System.clearProperty(DirectConvolution.KEEP_INPUT_BUDGET_PROPERTY);
        assertSameBits(expected, step(conv, k, x, x, w, dy, true), "within the default budget");
        assertEquals(reused + 1, DirectConvolution.keptInputReuses());
        conv.releaseKeptInput();
    }

    /** A layer that is garbage collected gives its share of the budget back (else rebuilt networks would exhaust it). */
    @Test
    void aCollectedLayerGivesItsBytesBack() throws InterruptedException {
        Random r = new Random(9);
        Case k = CASES[3];
        INDArray x = random(r, k.n, k.c, k.h, k.h);
        INDArray w = random(r, k.o, k.c, k.k, k.k);
        long bytes = DirectConvolution.keptInputBytes();
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.out(), k.out());
        assertTrue(conv.forward(x, w, new int[]{k.stride, k.stride}, new int[]{k.pad, k.pad}, y, true));
        assertTrue(DirectConvolution.keptInputBytes() > bytes);
        conv = null;
        for (int i = 0; i < 100 && DirectConvolution.keptInputBytes() > bytes; i++) {
            System.gc();
            Thread.sleep(20);
        }
        // (layers other tests left behind may go too: at most what was counted before)
        assertTrue(DirectConvolution.keptInputBytes() <= bytes, DirectConvolution.keptInputBytes() + " > " + bytes);
    }

    @Test
    void aSecondForwardPassWithAnotherInputIsNeverReadForTheFirst() {
        Random r = new Random(7);
        Case k = CASES[1];
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        DirectConvolution plain = DirectConvolution.createIfAvailable();
        INDArray x1 = random(r, k.n, k.c, k.h, k.h);
        INDArray x2 = random(r, k.n, k.c, k.h, k.h);
        INDArray w = random(r, k.o, k.c, k.k, k.k);
        INDArray dy = random(r, k.n, k.o, k.out(), k.out());
        Grads expected1 = step(plain, k, x1, x1, w, dy, false);
        Grads expected2 = step(plain, k, x2, x2, w, dy, false);
        assertNotEquals(expected1.dw, expected2.dw, "the two inputs give different weight gradients, else this proves nothing");
        int[] s = {k.stride, k.stride};
        int[] p = {k.pad, k.pad};
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.out(), k.out());

        // training forward of x1, then of x2, backward for x1: the copy is x2's, so x1 is reordered again
        long reused = DirectConvolution.keptInputReuses();
        long missed = DirectConvolution.keptInputMisses();
        assertTrue(conv.forward(x1, w, s, p, y, true));
        assertTrue(conv.keepsInputOf(x1));
        assertTrue(conv.forward(x2, w, s, p, y, true));
        assertFalse(conv.keepsInputOf(x1));
        assertTrue(conv.keepsInputOf(x2));
        assertSameBits(expected1, backward(conv, k, x1, w, dy), "x1 after a forward pass of x2");
        assertEquals(reused, DirectConvolution.keptInputReuses());
        assertEquals(missed + 1, DirectConvolution.keptInputMisses());

        // training forward of x1, inference forward of x2 (keeps nothing and forgets x1's copy), backward for x1
        assertTrue(conv.forward(x1, w, s, p, y, true));
        assertTrue(conv.forward(x2, w, s, p, y, false));
        assertFalse(conv.keepsInputOf(x1));
        assertSameBits(expected1, backward(conv, k, x1, w, dy), "x1 after an inference pass of x2");

        // another array object over x1's buffer (same address, shape and strides) is not the array the copy was made of
        INDArray alias = Nd4j.create(x1.data(), x1.shape(), x1.stride(), 0, 'c', DataType.FLOAT);
        assertEquals(OneDnn.Address.of(x1), OneDnn.Address.of(alias));
        assertTrue(conv.forward(x1, w, s, p, y, true));
        assertFalse(conv.keepsInputOf(alias));
        reused = DirectConvolution.keptInputReuses();
        assertSameBits(expected1, backward(conv, k, alias, w, dy), "an alias of x1");
        assertEquals(reused, DirectConvolution.keptInputReuses());

        // a second backward pass after one forward pass reorders again (the copy was used once)
        assertSameBits(expected2, step(conv, k, x2, x2, w, dy, true), "x2 kept");
        assertEquals(reused + 1, DirectConvolution.keptInputReuses());
        assertSameBits(expected2, backward(conv, k, x2, w, dy), "x2 again, nothing kept");
        assertEquals(reused + 1, DirectConvolution.keptInputReuses());

        // the same array with another geometry (padding 0: another output size and plan) is not the kept case
        assertTrue(conv.forward(x1, w, s, p, y, true));
        INDArray y0 = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.h - 2, k.h - 2);
        INDArray dy0 = random(r, k.n, k.o, k.h - 2, k.h - 2);
        INDArray dx0 = Nd4j.createUninitialized(DataType.FLOAT, x1.shape());
        INDArray dw0 = Nd4j.createUninitialized(DataType.FLOAT, w.shape());
        INDArray dx0Plain = Nd4j.createUninitialized(DataType.FLOAT, x1.shape());
        INDArray dw0Plain = Nd4j.createUninitialized(DataType.FLOAT, w.shape());
        assertTrue(plain.forward(x1, w, s, new int[]{0, 0}, y0));
        assertTrue(plain.backward(x1, w, dy0, s, new int[]{0, 0}, dx0Plain, dw0Plain));
        assertTrue(conv.backward(x1, w, dy0, s, new int[]{0, 0}, dx0, dw0));
        assertEquals(reused + 1, DirectConvolution.keptInputReuses(), "another geometry: not reused");
        assertEquals(dw0Plain, dw0);
        assertEquals(dx0Plain, dx0);
    }

    /**
     * An input changed in place between the forward and the backward pass (same object, address, shape: no check can
     * see it) gets the weight gradient of the forward pass that ran, from the values it read, bit for bit; with the
     * switch off the backward pass reads the new values (mixing them with the old output gradient). DL4J never changes a
     * layer's input between its forward pass and its backprop (DirectConvolution's class comment); this pins what
     * happens if something does.
     */
    @Test
    void anInputChangedInPlaceGetsTheGradientOfTheForwardPassThatRan() {
        Random r = new Random(11);
        Case k = CASES[0];
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        DirectConvolution plain = DirectConvolution.createIfAvailable();
        INDArray x = random(r, k.n, k.c, k.h, k.h);
        INDArray original = x.dup();
        INDArray w = random(r, k.o, k.c, k.k, k.k);
        INDArray dy = random(r, k.n, k.o, k.out(), k.out());
        Grads ofTheForward = step(plain, k, original, original, w, dy, false);
        int[] s = {k.stride, k.stride};
        int[] p = {k.pad, k.pad};
        INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.out(), k.out());

        assertTrue(conv.forward(x, w, s, p, y, true));
        x.addi(0.5f); // in place
        assertTrue(conv.keepsInputOf(x), "an in-place change is not visible to the checks");
        Grads kept = backward(conv, k, x, w, dy);
        assertSameBits(ofTheForward, kept, "kept copy: the forward pass's values");

        System.setProperty(DirectConvolution.KEEP_INPUT_PROPERTY, "false");
        x.assign(original);
        assertTrue(conv.forward(x, w, s, p, y, true)); // (the caller, DirectConvHelper, passes keepInput=false then; the backward checks too)
        x.addi(0.5f);
        Grads reordered = backward(conv, k, x, w, dy);
        assertEquals(ofTheForward.dx, reordered.dx, "the input gradient does not read the input");
        assertNotEquals(ofTheForward.dw, reordered.dw, "switched off, the backward pass reads the changed values");
    }

    /** A copy kept by a forward pass on one thread, read by the backward pass on another (plans built on the first). */
    @Test
    void aCopyKeptOnOneThreadIsReadOnAnother() throws Exception {
        Random r = new Random(13);
        Case k = CASES[2];
        DirectConvolution conv = DirectConvolution.createIfAvailable();
        DirectConvolution plain = DirectConvolution.createIfAvailable();
        INDArray x = random(r, k.n, k.c, k.h, k.h);
        INDArray w = random(r, k.o, k.c, k.k, k.k);
        INDArray dy = random(r, k.n, k.o, k.out(), k.out());
        Grads expected = step(plain, k, x, x, w, dy, false);
        Throwable[] failed = new Throwable[1];
        Thread forward = new Thread(() -> {
            try {
                INDArray y = Nd4j.createUninitialized(DataType.FLOAT, k.n, k.o, k.out(), k.out());
                assertTrue(conv.forward(x, w, new int[]{k.stride, k.stride}, new int[]{k.pad, k.pad}, y, true));
            } catch (Throwable t) {
                failed[0] = t;
            }
        }, "kept-forward");
        forward.start();
        forward.join();
        if (failed[0] != null) {
            throw new AssertionError(failed[0]);
        }
        System.gc(); // the ended thread's scratch area may go now; the kept copy is the layer's
        Grads[] got = new Grads[1];
        long reused = DirectConvolution.keptInputReuses();
        Thread backward = new Thread(() -> {
            try {
                got[0] = backward(conv, k, x, w, dy);
            } catch (Throwable t) {
                failed[0] = t;
            }
        }, "kept-backward");
        backward.start();
        backward.join();
        if (failed[0] != null) {
            throw new AssertionError(failed[0]);
        }
        assertEquals(reused + 1, DirectConvolution.keptInputReuses());
        assertSameBits(expected, got[0], "read on another thread");
    }

    /** A dense-block-like graph with channel counts that oneDNN blocks (nChw8c): stem, BN, ReLU, 1x1, 3x3, concatenation. */
    private static ComputationGraph net() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(10, 10, 2))
                .addLayer("stem", new ConvolutionLayer.Builder(3, 3).stride(2, 2).nOut(16).hasBias(false)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn1", new BatchNormalization.Builder().build(), "stem")
                .addLayer("relu1", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn1")
                .addLayer("c1", new ConvolutionLayer.Builder(1, 1).nOut(16).hasBias(false).activation(Activation.IDENTITY).build(), "relu1")
                .addLayer("bn2", new BatchNormalization.Builder().build(), "c1")
                .addLayer("relu2", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn2")
                .addLayer("c2", new ConvolutionLayer.Builder(3, 3).nOut(8).hasBias(false).activation(Activation.IDENTITY).build(), "relu2")
                .addVertex("cat", new MergeVertex(), "stem", "c2")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "cat")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        net.initGradientsView();
        FastLayers.engage(net);
        return net;
    }

    /** Runs {@code r} with the switch set to {@code on} (it is read per call). */
    private static <T> T with(boolean on, Supplier<T> r) {
        System.setProperty(DirectConvolution.KEEP_INPUT_PROPERTY, String.valueOf(on));
        try {
            return r.get();
        } finally {
            System.clearProperty(DirectConvolution.KEEP_INPUT_PROPERTY);
        }
    }

    @Test
    void aNetworkTrainsToTheSameBitsWithTheSwitchOnAndOff() {
        ComputationGraph on = net();
        ComputationGraph off = on.clone();
        FastLayers.engage(off);
        assertTrue(on.getLayer("c2").getHelper() instanceof DirectConvHelper, "the direct path runs");
        assertEquals(on.params(), off.params());
        DataSet data = KernelTestNets.batch();
        // gradients of one step
        on.setInput(0, data.getFeatures());
        on.setLabels(data.getLabels());
        off.setInput(0, data.getFeatures());
        off.setLabels(data.getLabels());
        long reused = DirectConvolution.keptInputReuses();
        with(true, () -> {
            on.computeGradientAndScore();
            return null;
        });
        // c1 and c2 read their kept copies (the stem, weight gradient only, reads its 2-channel input as NCHW)
        assertEquals(reused + 2, DirectConvolution.keptInputReuses(), "the two blocked convolutions reused their copies");
        with(false, () -> {
            off.computeGradientAndScore();
            return null;
        });
        assertEquals(reused + 2, DirectConvolution.keptInputReuses(), "switched off: none reused");
        Map<String, INDArray> gOn = on.gradient().gradientForVariable();
        Map<String, INDArray> gOff = off.gradient().gradientForVariable();
        assertEquals(gOff.keySet(), gOn.keySet());
        gOff.forEach((name, g) -> assertEquals(g, gOn.get(name), "gradient of " + name));
        // and training steps
        for (int i = 0; i < 3; i++) {
            with(true, () -> {
                on.fit(data);
                return null;
            });
            with(false, () -> {
                off.fit(data);
                return null;
            });
        }
        assertEquals(reused + 2 + 3 * 2, DirectConvolution.keptInputReuses());
        assertEquals(off.params(), on.params());
        assertEquals(off.getUpdater().getStateViewArray(), on.getUpdater().getStateViewArray());
    }

    /**
     * Through the layer as DL4J calls it: a second training forward pass with another input before backprop (as a
     * test or a gradient check may do), then backprop for the first input, is DL4J's gradient for the first input.
     */
    @Test
    void theLayerNeverReadsTheCopyOfAnotherInput() {
        ComputationGraph net = net();
        Layer c2 = net.getLayer("c2");
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        Nd4j.getRandom().setSeed(3);
        INDArray x1 = Nd4j.rand(DataType.FLOAT, 6, 16, 5, 5);
        INDArray x2 = Nd4j.rand(DataType.FLOAT, 6, 16, 5, 5);
        INDArray eps = Nd4j.rand(DataType.FLOAT, 6, 8, 5, 5);

        // expected: forward and backprop of x1 alone, switched off
        Pair<INDArray, INDArray> expected = with(false, () -> {
            c2.setInput(x1, mgr);
            c2.activate(true, mgr);
            return gradients(c2, eps, mgr);
        });
        long reused = DirectConvolution.keptInputReuses();
        Pair<INDArray, INDArray> twoForwards = with(true, () -> {
            c2.setInput(x1, mgr);
            c2.activate(true, mgr);
            c2.setInput(x2, mgr);
            c2.activate(true, mgr);
            c2.setInput(x1, mgr);
            return gradients(c2, eps, mgr);
        });
        assertEquals(expected.getFirst(), twoForwards.getFirst(), "weight gradient");
        assertEquals(expected.getSecond(), twoForwards.getSecond(), "input gradient");
        assertEquals(reused, DirectConvolution.keptInputReuses(), "x2's copy was not read for x1");

        Pair<INDArray, INDArray> kept = with(true, () -> {
            c2.setInput(x1, mgr);
            c2.activate(true, mgr);
            return gradients(c2, eps, mgr);
        });
        assertEquals(reused + 1, DirectConvolution.keptInputReuses(), "the layer's own forward pass: read");
        assertEquals(expected.getFirst(), kept.getFirst(), "weight gradient");
        assertEquals(expected.getSecond(), kept.getSecond(), "input gradient");

        // an inference pass in between forgets the copy, and clear() does too
        with(true, () -> {
            c2.setInput(x1, mgr);
            c2.activate(true, mgr);
            c2.activate(false, mgr);
            assertEquals(expected.getFirst(), gradients(c2, eps, mgr).getFirst());
            c2.activate(true, mgr);
            c2.clear();
            c2.setInput(x1, mgr);
            assertEquals(expected.getFirst(), gradients(c2, eps, mgr).getFirst());
            return null;
        });
        assertEquals(reused + 1, DirectConvolution.keptInputReuses());
    }

    @Test
    void theSwitchShowsInTheBenchmarkSettings() {
        assertTrue(FastLayers.keepBlockedInput());
        assertEquals(true, org.xraydl.bench.Tuning.DEFAULT.describe().get("conv_keep_blocked_input"));
        System.setProperty(FastLayers.KEEP_BLOCKED_INPUT_PROPERTY, "false");
        assertFalse(FastLayers.keepBlockedInput());
        assertEquals(false, org.xraydl.bench.Tuning.DEFAULT.describe().get("conv_keep_blocked_input"));
    }

    /** (weight gradient, input gradient) of the layer's backprop, copied out of the reused gradient view. */
    private static Pair<INDArray, INDArray> gradients(Layer layer, INDArray eps, LayerWorkspaceMgr mgr) {
        Pair<Gradient, INDArray> g = layer.backpropGradient(eps, mgr);
        return new Pair<>(g.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY).dup(), g.getSecond().dup());
    }

    private static INDArray random(Random r, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return Nd4j.create(v, shape, DataType.FLOAT);
    }
}
