package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's {@link SubsamplingLayer} for 2-D max and average pooling on NCHW float data, running the
 * pooling op through an op context that chooses the native kernel: oneDNN's or libnd4j's own, as
 * {@link PoolingKernel#forProcess()} decides for this machine. The faster one depends on the CPU: for
 * plain (NCHW) memory the oneDNN in nd4j-native 1.0.0-M2.1 has a JIT kernel only from AVX-512
 * ({@code avx512_core}) up, 2-6x faster than libnd4j's; below that it falls back to its reference-style
 * {@code simple_nchw} pooling, ~6x slower than libnd4j's for a max pool's forward pass and 2-2.4x for its
 * backprop (numbers in {@link PoolingKernel}). DL4J's own layer always takes oneDNN when the build has it. DL4J calls the op directly
 * in its forward pass (there is no helper hook), so the op is the same ({@code maxpool2d}/{@code avgpool2d}
 * and their {@code _bp}), with the same arguments as DL4J's own code. With {@link PoolingKernel#DIRECT} (CPUs
 * without AVX-512) the layer runs {@link DirectPooling} instead (oneDNN's nChw8c kernels called directly) and the op
 * with libnd4j's kernel only for what that declines. The layer configuration and the saved model are unchanged.
 * Other pooling types, the legacy average divisor, NHWC and non-float data run DL4J's code.
 */
public final class FastPoolingLayer extends SubsamplingLayer {

    /** One op context per direction, reused like DL4J's own helpers do (a layer runs on one thread). */
    private OpContext forwardContext;
    private OpContext backpropContext;
    private final PoolingKernel kernel;
    /** For {@link PoolingKernel#DIRECT}, else null. */
    private final DirectPooling direct;

    /** With the process-wide kernel ({@link PoolingKernel#forProcess()}). */
    public FastPoolingLayer(NeuralNetConfiguration conf, DataType dataType) {
        this(conf, dataType, PoolingKernel.forProcess());
    }

    /** With the given kernel (tests); {@link PoolingKernel#DIRECT} where it cannot run here is {@link PoolingKernel#LIBND4J}. */
    FastPoolingLayer(NeuralNetConfiguration conf, DataType dataType, PoolingKernel kernel) {
        super(conf, dataType);
        this.direct = kernel == PoolingKernel.DIRECT ? DirectPooling.createIfAvailable() : null;
        this.kernel = kernel == PoolingKernel.DIRECT && direct == null ? PoolingKernel.LIBND4J : kernel;
    }

    /** The native kernel this layer runs where it does not hand over to DL4J's code. */
    public PoolingKernel kernel() {
        return kernel;
    }

    /**
     * For the layer report: the kernel's label, and with the direct kernels how many calls they handed to
     * libnd4j's kernel and how many max-pool backprops recomputed their forward pass (no kept workspace matched).
     */
    public String report() {
        if (direct == null) {
            return kernel.label();
        }
        String s = kernel.label();
        if (direct.declinedCalls() > 0) {
            s += ", libnd4j kernel for " + direct.declinedCalls() + " declined calls";
        }
        if (direct.recomputedForwards() > 0) {
            s += ", " + direct.recomputedForwards() + " backprops recomputed the forward pass";
        }
        return s;
    }

    /** The direct kernels of this layer, or null (tests). */
    DirectPooling direct() {
        return direct;
    }

    /**
     * Max pooling, and average pooling with DL4J's default divisor (the window's elements inside the input,
     * padding excluded). The legacy divisor
     * ({@code avgPoolIncludePadInDivisor}, pre-1.0 models) is left to DL4J: there libnd4j's own
     * {@code avgpool2d_bp} and oneDNN's disagree on the gradient next to the padding.
     */
    static boolean handles(org.deeplearning4j.nn.conf.layers.SubsamplingLayer conf) {
        boolean type = conf.getPoolingType() == PoolingType.MAX
                || (conf.getPoolingType() == PoolingType.AVG && !conf.isAvgPoolIncludePadInDivisor());
        return type && conf.getCnn2dDataFormat() == CNN2DFormat.NCHW;
    }

    private boolean handles(INDArray x) {
        return x.rank() == 4 && x.dataType() == DataType.FLOAT && dataType == DataType.FLOAT && handles(layerConf());
    }

    /** The op's integer arguments, as DL4J's SubsamplingLayer passes them. */
    private int[] args(int[] pad) {
        int[] kernel = layerConf().getKernelSize();
        int[] strides = layerConf().getStride();
        int[] dilation = layerConf().getDilation();
        boolean same = convolutionMode == ConvolutionMode.Same;
        // extra 0: for AVG, divide by the number of window elements inside the input, padding excluded (DL4J's
        // default; the legacy divisor, 1: kH*kW, is not handled here)
        return new int[]{kernel[0], kernel[1], strides[0], strides[1], pad[0], pad[1], dilation[0], dilation[1],
                same ? 1 : 0, 0, 0};
    }

    /**
     * The window for {@link DirectPooling}, with the top/left padding the op uses: the configured one, or in Same
     * mode DL4J's (and libnd4j's) top/left share of the padding for these sizes.
     */
    private DirectPooling.Window window(long[] inShape, long[] outShape) {
        int[] k = layerConf().getKernelSize();
        int[] s = layerConf().getStride();
        int[] d = layerConf().getDilation();
        int[] pad = layerConf().getPadding();
        if (convolutionMode == ConvolutionMode.Same) {
            pad = ConvolutionUtils.getSameModeTopLeftPadding(new int[]{(int) outShape[2], (int) outShape[3]},
                    new int[]{(int) inShape[2], (int) inShape[3]}, k, s, d);
        }
        return new DirectPooling.Window(layerConf().getPoolingType() == PoolingType.MAX, k[0], k[1], s[0], s[1], d[0], d[1],
                pad[0], pad[1]);
    }

    private String opName(boolean backprop) {
        String base = layerConf().getPoolingType() == PoolingType.MAX ? "maxpool2d" : "avgpool2d";
        return backprop ? base + "_bp" : base;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (direct != null) {
            direct.dropWorkspace(); // a forward pass that does not keep one leaves none for the next backprop
        }
        if (!handles(input)) {
            return super.activate(training, workspaceMgr);
        }
        int[] iArgs = args(layerConf().getPadding());
        DynamicCustomOp shapeOp = DynamicCustomOp.builder(opName(false)).addInputs(input).addIntegerArguments(iArgs).build();
        long[] shape = shapeOp.calculateOutputShape().get(0).getShape();
        INDArray output = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), shape, 'c');
        if (direct != null && direct.forward(input, window(input.shape(), shape), training, output)) {
            return output;
        }
        if (forwardContext == null) {
            forwardContext = Nd4j.getExecutioner().buildContext();
        }
        run(forwardContext, kernel, opName(false), iArgs, output, input);
        return output;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        if (!handles(input) || epsilon.dataType() != DataType.FLOAT) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        int[] pad = layerConf().getPadding();
        if (convolutionMode == ConvolutionMode.Same) { // as DL4J's backprop: explicit top-left padding
            pad = ConvolutionUtils.getSameModeTopLeftPadding(new int[]{(int) epsilon.size(2), (int) epsilon.size(3)},
                    new int[]{(int) input.size(2), (int) input.size(3)}, layerConf().getKernelSize(),
                    layerConf().getStride(), layerConf().getDilation());
        }
        INDArray epsAtInput = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
        if (direct != null && direct.backward(input, epsilon, window(input.shape(), epsilon.shape()), epsAtInput)) {
            return new Pair<>(new DefaultGradient(), epsAtInput);
        }
        if (backpropContext == null) {
            backpropContext = Nd4j.getExecutioner().buildContext();
        }
        run(backpropContext, kernel, opName(true), args(pad), epsAtInput, input, epsilon);
        return new Pair<>(new DefaultGradient(), epsAtInput);
    }

    private static void run(OpContext ctx, PoolingKernel kernel, String op, int[] iArgs, INDArray out, INDArray... inputs) {
        try {
            // true: the op's oneDNN platform implementation; false: libnd4j's own. A process-wide
            // Nd4j.getEnvironment().allowHelpers(false) still wins (libnd4j's kernel then, whatever the context says).
            ctx.allowHelpers(kernel.allowsHelpers());
            ctx.setIArguments(java.util.Arrays.stream(iArgs).asLongStream().toArray());
            for (int i = 0; i < inputs.length; i++) {
                ctx.setInputArray(i, inputs[i]);
            }
            ctx.setOutputArray(0, out);
            Nd4j.exec(DynamicCustomOp.builder(op).build(), ctx);
        } finally {
            ctx.purge();
        }
    }
}
