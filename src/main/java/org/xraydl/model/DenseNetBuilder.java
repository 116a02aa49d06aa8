package org.xraydl.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;

/**
 * Builds a DenseNet trunk as a DL4J ComputationGraph (DL4J's zoo has none). Vertex names follow
 * Keras' DenseNet121 ({@code conv1/conv}, {@code conv2_block1_1_conv}, {@code pool2_conv},
 * {@code bn}, {@code avg_pool}, ...) so ImageNet weights from a Keras .h5 map onto it by name.
 * The trunk ends in the global average pool {@link #FEATURES}; heads are added by {@link Heads}.
 */
public final class DenseNetBuilder {
    public static final String INPUT = "input";
    public static final String FEATURES = "avg_pool";
    /** Keras' BatchNormalization epsilon in DenseNet121. */
    private static final double BN_EPS = 1.001e-5;

    private DenseNetBuilder() {
    }

    /** Returns the graph builder with the trunk added; the caller adds the head and builds. */
    public static ComputationGraphConfiguration.GraphBuilder trunk(DenseNetSpec spec, int imageSize, int channels,
                                                                  long seed, Optimization optimization) {
        ComputationGraphConfiguration.GraphBuilder g = optimization.applyTo(new NeuralNetConfiguration.Builder())
                .seed(seed)
                .weightInit(WeightInit.RELU)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs(INPUT)
                .setInputTypes(InputType.convolutional(imageSize, imageSize, channels));

        // Stem: 7x7/2 conv (Keras pads 3 then 'valid'), BN, ReLU, 3x3/2 max pool (pad 1).
        g.addLayer("conv1/conv", new ConvolutionLayer.Builder(7, 7).stride(2, 2).padding(3, 3)
                .convolutionMode(ConvolutionMode.Truncate).nOut(spec.initFeatures()).hasBias(false)
                .activation(Activation.IDENTITY).build(), INPUT);
        g.addLayer("conv1/bn", bn(), "conv1/conv");
        g.addLayer("conv1/relu", relu(), "conv1/bn");
        g.addLayer("pool1", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(3, 3).stride(2, 2)
                .padding(1, 1).convolutionMode(ConvolutionMode.Truncate).build(), "conv1/relu");

        String last = "pool1";
        int channelsNow = spec.initFeatures();
        for (int b = 0; b < spec.blocks().size(); b++) {
            int stage = b + 2;
            for (int l = 1; l <= spec.blocks().get(b); l++) {
                String p = "conv" + stage + "_block" + l;
                g.addLayer(p + "_0_bn", bn(), last);
                g.addLayer(p + "_0_relu", relu(), p + "_0_bn");
                g.addLayer(p + "_1_conv", conv(1, 4 * spec.growthRate()), p + "_0_relu");
                g.addLayer(p + "_1_bn", bn(), p + "_1_conv");
                g.addLayer(p + "_1_relu", relu(), p + "_1_bn");
                g.addLayer(p + "_2_conv", conv(3, spec.growthRate()), p + "_1_relu");
                g.addVertex(p + "_concat", new MergeVertex(), last, p + "_2_conv");
                last = p + "_concat";
                channelsNow += spec.growthRate();
            }
            if (b < spec.blocks().size() - 1) {
                String p = "pool" + stage;
                channelsNow = (int) Math.floor(channelsNow * spec.compression());
                g.addLayer(p + "_bn", bn(), last);
                g.addLayer(p + "_relu", relu(), p + "_bn");
                g.addLayer(p + "_conv", conv(1, channelsNow), p + "_relu");
                g.addLayer(p + "_pool", new SubsamplingLayer.Builder(PoolingType.AVG).kernelSize(2, 2).stride(2, 2)
                        .convolutionMode(ConvolutionMode.Truncate).build(), p + "_conv");
                last = p + "_pool";
            }
        }
        g.addLayer("bn", bn(), last);
        g.addLayer("relu", relu(), "bn");
        g.addLayer(FEATURES, new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "relu");
        return g;
    }

    /** A DenseNet with the given head, initialised (random weights), trained by Adam at a constant rate. */
    public static ComputationGraph build(DenseNetSpec spec, int imageSize, int channels, long seed,
                                         double learningRate, HeadSpec head) {
        return build(spec, imageSize, channels, seed, Optimization.adam(learningRate), head);
    }

    /** A DenseNet with the given head, initialised (random weights). */
    public static ComputationGraph build(DenseNetSpec spec, int imageSize, int channels, long seed,
                                         Optimization optimization, HeadSpec head) {
        ComputationGraphConfiguration.GraphBuilder g = trunk(spec, imageSize, channels, seed, optimization);
        Heads.addTo(g, FEATURES, spec.outputChannels(), head);
        ComputationGraph net = new ComputationGraph(g.build());
        net.init();
        return net;
    }

    private static BatchNormalization bn() {
        return new BatchNormalization.Builder().eps(BN_EPS).build();
    }

    private static ActivationLayer relu() {
        return new ActivationLayer.Builder().activation(Activation.RELU).build();
    }

    private static ConvolutionLayer conv(int k, int nOut) {
        return new ConvolutionLayer.Builder(k, k).nOut(nOut).hasBias(false).activation(Activation.IDENTITY).build();
    }
}
