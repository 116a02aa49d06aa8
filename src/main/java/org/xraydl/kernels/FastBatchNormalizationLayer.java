package org.xraydl.kernels;

import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;

import java.util.concurrent.atomic.AtomicLong;

/**
 * DL4J's {@link BatchNormalization} layer with its training step and its inference forward pass done in
 * as few ND4J op calls as possible. Each op call costs tens of microseconds of serial Java/JNI overhead
 * besides its compute, and DL4J's layer plus a {@link FastBatchNormHelper} made ~29 of them per layer and training step,
 * most on tiny per-channel vectors (the global mean and log10-std "gradients", reading gamma and the
 * batch statistics back, assigning gradient views). Here, for training mode, NCHW, float, rank 4:
 * <ul>
 *   <li>forward: per-row sum(x) and sum(x^2) of the [N*C, H*W] view as matrix-vector products with a
 *       column of ones (BLAS gemv; x^2 first written into the output array, which the scaling then
 *       overwrites), then y = x*scale + shift as two broadcasting ops with [N*C, 1] factor columns;</li>
 *   <li>backward: sum(dy) and sum(dy*x) per row the same way (dy*x written into the working array that
 *       then takes b*x), dL/dx = a*dy + b*x + c per channel as two broadcasting multiplications, an
 *       add and a broadcasting add;</li>
 *   <li>everything per channel (statistics, gamma/beta gradients, DL4J's global mean and variance or
 *       log10-std "gradients" with their decay) in Java, reading and writing the parameter and gradient
 *       views element by element (no op), the per-row factors through reusable per-layer arrays.</li>
 * </ul>
 * That is 12 op calls per layer and step, all through one op context the layer keeps ({@link LayerOps}). Why gemv for the row reductions: libnd4j's {@code Dot} along a
 * dimension (used here before) is a scalar loop, its row {@code Sum} runs on one thread; on a 2-core AMD
 * EPYC (Zen 4) the gemv is 4-8x faster for the row sums, and product + gemv 1.3-3x faster for the row
 * dot products, at the plane sizes of the compact DenseNet (36-2304; docs/benchmark/README.md). The arithmetic is {@link FastBatchNormHelper}'s, and the
 * global statistics follow DL4J 1.0.0-M2.1's {@code backpropGradient} step by step in float (the
 * gradient is {@code (global - batch) * (1 - decay)} for the mean and variance, and
 * {@code log10(var / (decay*var + (1-decay)*batchVar)) / 2} for the log10 std, which DL4J's no-op
 * updater subtracts from the parameter). One extra float array, as long as the largest batch-norm
 * plane, holds the ones (shared by every layer of the process).
 *
 * <p>Where oneDNN's Java bindings load ({@link DirectEltwise}; {@code -Dxraydl.directEltwise=false} switches it off),
 * the per-channel passes are oneDNN primitives instead, over the NCHW arrays with per-channel factors: y = x*scale +
 * shift one {@code binary} pass (a multiplication with an add post-op), and dL/dx = (a*dy + b*x) + c two (w = x*b,
 * then dy*a + w + c): fewer passes over the activations, the same arithmetic in the same order (the same bits as
 * the broadcasting ops in the tests), 6 ND4J op calls per layer and training step (the reductions) and none for
 * inference. Where those primitives decline a shape, the broadcasting ops above run it.
 *
 * <p>Inference ({@code activate(false)}: validation, evaluation, prediction, serving, Grad-CAM), same
 * conditions: y = x*scale + shift as the two broadcasting ops, 2 op calls per layer (DL4J's layer: 4,
 * among them oneDNN's {@code batchnorm} op, 3-4x slower on NCHW than the two row passes). scale =
 * gamma / sqrt(var + eps) and shift = beta - mean*scale per channel in double from the global mean and
 * variance; with the log10 std, the variance is formed as DL4J M2.1's {@code preOutput} forms it before
 * its helper call ({@code pow(10, log10std)}, squared, both rounded to float). DL4J's {@code activate}
 * applies no activation function here, and the output is an {@code ACTIVATIONS} workspace array as in
 * DL4J's helper. Float rounding differs from oneDNN's (~1e-7 relative, tested).
 *
 * <p>Anything else runs DL4J's code unchanged (super calls): NHWC, other data types, lockGammaBeta, a
 * layer without a {@link FastBatchNormHelper}, a training batch whose mean dwarfs its spread (the
 * helper's exact two-pass fallback), and an inference call where a channel's global mean^2 exceeds
 * {@value FastBatchNormHelper#MAX_MEAN2_OVER_VAR} x its global variance (x*scale - mean*scale would
 * cancel; DL4J's {@code batchnorm} op subtracts the mean first). The configuration and parameters are
 * DL4J's: saved models are the same.
 */
public final class FastBatchNormalizationLayer extends BatchNormalization {
    /** Ones for the row sums, shared by all layers; only ever replaced by a larger buffer. */
    private static volatile DataBuffer sharedOnes;

    /** Whether the last training-mode forward pass ran here (so backprop must, too). */
    private boolean fastForward;
    private float[] batchMean;
    private float[] batchVar;
    private Scratch scratch;
    private RowFactors inferenceFactors;
    private LayerOps ops;
    /** oneDNN's primitives for the per-channel passes, null where switched off or unavailable (then ND4J's ops). */
    private DirectEltwise direct;
    /**
     * Shared statistics ({@link #sharePrefixStatistics}): the merge vertex this layer's input comes from, and the
     * batch-norm layer that normalises the merge's first input; null where not linked.
     */
    private GraphVertex prefixMerge;
    private FastBatchNormalizationLayer prefixSource;
    /** The input of this layer's last training forward and its per-channel sum(x), sum(x^2) (for a linked layer). */
    private INDArray statsInput;
    private double[] statsSum;
    private double[] statsSumSq;
    /** Training forwards that took their first channels' statistics from {@link #prefixSource}, process-wide. */
    private static final AtomicLong SHARED_STATISTICS = new AtomicLong();
    /** System property: false keeps the ReLU pass in the ReLU layer (read per call, see {@link #fuseRelu}). */
    static final String FUSE_RELU_PROPERTY = "xraydl.fuseBnRelu";
    /** The plain-ReLU layer that is this layer's only consumer ({@link #fuseRelu}), null where not linked. */
    private FastReluLayer fusedRelu;
    /** The output of the last training forward when the ReLU was applied in it, else null. */
    private INDArray reluAppliedOutput;
    /** Training forwards that applied their ReLU layer's ReLU themselves, process-wide. */
    private static final AtomicLong FUSED_RELU = new AtomicLong();

    public FastBatchNormalizationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        direct = DirectEltwise.createIfAvailable();
    }

    /** Whether the per-channel passes go to oneDNN's primitives ({@link DirectEltwise}) where they apply. */
    boolean usesDirectEltwise() {
        return direct != null;
    }

    /** Tests: the primitives this layer uses (null: ND4J's ops only). */
    void useDirectEltwise(DirectEltwise d) {
        direct = d;
    }

    /**
     * Links this layer to the batch norm {@code source} that normalises the first input of {@code merge}, the
     * vertex this layer's input comes from (DenseNet: a block's concatenation, whose first input the previous layer's
     * batch norm reads). The first channels of this layer's input are then that input, copied: a training forward
     * takes their sum(x) and sum(x^2) from {@code source}'s forward of the same pass and reduces only the merge's
     * other inputs (dense arrays: the growth channels), not the whole concatenation. Checked per call: the merge's
     * first input must be the very array {@code source} last reduced in training, the inputs of the same example count
     * and plane size, together this layer's channels; otherwise everything is reduced here.
     */
    void sharePrefixStatistics(GraphVertex merge, FastBatchNormalizationLayer source) {
        this.prefixMerge = merge;
        this.prefixSource = source;
    }

    boolean sharesPrefixStatistics() {
        return prefixSource != null;
    }

    /** How many training forwards took their first channels' statistics from another layer, process-wide. */
    public static long sharedStatistics() {
        return SHARED_STATISTICS.get();
    }

    /**
     * Links this layer to {@code relu}, the plain-ReLU layer that is its only consumer (DenseNet's pre-activation:
     * batch norm, ReLU, convolution). A training forward then writes relu(x*scale + shift) in its one scaling pass
     * (oneDNN's binary primitive with a ReLU post-op, {@link DirectEltwise#scaleShiftRelu}) and {@code relu} hands that
     * array on without a pass of its own ({@link FastReluLayer#activate}). Checked per call, otherwise the exact
     * unfused pair runs: the switch {@value #FUSE_RELU_PROPERTY} is on, oneDNN's primitives are in use, and y = x*scale
     * + shift can be neither NaN nor -0 (the two inputs where oneDNN's ReLU, which gives +0, and libnd4j's, which keeps
     * them, differ): every channel's sum(x) and sum(x^2) of this batch finite (so no NaN or infinite input), scale
     * and shift finite, no shift -0 (y is -0 only for x*scale = -0 and shift = -0). So a diverging run still shows
     * NaN: its batch takes the unfused path, whose ReLU keeps NaN. Inference ({@code activate(false)}) is never fused:
     * nothing there shows a NaN input without a pass over it. Null unlinks.
     */
    void fuseRelu(FastReluLayer relu) {
        this.fusedRelu = relu;
    }

    boolean fusesRelu() {
        return fusedRelu != null;
    }

    /** The output of this layer's last training forward if it had the ReLU applied (the same object), else null. */
    INDArray reluAppliedOutput() {
        return reluAppliedOutput;
    }

    /** How many training forwards applied their ReLU layer's ReLU themselves, process-wide. */
    public static long fusedRelus() {
        return FUSED_RELU.get();
    }

    static boolean fuseReluEnabled() {
        return FastLayers.enabled(FUSE_RELU_PROPERTY);
    }

    /** Whether this configuration is the case handled here (helper, data type and input are checked per call). */
    static boolean handles(org.deeplearning4j.nn.conf.layers.BatchNormalization c) {
        return c.getClass() == org.deeplearning4j.nn.conf.layers.BatchNormalization.class
                && !c.isLockGammaBeta() && c.getCnn2DFormat() == CNN2DFormat.NCHW;
    }

    private boolean handlesCall(INDArray x) {
        org.deeplearning4j.nn.conf.layers.BatchNormalization c = layerConf();
        return getHelper() instanceof FastBatchNormHelper && helperCountFail == 0 && handles(c)
                && dataType == DataType.FLOAT && x != null && x.dataType() == DataType.FLOAT && x.rank() == 4
                && x.size(1) == c.getNOut() && x.length() > 0;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        reluAppliedOutput = null;
        if (!training) {
            // DL4J's activate(false) is assertInputSet(false) and preOutput(input, TEST): no activation function
            INDArray out = handlesCall(input) ? inference(input, workspaceMgr) : null;
            // null: not handled here, or a global mean that dwarfs the global spread
            return out != null ? out : super.activate(false, workspaceMgr);
        }
        statsInput = null;
        if (!handlesCall(input)) {
            fastForward = false;
            return super.activate(true, workspaceMgr);
        }
        assertInputSet(false);
        INDArray out = forward(input, workspaceMgr);
        fastForward = out != null;
        // null: a channel's mean dwarfs its spread, DL4J's layer with the helper's exact variance
        return out != null ? out : super.activate(true, workspaceMgr);
    }

    /**
     * Inference with the global statistics: y = x*scale + shift per channel as two per-row ops, the per-channel
     * factors in double from the parameters, the variance from the log10 std as DL4J M2.1's {@code preOutput}
     * forms it before calling its helper ({@code pow(10, log10std)} in float, squared in float), eps added to it
     * as in the helper's {@code batchnorm} op. Null if a channel's global mean^2 exceeds
     * {@value FastBatchNormHelper#MAX_MEAN2_OVER_VAR} x its global variance (x*scale - mean*scale would cancel).
     */
    private INDArray inference(INDArray x, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        org.deeplearning4j.nn.conf.layers.BatchNormalization conf = layerConf();
        INDArray in = FastBatchNormHelper.contiguous(x);
        int n = (int) in.size(0);
        int c = (int) in.size(1);
        long plane = in.size(2) * in.size(3);
        float[] m = read(getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN), c);
        float[] v;
        if (conf.isUseLogStd()) {
            v = read(getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD), c);
            for (int ch = 0; ch < c; ch++) {
                float std = (float) Math.pow(10.0, v[ch]); // Transforms.pow(valueArrayOf(10), log10std)
                v[ch] = std * std;                          // var.muli(var)
            }
        } else {
            v = read(getParam(BatchNormalizationParamInitializer.GLOBAL_VAR), c);
        }
        for (int ch = 0; ch < c; ch++) {
            double mu = m[ch];
            if (!(mu * mu <= FastBatchNormHelper.MAX_MEAN2_OVER_VAR * v[ch])) {
                return null;
            }
        }
        double eps = conf.getEps();
        float[] g = read(getParam(BatchNormalizationParamInitializer.GAMMA), c);
        float[] b = read(getParam(BatchNormalizationParamInitializer.BETA), c);
        FastBatchNormHelper.ForwardTerms t = FastBatchNormHelper.ForwardTerms.of(g, b, m, v, eps);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, in.dataType(), in.shape());
        if (direct != null && direct.scaleShift(in, t.scale(), t.shift(), out)) {
            return out;
        }
        RowFactors f = inferenceFactors(n, c);
        LayerOps o = ops();
        INDArray rows = in.reshape('c', (long) n * c, plane);
        INDArray outRows = out.reshape('c', (long) n * c, plane);
        o.multiply(rows, f.perRow(f.scale, t.scale()), outRows);
        o.add(outRows, f.perRow(f.shift, t.shift()), outRows);
        return out;
    }

    private INDArray forward(INDArray x, LayerWorkspaceMgr workspaceMgr) {
        INDArray in = FastBatchNormHelper.contiguous(x);
        int n = (int) in.size(0);
        int c = (int) in.size(1);
        long plane = in.size(2) * in.size(3);
        Scratch s = scratch(n, c, plane);
        LayerOps o = ops();
        INDArray rows = in.reshape('c', (long) n * c, plane);
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, in.dataType(), in.shape());
        INDArray outRows = out.reshape('c', (long) n * c, plane);
        double[] sum;
        double[] sumSq;
        int prefix = prefixChannels(n, c, plane);
        if (prefix > 0) {
            // the first channels' totals from the linked layer; the rest from the merge's other inputs, which are
            // this input's remaining channels (dense arrays: the same row sums as on the rows of this input)
            sum = java.util.Arrays.copyOf(prefixSource.statsSum, c);
            sumSq = java.util.Arrays.copyOf(prefixSource.statsSumSq, c);
            INDArray[] parts = prefixMerge.getInputs();
            int ch0 = prefix;
            for (int i = 1; i < parts.length; i++) {
                int g = (int) parts[i].size(1);
                long partRows = (long) n * g;
                INDArray partRowsView = parts[i].reshape('c', partRows, plane);
                INDArray product = workspaceMgr.createUninitialized(ArrayType.FF_WORKING_MEM, DataType.FLOAT, new long[]{partRows, plane}, 'c');
                double[] partSum = FastBatchNormHelper.perChannelTotals(s.rowSums(o, partRowsView, new float[(int) partRows]), n, g);
                double[] partSumSq = FastBatchNormHelper.perChannelTotals(
                        s.rowDots(o, partRowsView, partRowsView, product, new float[(int) partRows]), n, g);
                System.arraycopy(partSum, 0, sum, ch0, g);
                System.arraycopy(partSumSq, 0, sumSq, ch0, g);
                ch0 += g;
            }
            SHARED_STATISTICS.incrementAndGet();
        } else {
            sum = FastBatchNormHelper.perChannelTotals(s.rowSums(o, rows, s.a), n, c);
            // x^2 goes into the output array first; the scaling below overwrites it
            sumSq = FastBatchNormHelper.perChannelTotals(s.rowDots(o, rows, rows, outRows, s.b), n, c);
        }
        statsInput = x;
        statsSum = sum;
        statsSumSq = sumSq;
        double count = (double) n * plane;
        float[] m = new float[c];
        float[] v = new float[c];
        for (int ch = 0; ch < c; ch++) {
            double mu = sum[ch] / count;
            double variance = Math.max(0.0, sumSq[ch] / count - mu * mu);
            if (mu * mu > FastBatchNormHelper.MAX_MEAN2_OVER_VAR * variance) {
                return null;
            }
            m[ch] = (float) mu;
            v[ch] = (float) variance;
        }
        batchMean = m;
        batchVar = v;
        double eps = layerConf().getEps();
        float[] g = read(getParam(BatchNormalizationParamInitializer.GAMMA), c);
        float[] b = read(getParam(BatchNormalizationParamInitializer.BETA), c);
        FastBatchNormHelper.ForwardTerms t = FastBatchNormHelper.ForwardTerms.of(g, b, m, v, eps);
        if (fusedRelu != null && direct != null && fuseReluEnabled() && reluSafe(sum, sumSq, t.scale(), t.shift())
                && direct.scaleShiftRelu(in, t.scale(), t.shift(), out)) {
            reluAppliedOutput = out;
            FUSED_RELU.incrementAndGet();
            return out;
        }
        if (direct == null || !direct.scaleShift(in, t.scale(), t.shift(), out)) {
            o.multiply(rows, s.perRow(s.f1, t.scale()), outRows);
            o.add(outRows, s.perRow(s.f2, t.shift()), outRows);
        }
        return out;
    }

    /**
     * Whether y = x*scale + shift can be neither NaN nor -0 in this batch: the per-channel totals finite (a NaN or
     * infinite x makes its row's sum(x) or sum(x^2) NaN or infinite), the factors finite (finite x times a finite
     * scale may overflow to an infinity, plus a finite shift stays infinite, never NaN), no shift -0 (a sum of two
     * floats is -0 only when both are -0).
     */
    static boolean reluSafe(double[] sum, double[] sumSq, float[] scale, float[] shift) {
        for (int ch = 0; ch < scale.length; ch++) {
            if (!Double.isFinite(sum[ch]) || !Double.isFinite(sumSq[ch]) || !Float.isFinite(scale[ch]) || !Float.isFinite(shift[ch])
                    || Float.floatToRawIntBits(shift[ch]) == Integer.MIN_VALUE) {
                return false;
            }
        }
        return true;
    }

    /**
     * How many leading channels of this training forward's input (n examples, c channels, plane) have their totals in
     * {@link #prefixSource}: the merge's first input is the array that layer last reduced in training (the same
     * object, so the same pass), with n examples of the same plane size and fewer channels; 0 where not.
     */
    private int prefixChannels(int n, int c, long plane) {
        if (prefixSource == null || !sharedStatisticsEnabled()) {
            return 0;
        }
        INDArray[] mergeInputs = prefixMerge.getInputs();
        INDArray first = mergeInputs == null || mergeInputs.length < 2 ? null : mergeInputs[0];
        INDArray reduced = prefixSource.statsInput;
        if (first == null || first != reduced || first.rank() != 4 || first.size(0) != n
                || first.size(2) * first.size(3) != plane || first.size(1) >= c || prefixSource.statsSum.length != first.size(1)) {
            return 0;
        }
        long channels = first.size(1);
        for (int i = 1; i < mergeInputs.length; i++) {
            INDArray part = mergeInputs[i];
            if (part == null || part.rank() != 4 || part.dataType() != DataType.FLOAT || !OneDnn.denseC(part)
                    || part.size(0) != n || part.size(2) * part.size(3) != plane) {
                return 0;
            }
            channels += part.size(1);
        }
        return channels == c ? (int) first.size(1) : 0;
    }

    /** System property: false reduces every channel in every batch-norm layer (no statistics taken from another layer). */
    static final String SHARED_STATISTICS_PROPERTY = "xraydl.bnSharedStats";

    static boolean sharedStatisticsEnabled() {
        return FastLayers.enabled(SHARED_STATISTICS_PROPERTY);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (!fastForward) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        assertInputSet(true);
        org.deeplearning4j.nn.conf.layers.BatchNormalization conf = layerConf();
        INDArray x = FastBatchNormHelper.contiguous(input);
        INDArray dy = FastBatchNormHelper.contiguous(epsilon.castTo(DataType.FLOAT));
        if (!java.util.Arrays.equals(x.shape(), dy.shape())) {
            throw new IllegalStateException("batch norm " + layerId() + ": gradient shape " + java.util.Arrays.toString(dy.shape())
                    + " differs from the input's " + java.util.Arrays.toString(x.shape()));
        }
        int n = (int) x.size(0);
        int c = (int) x.size(1);
        long plane = x.size(2) * x.size(3);
        Scratch s = scratch(n, c, plane);
        LayerOps o = ops();
        INDArray xRows = x.reshape('c', (long) n * c, plane);
        INDArray dyRows = dy.reshape('c', (long) n * c, plane);
        INDArray xTerm = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, x.dataType(), x.shape());
        INDArray xTermRows = xTerm.reshape('c', (long) n * c, plane);
        double[] sumDy = FastBatchNormHelper.perChannelTotals(s.rowSums(o, dyRows, s.a), n, c);
        // dy*x goes into the x-term array first; the scaling below overwrites it
        double[] sumDyX = FastBatchNormHelper.perChannelTotals(s.rowDots(o, dyRows, xRows, xTermRows, s.b), n, c);
        float[] mean = batchMean;
        float[] var = batchVar;
        float[] g = read(getParam(BatchNormalizationParamInitializer.GAMMA), c);
        double eps = conf.getEps();
        // the per-channel terms of FastBatchNormHelper's backprop (x itself is the x-term here)
        FastBatchNormHelper.BackwardTerms t = FastBatchNormHelper.BackwardTerms.of(sumDy, sumDyX, mean, var, g, eps,
                (double) n * plane, false);
        INDArray dGammaView = gradientViews.get(BatchNormalizationParamInitializer.GAMMA);
        INDArray dBetaView = gradientViews.get(BatchNormalizationParamInitializer.BETA);
        write(dGammaView, t.dGamma());
        write(dBetaView, t.dBeta());

        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, x.dataType(), x.shape());
        if (direct == null || !direct.batchNormBackward(dy, x, t.scaleDy(), t.scaleX(), t.shift(), xTerm, dx)) {
            INDArray dxRows = dx.reshape('c', (long) n * c, plane);
            o.multiply(dyRows, s.perRow(s.f1, t.scaleDy()), dxRows);
            o.multiply(xRows, s.perRow(s.f2, t.scaleX()), xTermRows);
            o.add(dxRows, xTermRows, dxRows);
            o.add(dxRows, s.perRow(s.f3, t.shift()), dxRows);
        }

        Gradient grad = new DefaultGradient();
        grad.setGradientFor(BatchNormalizationParamInitializer.GAMMA, dGammaView);
        grad.setGradientFor(BatchNormalizationParamInitializer.BETA, dBetaView);
        globalStatisticsGradients(grad, c);
        return new Pair<>(grad, dx);
    }

    /**
     * DL4J 1.0.0-M2.1's global mean and variance (or log10 std) "gradients" after a helper's backprop,
     * op by op in float: each ND4J op rounds its float result, and Java's float arithmetic does the same.
     */
    private void globalStatisticsGradients(Gradient grad, int c) {
        org.deeplearning4j.nn.conf.layers.BatchNormalization conf = layerConf();
        double decay = conf.getDecay();
        float oneMinusDecay = (float) (1.0 - decay);
        float[] globalMean = read(getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN), c);
        float[] dMean = new float[c];
        for (int ch = 0; ch < c; ch++) {
            dMean[ch] = (globalMean[ch] - batchMean[ch]) * oneMinusDecay; // SubOp, then muli(1 - decay)
        }
        INDArray dMeanView = gradientViews.get(BatchNormalizationParamInitializer.GLOBAL_MEAN);
        write(dMeanView, dMean);
        grad.setGradientFor(BatchNormalizationParamInitializer.GLOBAL_MEAN, dMeanView);
        float[] out = new float[c];
        if (conf.isUseLogStd()) {
            float[] log10Std = read(getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD), c);
            float decayF = (float) decay;
            float oneOn2Loge10 = (float) ONE_ON_2LOGE_10;
            for (int ch = 0; ch < c; ch++) {
                float vari = (float) Math.pow(10.0, log10Std[ch]); // pow(10, log10std)
                vari = vari * vari;                                 // vari.muli(vari)
                float varip1 = vari * decayF + batchVar[ch] * oneMinusDecay;
                float ratio = vari / varip1;                        // DivOp
                out[ch] = (float) Math.log(ratio) * oneOn2Loge10;   // log, muli(1 / (2 ln 10))
            }
            INDArray view = gradientViews.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
            write(view, out);
            grad.setGradientFor(BatchNormalizationParamInitializer.GLOBAL_LOG_STD, view);
        } else {
            float[] globalVar = read(getParam(BatchNormalizationParamInitializer.GLOBAL_VAR), c);
            for (int ch = 0; ch < c; ch++) {
                out[ch] = (globalVar[ch] - batchVar[ch]) * oneMinusDecay;
            }
            INDArray view = gradientViews.get(BatchNormalizationParamInitializer.GLOBAL_VAR);
            write(view, out);
            grad.setGradientFor(BatchNormalizationParamInitializer.GLOBAL_VAR, view);
        }
    }

    /** The values of a per-channel parameter or gradient view, without an ND4J op. */
    static float[] read(INDArray v, int length) {
        if (v.length() != length) {
            throw new IllegalStateException("expected " + length + " values, got shape " + java.util.Arrays.toString(v.shape()));
        }
        float[] out = new float[length];
        if (v.dataType() == DataType.FLOAT && v.elementWiseStride() == 1) {
            ((FloatIndexer) v.data().indexer()).get(0, out); // a view's buffer starts at the view
        } else {
            for (int i = 0; i < length; i++) {
                out[i] = v.getFloat(i);
            }
        }
        return out;
    }

    /** Writes per-channel values into a parameter or gradient view, without an ND4J op. */
    static void write(INDArray v, float[] values) {
        if (v.length() != values.length) {
            throw new IllegalStateException("expected " + values.length + " values, got shape " + java.util.Arrays.toString(v.shape()));
        }
        if (v.dataType() == DataType.FLOAT && v.elementWiseStride() == 1) {
            ((FloatIndexer) v.data().indexer()).put(0, values);
        } else {
            for (int i = 0; i < values.length; i++) {
                v.putScalar(i, values[i]);
            }
        }
    }

    /** A [plane, 1] column of ones, a view of the process-wide buffer (grown, never shrunk). */
    private static synchronized INDArray onesColumn(long plane) {
        if (sharedOnes == null || sharedOnes.length() < plane) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                DataBuffer buf = Nd4j.createBuffer(DataType.FLOAT, plane, false);
                FloatIndexer idx = (FloatIndexer) buf.indexer();
                for (long i = 0; i < plane; i++) {
                    idx.put(i, 1f);
                }
                sharedOnes = buf;
            }
        }
        return Nd4j.create(sharedOnes, new long[]{plane, 1}, new long[]{1, 1}, 0, 'c');
    }

    private LayerOps ops() {
        if (ops == null) {
            ops = new LayerOps();
        }
        return ops;
    }

    private Scratch scratch(int examples, int channels, long plane) {
        if (scratch == null || scratch.examples != examples || scratch.channels != channels || scratch.plane != plane) {
            scratch = new Scratch(examples, channels, plane);
        } else if (scratch.ones.data() != sharedOnes) {
            // another layer grew the shared buffer: let go of the old one
            scratch.ones = onesColumn(plane);
        }
        return scratch;
    }

    private RowFactors inferenceFactors(int examples, int channels) {
        if (inferenceFactors == null || inferenceFactors.examples != examples || inferenceFactors.channels != channels) {
            inferenceFactors = new RowFactors(examples, channels);
        }
        return inferenceFactors;
    }

    /** Inference's per-row scale and shift arrays, reused from call to call (outside any workspace; no ones). */
    private static final class RowFactors {
        final int examples;
        final int channels;
        final INDArray scale;
        final INDArray shift;
        final float[] perRow;

        RowFactors(int examples, int channels) {
            this.examples = examples;
            this.channels = channels;
            int rows = examples * channels;
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                scale = Nd4j.createUninitialized(DataType.FLOAT, rows, 1);
                shift = Nd4j.createUninitialized(DataType.FLOAT, rows, 1);
            }
            perRow = new float[rows];
        }

        /** The per-channel values repeated for each example, written into {@code target}. */
        INDArray perRow(INDArray target, float[] perChannel) {
            for (int i = 0; i < examples; i++) {
                System.arraycopy(perChannel, 0, perRow, i * channels, channels);
            }
            ((FloatIndexer) target.data().indexer()).put(0, perRow);
            return target;
        }
    }

    /** Per-layer arrays reused from call to call (outside any workspace): no native allocation per step. */
    private static final class Scratch {
        final int examples;
        final int channels;
        final long plane;
        INDArray ones;
        final INDArray dotOut;
        final INDArray f1;
        final INDArray f2;
        final INDArray f3;
        final float[] a;
        final float[] b;
        final float[] perRow;

        Scratch(int examples, int channels, long plane) {
            this.examples = examples;
            this.channels = channels;
            this.plane = plane;
            int rows = examples * channels;
            this.ones = FastBatchNormalizationLayer.onesColumn(plane);
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                dotOut = Nd4j.zeros(DataType.FLOAT, rows, 1);
                f1 = Nd4j.createUninitialized(DataType.FLOAT, rows, 1);
                f2 = Nd4j.createUninitialized(DataType.FLOAT, rows, 1);
                f3 = Nd4j.createUninitialized(DataType.FLOAT, rows, 1);
            }
            a = new float[rows];
            b = new float[rows];
            perRow = new float[rows];
        }

        /**
         * The row sums of a [rows, plane] array (a matrix-vector product with the ones), into {@code out} (rows long):
         * this layer's input rows, or fewer (a merge input's, for shared statistics).
         */
        float[] rowSums(LayerOps o, INDArray x, float[] out) {
            INDArray sums = sumsColumn(x.size(0));
            o.matmul(x, ones, sums);
            ((FloatIndexer) sums.data().indexer()).get(0, out);
            return out;
        }

        /** Fewer rows than this layer's input: a second column kept for that count. */
        private INDArray partSums;

        private INDArray sumsColumn(long rows) {
            if (rows == dotOut.size(0)) {
                return dotOut;
            }
            if (partSums == null || partSums.length() != rows) {
                try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                    partSums = Nd4j.zeros(DataType.FLOAT, rows, 1);
                }
            }
            return partSums;
        }

        /** The row-wise dot products of two [rows, plane] arrays: x*y into {@code product}, then its row sums. */
        float[] rowDots(LayerOps o, INDArray x, INDArray y, INDArray product, float[] out) {
            o.multiply(x, y, product);
            return rowSums(o, product, out);
        }

        /** The per-channel values repeated for each example, written into {@code target}. */
        INDArray perRow(INDArray target, float[] perChannel) {
            for (int i = 0; i < examples; i++) {
                System.arraycopy(perChannel, 0, perRow, i * channels, channels);
            }
            ((FloatIndexer) target.data().indexer()).put(0, perRow);
            return target;
        }
    }
}
