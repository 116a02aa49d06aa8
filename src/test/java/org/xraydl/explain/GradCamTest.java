package org.xraydl.explain;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.xraydl.UserError;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GradCamTest {

    /**
     * input [1,1,8,8] -> "conv" 1x1 (two maps: relu(x) and relu(-x)) -> global average pool -> softmax
     * with logit1 = mean(map0) and logit0 = -mean(map0). By hand: for class 1 the weight of map 0 is
     * 1/64 and of map 1 is 0, so the Grad-CAM is relu(x)/max(x); for class 0 it is relu(-x/64) = 0.
     */
    static ComputationGraph quadrantNet() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(8, 8, 1))
                .addLayer("conv", new ConvolutionLayer.Builder(1, 1).nOut(2).activation(Activation.RELU).build(), "in")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "conv")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out").build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        net.getLayer("conv").setParam("W", Nd4j.create(new double[]{1, -1}, new long[]{2, 1, 1, 1}));
        net.getLayer("conv").setParam("b", Nd4j.zeros(DataType.DOUBLE, 1, 2));
        // W[in, out]: map 0 -> logit0 -1, logit1 +1; map 1 -> nothing
        net.getLayer("out").setParam("W", Nd4j.create(new double[][]{{-1, 1}, {0, 0}}));
        net.getLayer("out").setParam("b", Nd4j.zeros(DataType.DOUBLE, 1, 2));
        return net;
    }

    /** Evidence only in the top-left quadrant, graded 1..7 so the whole map can be checked. */
    static INDArray topLeftEvidence() {
        INDArray x = Nd4j.zeros(DataType.DOUBLE, 1, 1, 8, 8);
        for (int y = 0; y < 4; y++) {
            for (int c = 0; c < 4; c++) {
                x.putScalar(new long[]{0, 0, y, c}, 1 + y + c);
            }
        }
        return x;
    }

    @Test
    void peakFallsWhereTheEvidenceIsAndTheMapMatchesTheHandComputedOne() {
        ComputationGraph net = quadrantNet();
        INDArray x = topLeftEvidence();
        Heatmap h = new GradCam(net, null).compute(x, 1);
        assertEquals("conv", h.layer(), "default layer: the last rank-4 output before the global pool");
        assertEquals(1, h.classIndex());
        assertEquals(8, h.height());
        assertEquals(8, h.width());
        int[] peak = h.peak();
        assertTrue(peak[0] < 4 && peak[1] < 4, "peak in the top-left quadrant: " + peak[0] + "," + peak[1]);
        assertArrayEquals(new int[]{3, 3}, peak, "the brightest pixel (value 7)");
        for (int y = 0; y < 8; y++) {
            for (int c = 0; c < 8; c++) {
                double expected = (y < 4 && c < 4) ? (1 + y + c) / 7.0 : 0;
                assertEquals(expected, h.at(y, c), 1e-12, "at " + y + "," + c);
            }
        }
        // probability of class 1: softmax of (-m, m) with m = mean(x) = 64/64... computed by hand: sum 1..7 pattern = 64
        double m = 64.0 / 64;
        assertEquals(Math.exp(m) / (Math.exp(m) + Math.exp(-m)), h.probability(), 1e-12);

        Heatmap against = new GradCam(net, "conv").compute(x, 0);
        for (int y = 0; y < 8; y++) {
            for (int c = 0; c < 8; c++) {
                assertEquals(0, against.at(y, c), 0, "no location speaks for class 0");
            }
        }
        assertEquals(1, new GradCam(net, null).compute(x, -1).classIndex(), "-1 explains the predicted class");
    }

    @Test
    void bilinearUpsamplingAlignsPixelCentres() {
        double[][] up = GradCam.bilinear(new double[][]{{0, 1}, {0, 1}}, 4, 4);
        // source x for output x: (x + 0.5) * 2 / 4 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1
        assertArrayEquals(new double[]{0, 0.25, 0.75, 1}, up[0], 1e-12);
        assertArrayEquals(new double[]{0, 0.25, 0.75, 1}, up[3], 1e-12);
    }

    /**
     * A tail with everything the backward pass handles by hand (merge, inference batch norm, an
     * activation, max pooling, a preprocessor, dense layers), all of it frozen: the gradient of
     * logit1 - logit0 at the target must equal a central finite difference of log(p1 / p0), which
     * the network's own forward pass computes.
     */
    @Test
    void gradientThroughAFrozenTailMatchesFiniteDifferences() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.DOUBLE).seed(3)
                .weightInit(WeightInit.XAVIER).convolutionMode(ConvolutionMode.Same)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer("id", new ActivationLayer.Builder().activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "id")
                .addLayer("act", new ActivationLayer.Builder().activation(Activation.TANH).build(), "bn")
                .addVertex("cat", new MergeVertex(), "act", "id")
                .addLayer("pool", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build(), "cat")
                .addLayer("dense", new DenseLayer.Builder().nOut(5).activation(Activation.TANH).build(), "pool")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "dense")
                .setOutputs("out").build();
        ComputationGraph plain = new ComputationGraph(conf);
        plain.init();
        plain.getLayer("bn").setParam("mean", Nd4j.create(new double[]{0.3, -0.2}, new long[]{1, 2}));
        plain.getLayer("bn").setParam(plain.getLayer("bn").paramTable().containsKey("log10stdev") ? "log10stdev" : "var",
                plain.getLayer("bn").paramTable().containsKey("log10stdev")
                        ? Nd4j.create(new double[]{Math.log10(1.7), Math.log10(0.6)}, new long[]{1, 2})
                        : Nd4j.create(new double[]{1.7 * 1.7, 0.36}, new long[]{1, 2}));
        plain.getLayer("bn").setParam("gamma", Nd4j.create(new double[]{1.4, -0.8}, new long[]{1, 2}));
        ComputationGraph net = new TransferLearning.GraphBuilder(plain)
                .fineTuneConfiguration(new FineTuneConfiguration.Builder().build())
                .setFeatureExtractor("dense").build()
                .convertDataType(DataType.DOUBLE); // transfer learning rebuilds in float: back to double for the finite differences
        assertEquals(DataType.DOUBLE, net.params().dataType());
        assertTrue(net.getLayer("dense") instanceof org.deeplearning4j.nn.layers.FrozenLayer, "the tail is frozen");

        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.rand(DataType.DOUBLE, 1, 2, 6, 6).subi(0.5).muli(3);
        INDArray g1 = ClassScoreGradient.compute(net, x, "id", 1).gradient();
        INDArray g0 = ClassScoreGradient.compute(net, x, "id", 0).gradient();
        INDArray analytic = g1.sub(g0);
        double h = 1e-6;
        for (long i = 0; i < x.length(); i++) {
            INDArray xp = x.dup();
            xp.putScalar(i, x.getDouble(i) + h);
            INDArray xm = x.dup();
            xm.putScalar(i, x.getDouble(i) - h);
            double numeric = (logOdds(net, xp) - logOdds(net, xm)) / (2 * h);
            assertEquals(numeric, analytic.getDouble(i), 1e-7, "element " + i);
        }
        assertTrue(analytic.norm2Number().doubleValue() > 1e-3, "a gradient reached the target");
    }

    private static double logOdds(ComputationGraph net, INDArray x) {
        INDArray p = net.outputSingle(false, x.dup()); // DL4J's inference may work in place on its input
        return Math.log(p.getDouble(0, 1)) - Math.log(p.getDouble(0, 0));
    }

    @Test
    void aConvolutionAfterTheTargetOrAnUnknownLayerIsAOneLineError() {
        ComputationGraph net = quadrantNet();
        UserError unknown = assertThrows(UserError.class, () -> new GradCam(net, "nope").compute(topLeftEvidence(), 1));
        assertTrue(unknown.getMessage().contains("nope"), unknown.getMessage());
        UserError after = assertThrows(UserError.class, () -> new GradCam(net, "in").compute(topLeftEvidence(), 1));
        assertTrue(after.getMessage().contains("conv"), after.getMessage());
    }
}
