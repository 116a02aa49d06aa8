package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * A convolution layer helper that runs the convolution through {@link DirectConvolution} (oneDNN's primitives
 * kept per shape) where it applies, and hands every other call to the helper DL4J chose (its oneDNN helper),
 * so the layer code around it is DL4J's own: same arrays in the same workspaces, same gradient map (weights
 * only: no bias here), same padding rules (Same mode: DL4J's top-left padding, the rest at the bottom/right).
 * Handled: NCHW float input and weights in dense C order, no bias, dilation 1. The numbers differ from the
 * libnd4j op's in rounding only (oneDNN's direct algorithm instead of its Winograd kernels where those were
 * chosen; tested against DL4J's own convolution).
 */
final class DirectConvHelper implements ConvolutionHelper {
    private final ConvolutionHelper fallback;
    private final DirectConvolution direct;
    private final boolean layerHasBias;
    /**
     * Set by {@link FastConvolutionLayer} around a training forward pass: keep the input's blocked copy for the
     * backward pass ({@link DirectConvolution}'s class comment), when {@link DirectConvolution#keepInputEnabled}.
     */
    private boolean trainingForward;

    DirectConvHelper(ConvolutionHelper fallback, DirectConvolution direct, boolean layerHasBias) {
        this.fallback = fallback;
        this.direct = direct;
        this.layerHasBias = layerHasBias;
    }

    /** See {@link #trainingForward}; returns the previous value (the caller restores it). */
    boolean setTrainingForward(boolean training) {
        boolean before = trainingForward;
        trainingForward = training;
        return before;
    }

    /** Forgets the blocked input kept from the last training forward pass (e.g. when the layer's input is cleared). */
    void dropKeptInput() {
        direct.dropKeptInput();
    }

    /** The direct convolution this helper runs (tests). */
    DirectConvolution direct() {
        return direct;
    }

    private boolean applies(INDArray input, INDArray weights, int[] strides, int[] dilation, CNN2DFormat format) {
        return !layerHasBias && format == CNN2DFormat.NCHW && DirectConvolution.handles(input, weights, strides, dilation);
    }

    @Override
    public INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                              ConvolutionLayer.AlgoMode mode, ConvolutionLayer.FwdAlgo fwdAlgo, ConvolutionMode convolutionMode,
                              int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        if (applies(input, weights, strides, dilation, format)) {
            int[] outSize;
            int[] padding = pad;
            int[] inSize = {(int) input.size(2), (int) input.size(3)};
            if (convolutionMode == ConvolutionMode.Same) {
                outSize = ConvolutionUtils.getOutputSize(input, kernel, strides, null, convolutionMode, dilation, format);
                padding = ConvolutionUtils.getSameModeTopLeftPadding(outSize, inSize, kernel, strides, dilation);
            } else {
                outSize = ConvolutionUtils.getOutputSize(input, kernel, strides, pad, convolutionMode, dilation, format);
            }
            INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(),
                    new long[]{input.size(0), weights.size(0), outSize[0], outSize[1]}, 'c');
            if (direct.forward(input, weights, strides, padding, out, trainingForward && DirectConvolution.keepInputEnabled())) {
                return out;
            }
        }
        direct.dropKeptInput(); // the fallback ran this forward pass: a kept copy is of an earlier one
        return fallback.preOutput(input, weights, bias, kernel, strides, pad, mode, fwdAlgo, convolutionMode, dilation,
                format, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray weights, INDArray bias, INDArray delta, int[] kernel,
                                                     int[] strides, int[] pad, INDArray biasGradView, INDArray weightGradView,
                                                     IActivation afn, ConvolutionLayer.AlgoMode mode,
                                                     ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo, ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
                                                     ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format,
                                                     LayerWorkspaceMgr workspaceMgr) {
        if (bias == null) {
            // DL4J hands a helper that is not its oneDNN one a dummy bias gradient for a layer without bias
            // (a cuDNN workaround); its oneDNN helper, the fallback here, expects none
            biasGradView = null;
        }
        if (applies(input, weights, strides, dilation, format)
                && DirectConvolution.denseC(delta) && DirectConvolution.denseC(weightGradView)) {
            int[] padding = pad;
            if (convolutionMode == ConvolutionMode.Same) {
                padding = ConvolutionUtils.getSameModeTopLeftPadding(new int[]{(int) delta.size(2), (int) delta.size(3)},
                        new int[]{(int) input.size(2), (int) input.size(3)}, kernel, strides, dilation);
            }
            INDArray gradAtInput = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
            if (direct.backward(input, weights, delta, strides, padding, gradAtInput, weightGradView)) {
                Gradient g = new DefaultGradient();
                g.gradientForVariable().put(ConvolutionParamInitializer.WEIGHT_KEY, weightGradView);
                return new Pair<>(g, gradAtInput);
            }
        }
        return fallback.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView, weightGradView,
                afn, mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format, workspaceMgr);
    }

    /**
     * Only the weight gradient, into {@code weightGradView}, for explicit (Truncate/Strict) padding {@code pad}; false
     * (nothing written) where the direct path does not apply or oneDNN declines: the caller runs its own path.
     */
    boolean weightGradientOnly(INDArray input, INDArray weights, INDArray delta, int[] strides, int[] pad, int[] dilation,
                               INDArray weightGradView) {
        return applies(input, weights, strides, dilation, CNN2DFormat.NCHW) && DirectConvolution.denseC(delta)
                && DirectConvolution.denseC(weightGradView)
                && direct.backwardWeights(input, weights.shape(), delta, strides, pad, weightGradView);
    }

    @Override
    public INDArray activate(INDArray z, IActivation afn, boolean training) {
        return fallback.activate(z, afn, training);
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return fallback.helperMemoryUse();
    }

    @Override
    public boolean checkSupported() {
        return fallback.checkSupported();
    }
}
