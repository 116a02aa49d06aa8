package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
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

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link FastConvolutionLayer} against DL4J's ConvolutionLayer: the same parameters after several
 * Adam steps, bit for bit (it skips work whose result DL4J never reads), one forward convolution per
 * layer and step instead of two, and DL4J's layer kept where the shortcut does not hold.
 */
class FastConvolutionLayerTest {
    private static final List<String> OTHER_LEVERS = List.of(FastLayers.FAST_BATCH_NORM_PROPERTY,
            FastLayers.FAST_RELU_PROPERTY, FastLayers.FAST_POOLING_PROPERTY);

    @BeforeEach
    void onlyTheConvolutionLever() {
        OTHER_LEVERS.forEach(p -> System.setProperty(p, "false"));
        // DL4J's oneDNN helper inside the fast layer, so it can be compared bit for bit with DL4J's layer (the direct
        // oneDNN path rounds differently: DirectConvolutionTest and FastPathEquivalenceTest cover it)
        System.setProperty(FastLayers.DIRECT_CONV_PROPERTY, "false");
    }

    @AfterEach
    void clear() {
        OTHER_LEVERS.forEach(System::clearProperty);
        System.clearProperty(FastLayers.DIRECT_CONV_PROPERTY);
        System.clearProperty(FastLayers.FAST_CONV_PROPERTY);
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
    }

    @AfterAll
    static void restoreDefault() {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
    }

    /** A dense-block-like graph: 3x3 stem, a 1x1 and a 3x3 convolution concatenated with their input. */
    private static ComputationGraph net(Activation convActivation, double dropout) {
        ConvolutionLayer.Builder mid = new ConvolutionLayer.Builder(3, 3).nOut(3).hasBias(false).activation(convActivation);
        if (dropout > 0) {
            mid.dropOut(dropout);
        }
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(10, 10, 2))
                .addLayer("stem", new ConvolutionLayer.Builder(3, 3).stride(2, 2).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("c1", new ConvolutionLayer.Builder(1, 1).nOut(6).hasBias(false).activation(Activation.IDENTITY).build(), "stem")
                .addLayer("c2", mid.build(), "c1")
                .addVertex("cat", new MergeVertex(), "stem", "c2")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "cat")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** conv2d calls of one fit step, counted by ND4J's own op profiler. */
    private static long forwardConvolutionsPerStep(ComputationGraph net, DataSet data) {
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.OPERATIONS);
        OpProfiler.getInstance().reset();
        net.fit(data);
        long n = OpProfiler.getInstance().getOpCounter().getCount("conv2d");
        Nd4j.getExecutioner().setProfilingMode(OpExecutioner.ProfilingMode.DISABLED);
        return n;
    }

    @Test
    void sameTrainingAsDl4jWithOneForwardConvolutionPerLayer() {
        NativeHelpers.configure(true);
        ComputationGraph plain = net(Activation.IDENTITY, 0);
        ComputationGraph fast = plain.clone();
        assertEquals(new FastLayers.Engaged(0, 0, 0, 3, 0, 0), FastLayers.engage(fast));
        assertEquals("FastConvolutionLayer,FastConvolutionLayer,FastConvolutionLayer,GlobalPoolingLayer,OutputLayer",
                KernelTestNets.layerClasses(fast));
        assertEquals("MKLDNNConvHelper", fast.getLayer("c2").getHelper().getClass().getSimpleName());

        DataSet data = KernelTestNets.batch();
        assertEquals(6, forwardConvolutionsPerStep(plain, data), "DL4J: 3 forward + 3 recomputed in backprop");
        assertEquals(3, forwardConvolutionsPerStep(fast, data), "one forward convolution per layer");
        for (int i = 0; i < 4; i++) {
            plain.fit(data);
            fast.fit(data);
        }
        assertEquals(plain.params(), fast.params());
        assertEquals(plain.getUpdater().getStateViewArray(), fast.getUpdater().getStateViewArray());
        assertEquals(plain.outputSingle(data.getFeatures()), fast.outputSingle(data.getFeatures()));
    }

    @Test
    void withoutALayerHelperItRunsDl4jsBackprop() {
        NativeHelpers.configure(false); // DL4J's im2col + gemm path, which needs the recomputed im2col matrix
        ComputationGraph plain = net(Activation.IDENTITY, 0);
        ComputationGraph fast = plain.clone();
        assertEquals(new FastLayers.Engaged(0, 0, 0, 3, 0, 0), FastLayers.engage(fast));
        DataSet data = KernelTestNets.batch();
        for (int i = 0; i < 3; i++) {
            plain.fit(data);
            fast.fit(data);
        }
        assertEquals(plain.params(), fast.params());
    }

    @Test
    void otherActivationsDropoutAndTheSwitchKeepDl4jsLayer() {
        NativeHelpers.configure(true);
        ComputationGraph relu = net(Activation.RELU, 0);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(relu));
        assertEquals("ConvolutionLayer", relu.getLayer("c2").getClass().getSimpleName());

        ComputationGraph dropout = net(Activation.IDENTITY, 0.8);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 2, 0, 0), FastLayers.engage(dropout));
        assertEquals("ConvolutionLayer", dropout.getLayer("c2").getClass().getSimpleName());

        System.setProperty(FastLayers.FAST_CONV_PROPERTY, "false");
        ComputationGraph off = net(Activation.IDENTITY, 0);
        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(off));
        assertEquals("ConvolutionLayer,ConvolutionLayer,ConvolutionLayer,GlobalPoolingLayer,OutputLayer", KernelTestNets.layerClasses(off));
    }
}
