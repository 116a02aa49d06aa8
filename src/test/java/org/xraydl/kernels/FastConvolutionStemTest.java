package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
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
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastConvolutionLayer}'s weight-gradient-only mode for the convolution fed by the network
 * input: its {@code deconv2d_bp} weight gradient against libnd4j's {@code conv2d_bp} (what DL4J's
 * oneDNN helper runs) and against a plain loop over the definition, for geometries where the
 * deconvolution's input is shifted, cropped (Truncate drops rows), or x itself; whole-graph training
 * against DL4J's layers; and which layers {@link FastLayers#engage} switches.
 */
class FastConvolutionStemTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();
    private static final List<String> OTHER_LEVERS = List.of(FastLayers.FAST_BATCH_NORM_PROPERTY,
            FastLayers.FAST_RELU_PROPERTY, FastLayers.FAST_POOLING_PROPERTY);

    @BeforeEach
    void onlyTheConvolutionLever() {
        OTHER_LEVERS.forEach(p -> System.setProperty(p, "false"));
        // DL4J's oneDNN helper inside the fast layer, so it can be compared bit for bit with DL4J's layer (the direct
        // oneDNN path rounds differently: DirectConvolutionTest and FastPathEquivalenceTest cover it)
        System.setProperty(FastLayers.DIRECT_CONV_PROPERTY, "false");
        NativeHelpers.configure(true);
    }

    @AfterEach
    void clear() {
        OTHER_LEVERS.forEach(System::clearProperty);
        System.clearProperty(FastLayers.DIRECT_CONV_PROPERTY);
        System.clearProperty(FastLayers.FAST_STEM_PROPERTY);
    }

    @AfterAll
    static void restoreDefault() {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
    }

    // ---------------------------------------------------------------- the weight gradient itself

    @ParameterizedTest(name = "{0}: {1}x{2} in, {3}->{4}, kernel {5}x{6}, stride {7},{8}, pad {9},{10}, dilation {11},{12}")
    @CsvSource({
            // what, n, H, W, iC, oC, kH, kW, sH, sW, pH, pW, dH, dW
            "compact stem full size (x shifted by 1),  2, 96, 96, 3, 24, 7, 7, 2, 2, 3, 3, 1, 1",
            "stem geometry small (H shifted),          2, 16, 17, 3, 4, 7, 7, 2, 2, 3, 3, 1, 1",
            "stem geometry 15x17 (x itself),           2, 15, 17, 3, 4, 7, 7, 2, 2, 3, 3, 1, 1",
            "3x3 stride 1 pad 1 (x itself),            2, 10, 11, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1",
            "3x3 stride 2 pad 1 even,                  2, 16, 16, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1",
            "3x3 stride 2 pad 1 odd,                   2, 15, 15, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1",
            "3x3 stride 2 pad 0 (Truncate drops a row), 2, 16, 15, 3, 4, 3, 3, 2, 2, 0, 0, 1, 1",
            "7x7 stride 3 pad 1 (drops a row),         2, 16, 17, 3, 4, 7, 7, 3, 3, 1, 1, 1, 1",
            "dilation 2,                             2, 12, 13, 3, 4, 3, 3, 1, 1, 2, 2, 2, 2",
            "dilation 2 stride 2,                      2, 15, 16, 3, 4, 3, 3, 2, 2, 1, 1, 2, 2",
            "non-square 5x3 stride 2x1 pad 2x0,        2, 13, 11, 3, 4, 5, 3, 2, 1, 2, 0, 1, 1",
            "non-square 1x3 pad 0x1,                   1, 9, 12, 2, 5, 1, 3, 1, 2, 0, 1, 1, 1",
    })
    void weightGradientEqualsConv2dBp(String what, int n, int h, int w, int iC, int oC, int kH, int kW,
                                      int sH, int sW, int pH, int pW, int dH, int dW) {
        int[] k = {kH, kW};
        int[] s = {sH, sW};
        int[] p = {pH, pW};
        int[] d = {dH, dW};
        int oH = (h + 2 * pH - ((kH - 1) * dH + 1)) / sH + 1; // Truncate
        int oW = (w + 2 * pW - ((kW - 1) * dW + 1)) / sW + 1;
        Nd4j.getRandom().setSeed(h * 31 + w);
        INDArray x = Nd4j.randn(DataType.FLOAT, n, iC, h, w);
        INDArray weights = Nd4j.randn(DataType.FLOAT, oC, iC, kH, kW);
        INDArray gy = Nd4j.randn(DataType.FLOAT, n, oC, oH, oW);

        INDArray expected = conv2dBpWeightGradient(x, weights, gy, k, s, p, d);
        INDArray naive = naiveWeightGradient(x, gy, k, s, p, d);
        assertTrue(relativeDiff(naive, expected) < 1e-5, "conv2d_bp vs the definition: " + relativeDiff(naive, expected));

        INDArray actual = Nd4j.createUninitialized(DataType.FLOAT, oC, iC, kH, kW).assign(Float.NaN);
        boolean dilated = dH > 1 || dW > 1;
        // M2.1's oneDNN ops cannot create dilated primitives (conv2d_bp's neither; FastLayers leaves dilated
        // convolutions to DL4J's path): the derivation is checked with libnd4j's own kernels there
        boolean helpers = Nd4j.getEnvironment().helpersAllowed();
        Nd4j.getEnvironment().allowHelpers(helpers && !dilated);
        try {
            FastConvolutionLayer.weightGradient(Nd4j.getExecutioner().buildContext(), x, weights, gy, k, s, p, d, actual, NO_WS);
        } finally {
            Nd4j.getEnvironment().allowHelpers(helpers);
        }
        assertTrue(relativeDiff(expected, actual) < 1e-5, what + ": deconv2d_bp vs conv2d_bp, " + relativeDiff(expected, actual));
        assertTrue(relativeDiff(naive, actual) < 1e-5, what + ": deconv2d_bp vs the definition, " + relativeDiff(naive, actual));
    }

    /**
     * libnd4j's conv2d_bp with DL4J's arguments (its MKLDNNConvHelper's: not Same, NCHW, weights [oC, iC, kH, kW]),
     * through oneDNN as DL4J runs it; with dilation libnd4j's own kernel (oneDNN's platform conv2d_bp of
     * M2.1 fails to create a dilated primitive).
     */
    private static INDArray conv2dBpWeightGradient(INDArray x, INDArray w, INDArray gy, int[] k, int[] s, int[] p, int[] d) {
        INDArray gradI = Nd4j.create(DataType.FLOAT, x.shape());
        INDArray gradW = Nd4j.create(DataType.FLOAT, w.shape());
        OpContext ctx = Nd4j.getExecutioner().buildContext();
        ctx.allowHelpers(d[0] == 1 && d[1] == 1);
        ctx.setIArguments(k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], 0, 0, 1);
        ctx.setInputArray(0, x);
        ctx.setInputArray(1, w);
        ctx.setInputArray(2, gy);
        ctx.setOutputArray(0, gradI);
        ctx.setOutputArray(1, gradW);
        Nd4j.exec(DynamicCustomOp.builder("conv2d_bp").build(), ctx);
        ctx.purge();
        return gradW;
    }

    /** gW[o, i, a, b] = sum over n, y, z of gy[n, o, y, z] * x[n, i, s*y + d*a - p, s*z + d*b - p] (0 outside x), in double. */
    private static INDArray naiveWeightGradient(INDArray x, INDArray gy, int[] k, int[] s, int[] p, int[] d) {
        long n = x.size(0), iC = x.size(1), h = x.size(2), w = x.size(3);
        long oC = gy.size(1), oH = gy.size(2), oW = gy.size(3);
        double[] xv = x.dup('c').data().asDouble();
        double[] gv = gy.dup('c').data().asDouble();
        double[] out = new double[(int) (oC * iC * k[0] * k[1])];
        for (int o = 0; o < oC; o++) {
            for (int i = 0; i < iC; i++) {
                for (int a = 0; a < k[0]; a++) {
                    for (int b = 0; b < k[1]; b++) {
                        double sum = 0;
                        for (int m = 0; m < n; m++) {
                            for (int y = 0; y < oH; y++) {
                                long r = (long) s[0] * y + (long) d[0] * a - p[0];
                                if (r < 0 || r >= h) {
                                    continue;
                                }
                                for (int z = 0; z < oW; z++) {
                                    long c = (long) s[1] * z + (long) d[1] * b - p[1];
                                    if (c < 0 || c >= w) {
                                        continue;
                                    }
                                    sum += gv[(int) (((m * oC + o) * oH + y) * oW + z)] * xv[(int) (((m * iC + i) * h + r) * w + c)];
                                }
                            }
                        }
                        out[(int) (((o * iC + i) * k[0] + a) * k[1] + b)] = sum;
                    }
                }
            }
        }
        return Nd4j.createFromArray(out).reshape(oC, iC, k[0], k[1]).castTo(DataType.FLOAT);
    }

    /** max |a - b| / max |a| (NaN if b has a NaN, so that fails too). */
    private static double relativeDiff(INDArray a, INDArray b) {
        double scale = Math.max(a.amaxNumber().doubleValue(), 1e-30);
        INDArray diff = a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE));
        return b.isNaN().any() ? Double.NaN : diff.amaxNumber().doubleValue() / scale;
    }

    // ---------------------------------------------------------------- in a graph

    /**
     * in (3 x 16 x 17) -> stem (7x7/2, pad 3, Truncate) -> ReLU -> c1 (3x3, pad 1, Truncate); stem and c1
     * concatenated (so the stem's incoming gradient is a sum with a channel slice of the merge's) -> GAP -> out.
     * The stem's input rows are shifted by one for the deconvolution (see weightGradientEqualsConv2dBp).
     */
    private static ComputationGraph net(boolean stemBias) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(12).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Truncate)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(16, 17, 3))
                .addLayer("stem", new ConvolutionLayer.Builder(7, 7).stride(2, 2).padding(3, 3).nOut(4).hasBias(stemBias)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("relu", new ActivationLayer.Builder().activation(Activation.RELU).build(), "stem")
                .addLayer("c1", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(5).hasBias(false)
                        .activation(Activation.IDENTITY).build(), "relu")
                .addVertex("cat", new MergeVertex(), "stem", "c1")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "cat")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    private static DataSet batch() {
        Nd4j.getRandom().setSeed(21);
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3, 16, 17);
        INDArray y = Nd4j.createFromArray(new float[][]{{1, 0}, {0, 1}, {1, 0}, {0, 1}});
        return new DataSet(x, y);
    }

    private static boolean inputGradientUnused(ComputationGraph net, String layer) {
        return net.getLayer(layer) instanceof FastConvolutionLayer f && f.isInputGradientUnused();
    }

    @ParameterizedTest(name = "stem bias {0}")
    @CsvSource({"false", "true"})
    void trainsLikeDl4jsLayers(boolean stemBias) {
        ComputationGraph plain = net(stemBias); // DL4J's layers, with its oneDNN helper
        ComputationGraph fast = plain.clone();
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 1), FastLayers.engage(fast));
        assertTrue(inputGradientUnused(fast, "stem"));
        assertFalse(inputGradientUnused(fast, "c1"), "c1's input gradient goes to the ReLU");
        assertEquals("ConvolutionLayer,ActivationLayer,ConvolutionLayer,GlobalPoolingLayer,OutputLayer", KernelTestNets.layerClasses(plain));
        assertFalse(plain.getLayer("stem") instanceof FastConvolutionLayer);
        assertEquals("MKLDNNConvHelper x2", HelperReport.summary(plain).get("ConvolutionLayer"));
        assertEquals("MKLDNNConvHelper x1, MKLDNNConvHelper (weight gradient only: deconv2d_bp) x1",
                HelperReport.summary(fast).get("FastConvolutionLayer"));

        DataSet data = batch();
        for (int i = 0; i < 3; i++) {
            plain.fit(data);
            fast.fit(data);
            assertTrue(relativeDiff(plain.params(), fast.params()) < 1e-6,
                    "step " + i + ": parameters differ by " + relativeDiff(plain.params(), fast.params()));
        }
        for (String param : List.of(ConvolutionParamInitializer.WEIGHT_KEY, ConvolutionParamInitializer.BIAS_KEY)) {
            if (param.equals(ConvolutionParamInitializer.WEIGHT_KEY) || stemBias) {
                INDArray a = plain.getLayer("stem").getParam(param);
                INDArray b = fast.getLayer("stem").getParam(param);
                assertTrue(relativeDiff(a, b) < 1e-6, "stem " + param + ": " + relativeDiff(a, b));
            }
        }
        assertTrue(relativeDiff(plain.getUpdater().getStateViewArray(), fast.getUpdater().getStateViewArray()) < 1e-5);
        assertTrue(relativeDiff(plain.outputSingle(data.getFeatures()), fast.outputSingle(data.getFeatures())) < 1e-5);
    }

    /**
     * With the direct oneDNN path (the default outside this class), the stem's weight gradient is oneDNN's
     * backward-weights primitive alone: the report says so, the gradient is deconv2d_bp's (-Dxraydl.directStem=false)
     * to float rounding, and training follows DL4J's layers.
     */
    @Test
    void theDirectPathComputesTheStemsWeightGradientWithOneDnnAlone() {
        System.clearProperty(FastLayers.DIRECT_CONV_PROPERTY);
        ComputationGraph plain = net(false); // the direct path takes layers without bias
        ComputationGraph fast = plain.clone();
        FastLayers.engage(fast);
        assertEquals("DirectConvHelper x1, DirectConvHelper (weight gradient only: oneDNN) x1",
                HelperReport.summary(fast).get("FastConvolutionLayer"));
        DataSet data = batch();
        plain.fit(data); // hands out the gradient views
        fast.fit(data);
        assertTrue(relativeDiff(plain.params(), fast.params()) < 1e-6, "one step: " + relativeDiff(plain.params(), fast.params()));

        Nd4j.getRandom().setSeed(8);
        INDArray x = data.getFeatures();
        INDArray eps = Nd4j.randn(DataType.FLOAT, 4, 4, 8, 9);
        INDArray view = fast.getLayer("stem").getGradientsViewArray();
        view.assign(Float.NaN);
        Pair<Gradient, INDArray> direct = backprop(fast.getLayer("stem"), x, eps);
        assertFalse(view.isNaN().any(), "the weight gradient written into DL4J's gradient view");
        assertNull(direct.getSecond());
        System.setProperty(FastConvolutionLayer.DIRECT_STEM_PROPERTY, "false");
        try {
            assertEquals("DirectConvHelper x1, DirectConvHelper (weight gradient only: deconv2d_bp) x1",
                    HelperReport.summary(fast).get("FastConvolutionLayer"));
            Pair<Gradient, INDArray> deconv = backprop(fast.getLayer("stem"), x, eps);
            INDArray a = deconv.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY);
            INDArray b = direct.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY);
            assertTrue(relativeDiff(a, b) < 1e-6, "oneDNN vs deconv2d_bp: " + relativeDiff(a, b));
            Pair<Gradient, INDArray> dl4j = backprop(plain.getLayer("stem"), x, eps);
            INDArray c = dl4j.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY);
            assertTrue(relativeDiff(c, b) < 1e-5, "oneDNN vs DL4J's layer: " + relativeDiff(c, b));
        } finally {
            System.clearProperty("xraydl.directStem");
        }
        for (int i = 0; i < 3; i++) {
            plain.fit(data);
            fast.fit(data);
        }
        assertTrue(relativeDiff(plain.params(), fast.params()) < 1e-5, "4 steps: " + relativeDiff(plain.params(), fast.params()));
    }

    @Test
    void theStemReturnsNoInputGradientTheNextConvolutionACorrectOne() {
        ComputationGraph plain = net(true);
        ComputationGraph fast = plain.clone();
        FastLayers.engage(fast);
        DataSet data = batch();
        plain.fit(data); // hands out the gradient views
        fast.fit(data);
        assertEquals(plain.params(), fast.params(), "one step: the same parameters before the comparison below");

        Nd4j.getRandom().setSeed(8);
        INDArray x = data.getFeatures();
        INDArray eps = Nd4j.randn(DataType.FLOAT, 4, 4, 8, 9);
        Pair<Gradient, INDArray> dl4j = backprop(plain.getLayer("stem"), x, eps);
        INDArray stemGradientView = fast.getLayer("stem").getGradientsViewArray(); // its slice of the graph's gradient
        stemGradientView.assign(Float.NaN);
        Pair<Gradient, INDArray> ours = backprop(fast.getLayer("stem"), x, eps);
        assertFalse(stemGradientView.isNaN().any(), "bias and weight gradients written into DL4J's gradient view");
        assertNotNull(dl4j.getSecond());
        assertNull(ours.getSecond(), "the stem's input gradient is not computed");
        assertEquals(List.copyOf(dl4j.getFirst().gradientForVariable().keySet()), List.copyOf(ours.getFirst().gradientForVariable().keySet()),
                "the gradient's variables, in DL4J's order");
        for (String param : List.of(ConvolutionParamInitializer.WEIGHT_KEY, ConvolutionParamInitializer.BIAS_KEY)) {
            INDArray a = dl4j.getFirst().getGradientFor(param);
            INDArray b = ours.getFirst().getGradientFor(param);
            assertTrue(relativeDiff(a, b) < 1e-5, "stem " + param + " gradient: " + relativeDiff(a, b));
        }

        INDArray h = Nd4j.randn(DataType.FLOAT, 4, 4, 8, 9);
        INDArray eps2 = Nd4j.randn(DataType.FLOAT, 4, 5, 8, 9);
        Pair<Gradient, INDArray> dl4jC1 = backprop(plain.getLayer("c1"), h, eps2);
        Pair<Gradient, INDArray> oursC1 = backprop(fast.getLayer("c1"), h, eps2);
        assertNotNull(oursC1.getSecond(), "a convolution fed by another layer still returns its input gradient");
        assertTrue(relativeDiff(dl4jC1.getSecond(), oursC1.getSecond()) < 1e-5, "c1 input gradient: " + relativeDiff(dl4jC1.getSecond(), oursC1.getSecond()));
        assertTrue(relativeDiff(dl4jC1.getFirst().getGradientFor("W"), oursC1.getFirst().getGradientFor("W")) < 1e-5);
    }

    private static Pair<Gradient, INDArray> backprop(Layer l, INDArray input, INDArray eps) {
        l.setInput(input, NO_WS);
        Pair<Gradient, INDArray> p = l.backpropGradient(eps, NO_WS);
        Gradient copy = new org.deeplearning4j.nn.gradient.DefaultGradient();
        p.getFirst().gradientForVariable().forEach((k, v) -> copy.gradientForVariable().put(k, v.dup()));
        l.clear();
        return new Pair<>(copy, p.getSecond() == null ? null : p.getSecond().dup());
    }

    // ---------------------------------------------------------------- which layers engage() switches

    private static ComputationGraph graph(ConvolutionMode stemMode, int stemDilation, InputType inputType) {
        int pad = stemMode == ConvolutionMode.Same ? 0 : 1; // DL4J refuses explicit padding in Same mode
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Truncate)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(inputType)
                .addLayer("stem", new ConvolutionLayer.Builder(3, 3).stride(2, 2).padding(pad, pad).dilation(stemDilation, stemDilation)
                        .convolutionMode(stemMode).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("c1", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(5)
                        .activation(Activation.IDENTITY).build(), "stem")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "c1")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    private static final InputType IMAGE = InputType.convolutional(12, 12, 3);

    @Test
    void engageSwitchesOnlyTheConvolutionFedByTheNetworkInput() {
        ComputationGraph net = graph(ConvolutionMode.Truncate, 1, IMAGE);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 1), FastLayers.engage(net));
        assertTrue(inputGradientUnused(net, "stem"));
        assertFalse(inputGradientUnused(net, "c1"), "fed by another layer");
        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(net), "a second call changes nothing");
        assertTrue(inputGradientUnused(net, "stem"));

        ComputationGraph strict = graph(ConvolutionMode.Strict, 1, InputType.convolutional(11, 11, 3));
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 1), FastLayers.engage(strict));

        ComputationGraph same = graph(ConvolutionMode.Same, 1, IMAGE);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(same), "Same mode: DL4J's padding rule");
        assertFalse(inputGradientUnused(same, "stem"));

        ComputationGraph dilated = graph(ConvolutionMode.Truncate, 2, IMAGE);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(dilated), "dilation: oneDNN's deconvolution declines it");

        ComputationGraph flat = graph(ConvolutionMode.Truncate, 1, InputType.convolutionalFlat(12, 12, 3));
        assertNotNull(((LayerVertex) flat.getVertex("stem")).getLayerPreProcessor(), "DL4J put a preprocessor before the stem");
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(flat), "the preprocessor backpropagates the gradient");
        assertFalse(inputGradientUnused(flat, "stem"));

        System.setProperty(FastLayers.FAST_STEM_PROPERTY, "false");
        ComputationGraph off = graph(ConvolutionMode.Truncate, 1, IMAGE);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(off));
        assertFalse(inputGradientUnused(off, "stem"));
        System.clearProperty(FastLayers.FAST_STEM_PROPERTY);

        System.setProperty(FastLayers.FAST_CONV_PROPERTY, "false");
        try {
            assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(graph(ConvolutionMode.Truncate, 1, IMAGE)));
        } finally {
            System.clearProperty(FastLayers.FAST_CONV_PROPERTY);
        }
    }

    @Test
    void anInputFeedingTwoLayersKeepsItsGradients() {
        // DL4J adds the input gradients of an input's consumers (addi): a null one would break that
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(3).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Truncate)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(IMAGE)
                .addLayer("a", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("b", new ConvolutionLayer.Builder(3, 3).padding(1, 1).nOut(4).activation(Activation.RELU).build(), "in")
                .addVertex("cat", new MergeVertex(), "a", "b")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "cat")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        assertEquals(new FastLayers.Engaged(0, 0, 0, 1, 0, 0), FastLayers.engage(net));
        assertFalse(inputGradientUnused(net, "a"));
        Nd4j.getRandom().setSeed(2);
        net.fit(new DataSet(Nd4j.randn(DataType.FLOAT, 2, 3, 12, 12), Nd4j.createFromArray(new float[][]{{1, 0}, {0, 1}})));
    }
}
