package org.xraydl.kernels;

import org.bytedeco.dnnl.dnnl_convolution_desc_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.kernels.OneDnn.Plan;
import org.xraydl.kernels.OneDnn.Plans;
import org.xraydl.kernels.OneDnn.Scratch;

import java.lang.ref.Cleaner;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

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
 *
 * <p><b>The forward's blocked input kept for the backward pass</b> ({@code keepInput} of {@link #forward}, asked for by
 * {@link FastConvolutionLayer} in training mode; {@code -D}{@value #KEEP_INPUT_PROPERTY}{@code =false} switches it off,
 * read per call). The forward pass reorders the NCHW input into the blocked layout its primitive wants (nChw8c on
 * AVX2); the backward-weights primitive wants the same copy of the same array. A training forward therefore writes
 * that copy into a buffer of this object (grown to the largest shape, kept between steps; its size is
 * {@link #keptInputBytes()} over all layers) instead of the per-thread scratch area, and {@link #backward} reads it
 * instead of reordering the input again: one reorder of the layer input less per layer and step, the same bits (a
 * reorder is an exact copy). All layers' buffers together stay within {@code -D}{@value #KEEP_INPUT_BUDGET_PROPERTY}
 * (MB, default {@value #DEFAULT_KEEP_INPUT_BUDGET_MB}); a layer whose copy does not fit reorders again. The copy is
 * used only for the array it was made from: the same object (held weakly), not closed by its workspace, at the same address with the same shape, strides and convolution geometry, and only by the
 * first backward pass after that forward pass. Any other forward pass of the layer (inference, a switched-off one, one
 * oneDNN declines) and every backward pass forget it; otherwise the input is reordered again as before. What no check
 * here can see is an input changed in place (same object, new values) between the forward and the backward pass: the
 * copy then holds the values the forward pass saw, so the weight gradient is that of the forward pass that ran (the
 * switched-off path mixes the output gradient of the old values with the new input). DL4J never does that within a
 * training step: between a layer's forward pass and its backprop the network only reads activations (they live in the
 * activations workspace, open for the whole step), layers write new arrays (DL4J's own ConvolutionLayer backprop reads
 * the same {@code input} to compute this gradient, so an in-place change would break it as well).
 */
final class DirectConvolution {
    private static final Logger log = LoggerFactory.getLogger(DirectConvolution.class);
    /** System property: false keeps DL4J's oneDNN helper for every convolution. */
    static final String PROPERTY = "xraydl.directConv";
    /** System property: false reorders the input again in every backward pass (no blocked copy kept from the forward). */
    static final String KEEP_INPUT_PROPERTY = "xraydl.keepBlockedInput";
    private static final int MAX_PLANS = 6;
    /** The bytes of every layer's kept blocked-input buffer together (allocated, not yet freed). */
    private static final AtomicLong KEPT_BYTES = new AtomicLong();
    /** Backward passes that read the forward's kept blocked input / that had one kept but could not use it (tests, reports). */
    private static final AtomicLong KEPT_REUSED = new AtomicLong();
    private static final AtomicLong KEPT_MISSED = new AtomicLong();

    private final dnnl_stream stream = OneDnn.stream();
    private final Plans forwardPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    private final Plans backwardPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    private final Plans weightsOnlyPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    /** Training forward plans whose input reorder writes the layer's kept buffer ({@link #kept}). */
    private final Plans keepingForwardPlans = new Plans(MAX_PLANS, DirectConvolution::declined);
    /** Backward plans that read the kept blocked input instead of reordering the input. */
    private final Plans keptBackwardPlans = new Plans(MAX_PLANS,
            (key, why) -> log.debug("no backward plan on the kept blocked input ({}): the input is reordered again", why));
    /** The layer's buffer for the blocked copy of its last training forward's input (grows, kept between steps). */
    private BytePointer kept;
    private long keptCapacity;
    /** This layer's share of {@link #KEPT_BYTES}, given back when the layer object goes (JavaCPP frees the buffer then). */
    private final KeptShare keptShare = new KeptShare();
    /** What {@link #kept} holds a copy of, or null when it holds nothing usable. */
    private KeptInput keptFor;

    private static final Cleaner CLEANER = Cleaner.create();

    private DirectConvolution() {
        CLEANER.register(this, keptShare);
    }

    /** Bytes counted in {@link #KEPT_BYTES} for one layer's buffer; run once the layer is unreachable. */
    private static final class KeptShare implements Runnable {
        private long bytes;

        /** The share is now {@code n} bytes, already counted in {@link #KEPT_BYTES}. */
        synchronized void counted(long n) {
            bytes = n;
        }

        synchronized void set(long n) {
            KEPT_BYTES.addAndGet(n - bytes);
            bytes = n;
        }

        @Override
        public synchronized void run() {
            set(0);
        }
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

    /** The {@value #KEEP_INPUT_PROPERTY} switch (default on), read per call. */
    static boolean keepInputEnabled() {
        return FastLayers.enabled(KEEP_INPUT_PROPERTY);
    }

    /**
     * out = conv(x, w) with top/left padding {@code pad} and bottom/right padding as {@code out}'s size implies.
     * False (nothing written) when oneDNN declined to build this shape's primitives: the caller runs its fallback.
     */
    boolean forward(INDArray x, INDArray w, int[] stride, int[] pad, INDArray out) {
        return forward(x, w, stride, pad, out, false);
    }

    /**
     * As {@link #forward(INDArray, INDArray, int[], int[], INDArray)}; with {@code keepInput} (a training forward pass)
     * the blocked copy of {@code x} is kept for the next {@link #backward} of this layer (see the class comment).
     */
    boolean forward(INDArray x, INDArray w, int[] stride, int[] pad, INDArray out, boolean keepInput) {
        keptFor = null; // whatever happens below, an older copy no longer belongs to this layer's last forward pass
        List<Long> k = key(x, w, out, stride, pad);
        if (keepInput) {
            Plan plan = keepingForwardPlans.get(k, () -> forwardPlan(x.shape(), w.shape(), out.shape(), stride, pad, true));
            if (plan == null) {
                return false;
            }
            if (plan.boundCount() == 0) { // the primitive reads the NCHW input itself (e.g. 3 channels): nothing to keep
                plan.run(stream, x, w, out);
                return true;
            }
            long need = plan.boundBytes(0);
            long buffer = keptBuffer(need);
            if (buffer != 0) {
                plan.run(stream, new long[]{buffer}, x, w, out);
                keptFor = new KeptInput(new WeakReference<>(x), OneDnn.Address.of(x), x.shape(), x.stride(), x.dataType(), k, need);
                return true;
            } // else over the budget: this layer's backward pass reorders its input again
        }
        Plan plan = forwardPlans.get(k, () -> forwardPlan(x.shape(), w.shape(), out.shape(), stride, pad, false));
        if (plan == null) {
            return false;
        }
        plan.run(stream, x, w, out);
        return true;
    }

    /**
     * The 64-byte aligned start of this layer's kept-input buffer of at least {@code need} bytes (grown if smaller), or
     * 0 when growing it would take all layers' kept buffers over {@value #KEEP_INPUT_BUDGET_PROPERTY} (then nothing is
     * allocated and the buffer this layer has stays).
     */
    private long keptBuffer(long need) {
        if (need > keptCapacity) {
            if (!reserveKeptBytes(need - keptCapacity)) {
                return 0;
            }
            if (kept != null) {
                kept.deallocate();
            }
            kept = new BytePointer(need + Scratch.ALIGN);
            keptShare.counted(need); // (reserveKeptBytes has added the growth to KEPT_BYTES)
            keptCapacity = need;
        }
        return Scratch.aligned(kept.address());
    }

    /** Adds {@code delta} bytes to {@link #KEPT_BYTES} if the total stays within the budget. */
    private static boolean reserveKeptBytes(long delta) {
        long budget = keepInputBudgetBytes();
        while (true) {
            long now = KEPT_BYTES.get();
            if (now + delta > budget) {
                return false;
            }
            if (KEPT_BYTES.compareAndSet(now, now + delta)) {
                return true;
            }
        }
    }

    /**
     * System property: the most memory, in MB, all layers' kept blocked inputs may take together (default
     * {@value #DEFAULT_KEEP_INPUT_BUDGET_MB}: DenseNet-121 at 128 px takes ~310 MB at batch 16, ~620 MB at batch 32; at
     * 224 px ~950 MB at batch 16). Layers whose copy does not fit reorder their input again in backprop.
     */
    static final String KEEP_INPUT_BUDGET_PROPERTY = "xraydl.keepBlockedInputMaxMb";
    static final long DEFAULT_KEEP_INPUT_BUDGET_MB = 1024;

    static long keepInputBudgetBytes() {
        String v = System.getProperty(KEEP_INPUT_BUDGET_PROPERTY);
        long mb = DEFAULT_KEEP_INPUT_BUDGET_MB;
        if (v != null) {
            try {
                mb = Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                throw new UserError("-D" + KEEP_INPUT_BUDGET_PROPERTY + "=" + v + " is not a number of MB");
            }
        }
        return mb * 1024 * 1024;
    }

    /** Forgets the kept blocked input (its buffer stays for the next training forward pass). */
    void dropKeptInput() {
        keptFor = null;
    }

    /** Frees the kept-input buffer (the next training forward pass allocates it again). */
    void releaseKeptInput() {
        keptFor = null;
        if (kept != null) {
            kept.deallocate();
            kept = null;
            keptShare.set(0);
            keptCapacity = 0;
        }
    }

    /** Whether a blocked copy of {@code x}'s forward pass is kept now (tests). */
    boolean keepsInputOf(INDArray x) {
        return keptFor != null && keptFor.matches(x, keptFor.key);
    }

    /** The bytes of all layers' kept blocked-input buffers (allocated now). */
    static long keptInputBytes() {
        return KEPT_BYTES.get();
    }

    /** Backward passes in this process that read a forward's kept blocked input. */
    static long keptInputReuses() {
        return KEPT_REUSED.get();
    }

    /** Backward passes in this process that found a kept blocked input of another array or geometry and reordered again. */
    static long keptInputMisses() {
        return KEPT_MISSED.get();
    }

    /**
     * What a kept blocked copy was made from: the array (weakly: the copy must not keep it alive, and a new array at
     * the same address is another array), its address, shape, strides and type, the convolution's geometry, the size.
     */
    private record KeptInput(WeakReference<INDArray> array, long address, long[] shape, long[] stride, DataType type,
                             List<Long> key, long bytes) {
        boolean matches(INDArray x, List<Long> geometry) {
            return array.get() == x && !x.wasClosed() && OneDnn.Address.of(x) == address && x.dataType() == type
                    && Arrays.equals(x.shape(), shape) && Arrays.equals(x.stride(), stride) && key.equals(geometry);
        }
    }

    /**
     * dx and dw (DL4J's [oC, iC, kH, kW] gradient view) of out = conv(x, w), given dy = dL/dout; false as
     * {@link #forward}.
     */
    boolean backward(INDArray x, INDArray w, INDArray dy, int[] stride, int[] pad, INDArray dx, INDArray dw) {
        List<Long> k = key(x, w, dy, stride, pad);
        KeptInput kf = keptFor;
        keptFor = null; // one backward pass per forward pass: the copy is not read again
        if (kf != null) {
            if (keepInputEnabled() && kf.matches(x, k)) {
                Plan plan = keptBackwardPlans.get(k, () -> backwardPlan(x.shape(), w.shape(), dy.shape(), stride, pad, true));
                if (plan != null && plan.boundBytes(0) == kf.bytes && kf.bytes <= keptCapacity) {
                    plan.run(stream, new long[]{Scratch.aligned(kept.address())}, x, w, dy, dx, dw);
                    KEPT_REUSED.incrementAndGet();
                    return true;
                }
            }
            KEPT_MISSED.incrementAndGet();
        }
        Plan plan = backwardPlans.get(k, () -> backwardPlan(x.shape(), w.shape(), dy.shape(), stride, pad, false));
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
        keptFor = null; // (the stem's input, 3 channels, is read as NCHW: no copy was kept; none is read here)
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

    /**
     * With {@code keepInput} the input's reorder writes a bound buffer (the layer's kept copy), provided the
     * backward-weights primitive wants that very layout; else (and when no reorder is needed) nothing is bound.
     */
    private static Plan forwardPlan(long[] x, long[] w, long[] y, int[] stride, int[] pad, boolean keepInput) {
        dnnl_primitive_desc fwd = forwardPd(x, w, y, stride, pad);
        Plan p = new Plan(3); // user arrays: 0 = x, 1 = w, 2 = y
        dnnl_memory_desc_t srcMd = query(fwd, dnnl_query_src_md);
        boolean keep = false;
        if (keepInput) {
            dnnl_primitive_desc weights = backwardWeightsPd(x, w, y, stride, pad, fwd);
            keep = dnnl_memory_desc_equal(srcMd, query(weights, dnnl_query_src_md)) != 0;
            destroy(weights);
        }
        dnnl_memory src = keep ? p.boundInput(0, md(x, dnnl_nchw), srcMd) : p.input(0, md(x, dnnl_nchw), srcMd);
        dnnl_memory wei = p.input(1, md(w, dnnl_oihw), query(fwd, dnnl_query_weights_md));
        dnnl_memory dst = p.output(2, md(y, dnnl_nchw), query(fwd, dnnl_query_dst_md));
        p.add(fwd, new int[]{DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, src, wei, dst);
        p.finishOutputs();
        destroy(fwd);
        return p;
    }

    /**
     * With {@code keptInput} the backward-weights primitive reads a bound buffer (the forward's kept blocked input)
     * instead of a reorder of user array 0; declined (IllegalStateException) where that layout is not the forward's or
     * no reorder would be needed.
     */
    private static Plan backwardPlan(long[] x, long[] w, long[] y, int[] stride, int[] pad, boolean keptInput) {
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
        dnnl_memory_desc_t weightsSrc = query(weights, dnnl_query_src_md);
        dnnl_memory src;
        if (keptInput) {
            if (dnnl_memory_desc_equal(weightsSrc, query(hint, dnnl_query_src_md)) == 0
                    || dnnl_memory_desc_equal(weightsSrc, md(x, dnnl_nchw)) != 0) {
                destroy(hint);
                destroy(data);
                destroy(weights);
                p.close();
                throw new IllegalStateException("the backward-weights primitive does not read the forward's blocked input");
            }
            src = p.bound(weightsSrc);
        } else {
            src = p.input(0, md(x, dnnl_nchw), weightsSrc);
        }
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
