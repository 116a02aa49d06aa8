package org.xraydl.kernels;

import org.bytedeco.dnnl.dnnl_convolution_desc_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.kernels.OneDnn.Plan;
import org.xraydl.kernels.OneDnn.Plans;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.bytedeco.dnnl.global.dnnl.*;
import static org.xraydl.kernels.OneDnn.any;
import static org.xraydl.kernels.OneDnn.check;
import static org.xraydl.kernels.OneDnn.destroy;
import static org.xraydl.kernels.OneDnn.longs;
import static org.xraydl.kernels.OneDnn.md;
import static org.xraydl.kernels.OneDnn.query;
import static org.xraydl.kernels.OneDnn.userScratchpad;

/**
 * 2-D convolutions (forward; backward data and weights) through oneDNN's C API called directly
 * (JavaCPP's {@code org.bytedeco:dnnl} 2.5.2), with every primitive, reorder and intermediate buffer made once per
 * shape and kept. Why: libnd4j's {@code conv2d}/{@code conv2d_bp} ops create oneDNN's descriptors on every call,
 * reorder their output arrays into oneDNN's layout before writing them, reorder the output gradient twice and
 * let oneDNN pick Winograd for 3x3 backward passes even on 6x6 maps: per call at batch 32 on 2 cores that made
 * them 1.2-5x slower than the same convolution here (docs/benchmark/README.md). The arrays stay ND4J's (NCHW
 * input and output, DL4J's [oC, iC, kH, kW] weights): oneDNN reads and writes their buffers, reordering only
 * where its kernel wants another layout. Direct algorithm (no Winograd), float, no bias, groups 1.
 *
 * <p>One object serves one layer, one call at a time (DL4J serialises a network's calls; ParallelWrapper's workers
 * have layers of their own): its plans' oneDNN memories take the arrays' addresses per call. At most
 * {@value #MAX_PLANS} shapes a direction are kept per layer (training and validation batches, a last smaller
 * batch), the oldest freed first. The intermediate buffers are not per plan: every plan of a thread uses that
 * thread's {@link OneDnn.Scratch}, as large as the largest plan's needs ({@link DirectPooling}'s plans share it).
 * oneDNN 2.5.2's OpenMP dependency resolves to the libgomp ND4J has loaded, so both share one thread pool. A shape
 * oneDNN declines is left to the caller's fallback (DL4J's helper), with one warning.
 */
final class DirectConvolution {
    private static final Logger log = LoggerFactory.getLogger(DirectConvolution.class);
    /** System property: false keeps DL4J's oneDNN helper for every convolution. */
    static final String PROPERTY = "xraydl.directConv";
    private static final int MAX_PLANS = 6;

    private final dnnl_stream stream = OneDnn.stream();
    private final Plans forwardPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    private final Plans backwardPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    private final Plans weightsOnlyPlans = new Plans(MAX_PLANS, DirectConvolution::declined);

    private DirectConvolution() {
    }

    private static void declined(List<Long> key, String why) {
        log.warn("oneDNN declined a convolution ({}): DL4J's helper runs this shape", why);
    }

    /**
     * A new instance, or null where {@value #PROPERTY} is {@code false} (read at each call: layers made after a
     * change follow it) or oneDNN's Java bindings do not load here (then DL4J's helper stays, with one warning).
     */
    static DirectConvolution createIfAvailable() {
        return enabled() && available() ? new DirectConvolution() : null;
    }

    /** The {@value #PROPERTY} switch: {@code true} (default) or {@code false}; anything else is refused. */
    static boolean enabled() {
        String v = System.getProperty(PROPERTY, "true").trim();
        if (!v.equals("true") && !v.equals("false")) {
            throw new UserError("-D" + PROPERTY + "=" + v + " is not a setting: use true (oneDNN's convolutions called directly, the default) or false (DL4J's oneDNN helper)");
        }
        return v.equals("true");
    }

    static boolean available() {
        return OneDnn.available();
    }

    /** Whether these arrays and settings are the case handled here. */
    static boolean handles(INDArray input, INDArray weights, int[] stride, int[] dilation) {
        return input.dataType() == DataType.FLOAT && weights.dataType() == DataType.FLOAT && input.rank() == 4
                && weights.rank() == 4 && input.size(1) == weights.size(1) && dilation[0] == 1 && dilation[1] == 1
                && stride[0] >= 1 && stride[1] >= 1 && denseC(input) && denseC(weights);
    }

    static boolean denseC(INDArray a) {
        return OneDnn.denseC(a);
    }

    /**
     * out = conv(x, w) with top/left padding {@code pad} and bottom/right padding as {@code out}'s size implies.
     * False (nothing written) when oneDNN declined to build this shape's primitives: the caller runs its fallback.
     */
    boolean forward(INDArray x, INDArray w, int[] stride, int[] pad, INDArray out) {
        Plan plan = forwardPlans.get(key(x, w, out, stride, pad), () -> forwardPlan(x.shape(), w.shape(), out.shape(), stride, pad));
        if (plan == null) {
            return false;
        }
        plan.run(stream, x, w, out);
        return true;
    }

    /**
     * dx and dw (DL4J's [oC, iC, kH, kW] gradient view) of out = conv(x, w), given dy = dL/dout; false as
     * {@link #forward}.
     */
    boolean backward(INDArray x, INDArray w, INDArray dy, int[] stride, int[] pad, INDArray dx, INDArray dw) {
        Plan plan = backwardPlans.get(key(x, w, dy, stride, pad), () -> backwardPlan(x.shape(), w.shape(), dy.shape(), stride, pad));
        if (plan == null) {
            return false;
        }
        plan.run(stream, x, w, dy, dx, dw);
        return true;
    }

    /**
     * dw only (DL4J's [oC, iC, kH, kW] gradient view) of out = conv(x, w), given dy = dL/dout: for a layer whose input
     * gradient nothing reads (the stem, {@link FastConvolutionLayer#setInputGradientUnused}); false as {@link #forward}.
     */
    boolean backwardWeights(INDArray x, long[] wShape, INDArray dy, int[] stride, int[] pad, INDArray dw) {
        List<Long> k = key(x, wShape, dy, stride, pad);
        Plan plan = weightsOnlyPlans.get(k, () -> weightsOnlyPlan(x.shape(), wShape, dy.shape(), stride, pad));
        if (plan == null) {
            return false;
        }
        plan.run(stream, x, dy, dw);
        return true;
    }

    /** The plans kept for one direction (tests). */
    int plans(boolean forward) {
        return (forward ? forwardPlans : backwardPlans).size();
    }

    /** The weight-gradient-only plans kept (tests). */
    int weightsOnlyPlans() {
        return weightsOnlyPlans.size();
    }

    /** The bytes of oneDNN scratchpad the primitives of one direction's kept plans take from the thread's scratch area (tests). */
    long scratchpadBytes(boolean forward) {
        return (forward ? forwardPlans : backwardPlans).scratchpadBytes();
    }

    private static List<Long> key(INDArray x, INDArray w, INDArray y, int[] stride, int[] pad) {
        return key(x, w.shape(), y, stride, pad);
    }

    private static List<Long> key(INDArray x, long[] wShape, INDArray y, int[] stride, int[] pad) {
        List<Long> k = new ArrayList<>(16);
        for (long d : x.shape()) {
            k.add(d);
        }
        for (long d : wShape) {
            k.add(d);
        }
        k.add(y.size(2));
        k.add(y.size(3));
        k.add((long) stride[0]);
        k.add((long) stride[1]);
        k.add((long) pad[0]);
        k.add((long) pad[1]);
        return k;
    }

    private static long[] padRight(long[] x, long[] w, long[] y, int[] stride, int[] pad) {
        long[] r = new long[2];
        for (int i = 0; i < 2; i++) {
            r[i] = (y[2 + i] - 1) * stride[i] + w[2 + i] - x[2 + i] - pad[i];
            if (r[i] < 0 || pad[i] < 0) {
                throw new IllegalArgumentException("convolution sizes do not fit: input " + Arrays.toString(x) + ", weights "
                        + Arrays.toString(w) + ", output " + Arrays.toString(y) + ", stride " + Arrays.toString(stride)
                        + ", padding " + Arrays.toString(pad));
            }
        }
        return r;
    }

    private static dnnl_primitive_desc forwardPd(long[] x, long[] w, long[] y, int[] stride, int[] pad) {
        dnnl_convolution_desc_t d = new dnnl_convolution_desc_t();
        check(dnnl_convolution_forward_desc_init(d, dnnl_forward_training, dnnl_convolution_direct, any(x), any(w), null,
                any(y), longs(stride), longs(pad), padRight(x, w, y, stride, pad)), "forward descriptor");
        return pd(d, null);
    }

    private static Plan forwardPlan(long[] x, long[] w, long[] y, int[] stride, int[] pad) {
        dnnl_primitive_desc fwd = forwardPd(x, w, y, stride, pad);
        Plan p = new Plan(3); // user arrays: 0 = x, 1 = w, 2 = y
        dnnl_memory src = p.input(0, md(x, dnnl_nchw), query(fwd, dnnl_query_src_md));
        dnnl_memory wei = p.input(1, md(w, dnnl_oihw), query(fwd, dnnl_query_weights_md));
        dnnl_memory dst = p.output(2, md(y, dnnl_nchw), query(fwd, dnnl_query_dst_md));
        p.add(fwd, new int[]{DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, src, wei, dst);
        p.finishOutputs();
        destroy(fwd);
        return p;
    }

    private static Plan backwardPlan(long[] x, long[] w, long[] y, int[] stride, int[] pad) {
        dnnl_primitive_desc hint = forwardPd(x, w, y, stride, pad);
        long[] padR = padRight(x, w, y, stride, pad);
        dnnl_convolution_desc_t dataDesc = new dnnl_convolution_desc_t();
        check(dnnl_convolution_backward_data_desc_init(dataDesc, dnnl_convolution_direct, any(x), any(w), any(y),
                longs(stride), longs(pad), padR), "backward-data descriptor");
        dnnl_primitive_desc data = pd(dataDesc, hint);
        dnnl_primitive_desc weights = backwardWeightsPd(x, w, y, stride, pad, hint);
        Plan p = new Plan(5); // user arrays: 0 = x, 1 = w, 2 = dy, 3 = dx, 4 = dw
        dnnl_memory_desc_t userDy = md(y, dnnl_nchw);
        dnnl_memory_desc_t dataDy = query(data, dnnl_query_diff_dst_md);
        dnnl_memory_desc_t weightsDy = query(weights, dnnl_query_diff_dst_md);
        dnnl_memory dyForData = p.input(2, userDy, dataDy);
        // one reorder of dy when both primitives want the same layout
        dnnl_memory dyForWeights = dnnl_memory_desc_equal(dataDy, weightsDy) != 0 ? dyForData : p.input(2, userDy, weightsDy);
        dnnl_memory wei = p.input(1, md(w, dnnl_oihw), query(data, dnnl_query_weights_md));
        dnnl_memory src = p.input(0, md(x, dnnl_nchw), query(weights, dnnl_query_src_md));
        dnnl_memory dx = p.output(3, md(x, dnnl_nchw), query(data, dnnl_query_diff_src_md));
        dnnl_memory dw = p.output(4, md(w, dnnl_oihw), query(weights, dnnl_query_diff_weights_md));
        p.add(data, new int[]{DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}, dyForData, wei, dx);
        p.add(weights, new int[]{DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, src, dyForWeights, dw);
        p.finishOutputs();
        destroy(hint);
        destroy(data);
        destroy(weights);
        return p;
    }

    /** The weight-gradient primitive (no bias), with the forward's descriptor as oneDNN's hint. */
    private static dnnl_primitive_desc backwardWeightsPd(long[] x, long[] w, long[] y, int[] stride, int[] pad,
                                                         dnnl_primitive_desc hint) {
        dnnl_convolution_desc_t weightsDesc = new dnnl_convolution_desc_t();
        check(dnnl_convolution_backward_weights_desc_init(weightsDesc, dnnl_convolution_direct, any(x), any(w), null, any(y),
                longs(stride), longs(pad), padRight(x, w, y, stride, pad)), "backward-weights descriptor");
        return pd(weightsDesc, hint);
    }

    private static Plan weightsOnlyPlan(long[] x, long[] w, long[] y, int[] stride, int[] pad) {
        dnnl_primitive_desc hint = forwardPd(x, w, y, stride, pad);
        dnnl_primitive_desc weights = backwardWeightsPd(x, w, y, stride, pad, hint);
        Plan p = new Plan(3); // user arrays: 0 = x, 1 = dy, 2 = dw
        dnnl_memory src = p.input(0, md(x, dnnl_nchw), query(weights, dnnl_query_src_md));
        dnnl_memory dy = p.input(1, md(y, dnnl_nchw), query(weights, dnnl_query_diff_dst_md));
        dnnl_memory dw = p.output(2, md(w, dnnl_oihw), query(weights, dnnl_query_diff_weights_md));
        p.add(weights, new int[]{DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, src, dy, dw);
        p.finishOutputs();
        destroy(hint);
        destroy(weights);
        return p;
    }

    private static dnnl_primitive_desc pd(dnnl_convolution_desc_t d, dnnl_primitive_desc hint) {
        return OneDnn.primitiveDesc(d, userScratchpad, hint, "primitive descriptor");
    }
}
