package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

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
 *
 * <p><b>Input gradient unused</b> ({@link #setInputGradientUnused}, switched on by {@link FastLayers}
 * for the convolution fed directly by the network input, the "stem"): nothing reads the gradient at
 * a network input (DL4J stores it on the input vertex and drops it), but DL4J's {@code conv2d_bp}
 * always computes it, and for 3 input channels oneDNN's backward-data kernel is a slow case (the
 * compact DenseNet's 7x7/2 stem: 11.7 of ~23 ms a step). In this mode the layer returns no input
 * gradient and computes only the weight gradient, with libnd4j's {@code deconv2d_bp}: the weight
 * gradient of a transposed convolution is the convolution's weight gradient with source and output
 * gradient swapped, and its other output (the deconvolution's data gradient, a forward convolution
 * of the input) is cheap. Same numbers as {@code conv2d_bp} (bit-identical in the tests). Only for
 * Truncate/Strict mode with explicit padding and dilation 1 (oneDNN's deconvolution declines
 * dilation; libnd4j's generic one would run, unmeasured); Same mode and the rest run the paths above.
 * Where the direct oneDNN path is in place ({@link DirectConvHelper}), oneDNN's backward-weights primitive alone
 * computes it instead (DenseNet-121's 7x7/2 stem at 128 px, batch 16: 9.4 vs 28-34 ms a call, the same bits;
 * {@code -Dxraydl.directStem=false} keeps deconv2d_bp).
 */
public final class FastConvolutionLayer extends ConvolutionLayer {
    /** The gradient arriving at this layer, set only while {@link #backpropGradient} runs. */
    private INDArray incomingGradient;
    /** Whether this layer's input gradient is never read (set by {@link FastLayers} from the graph's structure). */
    private boolean inputGradientUnused;
    /** One op context for the weight-gradient-only backprop, reused like DL4J's helpers do (a layer runs on one thread). */
    private OpContext weightGradientContext;

    public FastConvolutionLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        // DL4J's oneDNN helper (set by the constructor above) stays as the fallback of the direct path
        if (helper instanceof org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper) {
            DirectConvolution direct = DirectConvolution.createIfAvailable();
            if (direct != null) {
                helper = new DirectConvHelper(helper, direct, layerConf().hasBias());
            }
        }
    }

    /** Whether this configuration is the case handled here (the helper is checked per call). */
    static boolean handles(org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
        return c.getClass() == org.deeplearning4j.nn.conf.layers.ConvolutionLayer.class
                && c.getActivationFn() instanceof ActivationIdentity
                && c.getIDropout() == null && c.getWeightNoise() == null
                && c.getCnn2dDataFormat() == CNN2DFormat.NCHW;
    }

    /** Whether this configuration can skip its input gradient ({@link #setInputGradientUnused}): explicit padding, no dilation. */
    static boolean handlesWeightGradientOnly(org.deeplearning4j.nn.conf.layers.ConvolutionLayer c) {
        ConvolutionMode mode = c.getConvolutionMode();
        int[] dilation = c.getDilation();
        return handles(c) && (mode == ConvolutionMode.Truncate || mode == ConvolutionMode.Strict)
                && dilation[0] == 1 && dilation[1] == 1;
    }

    /**
     * Declares that nothing reads the gradient at this layer's input: from then on {@link #backpropGradient}
     * returns a null input gradient. Only for a layer whose input is a network input (see {@link FastLayers}).
     */
    void setInputGradientUnused(boolean unused) {
        this.inputGradientUnused = unused;
    }

    boolean isInputGradientUnused() {
        return inputGradientUnused;
    }

    /** What computes the weight-gradient-only backprop: "oneDNN" (the direct primitive) or "deconv2d_bp" (report). */
    String weightGradientOnlyKernel() {
        return getHelper() instanceof DirectConvHelper && directStem() ? "oneDNN" : "deconv2d_bp";
    }

    /** System property: false keeps libnd4j's deconv2d_bp for the weight-gradient-only stem even where the direct path runs. */
    static final String DIRECT_STEM_PROPERTY = "xraydl.directStem";

    private static boolean directStem() {
        return FastLayers.enabled(DIRECT_STEM_PROPERTY);
    }

    /** As DL4J decides whether to use its helper: present, and not switched off by an earlier failure. */
    private boolean helperInUse() {
        return getHelper() != null && (helperCountFail == 0 || !layerConf().isCudnnAllowFallback());
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (getHelper() == null || !handles(layerConf())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        if (inputGradientUnused && weightGradientOnlyApplies(epsilon)) {
            return weightGradientOnly(epsilon, workspaceMgr);
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

    /**
     * DL4J's forward pass; in training mode the direct path keeps the input's blocked copy for this layer's backprop
     * ({@link DirectConvolution}'s class comment, {@code -Dxraydl.keepBlockedInput=false} switches it off).
     */
    @Override
    protected Pair<INDArray, INDArray> preOutput(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        if (!(getHelper() instanceof DirectConvHelper direct)) {
            return super.preOutput(training, forBackprop, workspaceMgr);
        }
        boolean before = direct.setTrainingForward(training);
        try {
            return super.preOutput(training, forBackprop, workspaceMgr);
        } finally {
            direct.setTrainingForward(before);
        }
    }

    @Override
    public void clear() {
        super.clear();
        if (getHelper() instanceof DirectConvHelper direct) {
            direct.dropKeptInput(); // no input any more: nothing kept may be read for a later one
        }
    }

    private boolean weightGradientOnlyApplies(INDArray epsilon) {
        INDArray w = getParam(ConvolutionParamInitializer.WEIGHT_KEY);
        return helperInUse() && handlesWeightGradientOnly(layerConf()) && input != null && input.rank() == 4
                && dataType == DataType.FLOAT && input.dataType() == DataType.FLOAT
                && epsilon.rank() == 4 && epsilon.dataType() == DataType.FLOAT && w.dataType() == DataType.FLOAT
                && gradientViews != null && gradientViews.get(ConvolutionParamInitializer.WEIGHT_KEY) != null;
    }

    /**
     * The weight (and bias) gradient into DL4J's gradient views, no input gradient. The gradient map is
     * built as DL4J's oneDNN helper path builds it (bias, then weights; no weight noise or dropout here,
     * so nothing else of DL4J's backprop applies).
     */
    private Pair<Gradient, INDArray> weightGradientOnly(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        org.deeplearning4j.nn.conf.layers.ConvolutionLayer c = layerConf();
        INDArray weights = getParamWithNoise(ConvolutionParamInitializer.WEIGHT_KEY, true, workspaceMgr);
        INDArray weightGradView = gradientViews.get(ConvolutionParamInitializer.WEIGHT_KEY);
        // oneDNN's backward-weights primitive alone where the direct path runs (3x faster than deconv2d_bp at the
        // DenseNet-121 stem, which also computes a data gradient it drops), else libnd4j's deconv2d_bp
        if (!(getHelper() instanceof DirectConvHelper direct && directStem()
                && direct.weightGradientOnly(input, weights, epsilon, c.getStride(), c.getPadding(), c.getDilation(), weightGradView))) {
            if (weightGradientContext == null) {
                weightGradientContext = Nd4j.getExecutioner().buildContext();
            }
            weightGradient(weightGradientContext, input, weights, epsilon, c.getKernelSize(), c.getStride(), c.getPadding(),
                    c.getDilation(), weightGradView, workspaceMgr);
        }
        DefaultGradient g = new DefaultGradient();
        if (hasBias()) {
            INDArray biasGradView = gradientViews.get(ConvolutionParamInitializer.BIAS_KEY);
            epsilon.sum(biasGradView, 0, 2, 3);
            g.gradientForVariable().put(ConvolutionParamInitializer.BIAS_KEY, biasGradView);
        }
        g.gradientForVariable().put(ConvolutionParamInitializer.WEIGHT_KEY, weightGradView);
        return new Pair<>(g, null);
    }

    /**
     * The weight gradient of a Truncate/Strict-mode NCHW convolution ({@code x} [n, iC, H, W], weights
     * {@code w} [oC, iC, kH, kW] as DL4J keeps them, {@code gy} [n, oC, oH, oW] the gradient at its
     * output) into {@code gradW} [oC, iC, kH, kW], through {@code deconv2d_bp}.
     *
     * <p>Per spatial dimension (stride s, dilation d, kernel k, padding p, input size I, output size O):
     * the convolution reads input row {@code r = s*o + d*j - p} for output row o and tap j. A
     * deconvolution with padding p' maps its input row o and tap j to its output row {@code s*o + d*j - p'},
     * has output size {@code D - 2p'} with {@code D = s*(O-1) + d*(k-1) + 1}, and its weight gradient is
     * sum over n, o of {@code gy[o] * g[s*o + d*j - p']}, g being its output gradient (zero outside its
     * output). With {@code g = x'}, {@code x'[r + p - p'] = x[r]} and zeros elsewhere, that is the
     * convolution's weight gradient provided the rows the deconvolution cuts off are padding of the
     * convolution: {@code p' <= p} (top) and {@code D - p' - p >= I} (bottom). The largest such p' (at
     * least 0) keeps x' smallest; rows of x beyond {@code D - p} are never read (Truncate) and are left
     * out. When x' is x itself (e.g. 3x3, stride 1, padding 1) x is passed as it is.
     */
    static void weightGradient(OpContext ctx, INDArray x, INDArray w, INDArray gy, int[] kernel, int[] stride, int[] pad,
                               int[] dilation, INDArray gradW, LayerWorkspaceMgr workspaceMgr) {
        long[] deconvPad = new long[2];
        long[] size = new long[2];
        long[] shift = new long[2];
        long[] rows = new long[2];
        boolean xItself = true;
        for (int i = 0; i < 2; i++) {
            long in = x.size(2 + i);
            long out = gy.size(2 + i);
            long d = (out - 1) * stride[i] + (long) dilation[i] * (kernel[i] - 1) + 1; // deconvolution output size, padding 0
            deconvPad[i] = Math.max(0, Math.min(pad[i], d - pad[i] - in));
            size[i] = d - 2 * deconvPad[i];
            shift[i] = pad[i] - deconvPad[i];
            rows[i] = Math.min(in, size[i] - shift[i]);
            xItself &= shift[i] == 0 && size[i] == in;
        }
        INDArray shifted = x;
        if (!xItself) {
            shifted = workspaceMgr.create(ArrayType.BP_WORKING_MEM, x.dataType(), new long[]{x.size(0), x.size(1), size[0], size[1]}, 'c');
            if (rows[0] > 0 && rows[1] > 0) {
                shifted.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(shift[0], shift[0] + rows[0]),
                                NDArrayIndex.interval(shift[1], shift[1] + rows[1]))
                        .assign(x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, rows[0]),
                                NDArrayIndex.interval(0, rows[1])));
            }
        }
        // the deconvolution's data gradient (its input is gy): computed by the op, not used
        INDArray unused = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, gy.dataType(), gy.shape(), 'c');
        try {
            // oneDNN's deconvolution. (With dilation oneDNN's platform ops of M2.1 fail to create their primitives,
            // conv2d_bp's too, and deconv2d_bp's generic kernel calls conv2d with helpers as the environment allows:
            // the layer does not use this path with dilation; the tests run it with helpers off.)
            ctx.allowHelpers(true);
            // kernel, stride, padding p', dilation, 0 = not Same mode, 0 = NCHW,
            // 1 = weights [iC, oC, kH, kW] as the deconvolution sees them (its iC is the convolution's oC)
            ctx.setIArguments(kernel[0], kernel[1], stride[0], stride[1], deconvPad[0], deconvPad[1],
                    dilation[0], dilation[1], 0, 0, 1);
            ctx.setInputArray(0, gy);
            ctx.setInputArray(1, w);
            ctx.setInputArray(2, shifted);
            ctx.setOutputArray(0, unused);
            ctx.setOutputArray(1, gradW);
            Nd4j.exec(DynamicCustomOp.builder("deconv2d_bp").build(), ctx);
        } finally {
            ctx.purge();
        }
    }
}
