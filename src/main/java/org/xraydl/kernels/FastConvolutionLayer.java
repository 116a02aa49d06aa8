package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's {@link ConvolutionLayer} without the second forward convolution of its backprop. DL4J
 * 1.0.0-M2.1's {@code backpropGradient} recomputes the layer's pre-activation output
 * ({@code preOutput4d}) only to pass it to the activation's backprop; for the identity activation
 * (every convolution of DenseNet, which puts batch norm and ReLU in separate layers) that backprop
 * returns the incoming gradient and reads the pre-activation only for its shape, which is the
 * gradient's shape. So here the gradient stands in for it: one convolution per layer and training
 * step less (27 of the compact DenseNet's 81 convolution calls a step), the same numbers.
 *
 * <p>Handled: identity activation, NCHW, no dropout or weight noise on the layer, a layer helper
 * (oneDNN) in place. Anything else, and DL4J's im2col path if the helper declines (it then computes
 * the im2col matrix itself when none is passed), runs DL4J's code unchanged. The configuration and
 * parameters are DL4J's: saved models are the same.
 */
public final class FastConvolutionLayer extends ConvolutionLayer {
    /** The gradient arriving at this layer, set only while {@link #backpropGradient} runs. */
    private INDArray incomingGradient;

    public FastConvolutionLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Whether this configuration is the case handled here (the helper is checked per call). */
    static boolean handles(org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
        return c.getClass() == org.deeplearning4j.nn.conf.layers.ConvolutionLayer.class
                && c.getActivationFn() instanceof ActivationIdentity
                && c.getIDropout() == null && c.getWeightNoise() == null
                && c.getCnn2dDataFormat() == CNN2DFormat.NCHW;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (getHelper() == null || !handles(layerConf())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        incomingGradient = epsilon;
        try {
            return super.backpropGradient(epsilon, workspaceMgr);
        } finally {
            incomingGradient = null;
        }
    }

    @Override
    protected Pair<INDArray, INDArray> preOutput4d(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        if (forBackprop && incomingGradient != null) {
            // ActivationIdentity.backprop(z, epsilon) checks z's shape and returns epsilon
            return new Pair<>(incomingGradient, null);
        }
        return super.preOutput4d(training, forBackprop, workspaceMgr);
    }
}
