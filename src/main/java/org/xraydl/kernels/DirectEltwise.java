package org.xraydl.kernels;

import org.bytedeco.dnnl.dnnl_binary_desc_t;
import org.bytedeco.dnnl.dnnl_eltwise_desc_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_post_ops;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.FloatPointer;
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
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.*;
import static org.xraydl.kernels.OneDnn.check;
import static org.xraydl.kernels.OneDnn.declineReference;
import static org.xraydl.kernels.OneDnn.destroy;
import static org.xraydl.kernels.OneDnn.md;
import static org.xraydl.kernels.OneDnn.primitiveDesc;
import static org.xraydl.kernels.OneDnn.userScratchpad;
import static org.xraydl.kernels.OneDnn.userScratchpadWith;

/**
 * The element-wise passes of {@link FastBatchNormalizationLayer} and {@link FastReluLayer} as oneDNN primitives
 * (JavaCPP's {@code org.bytedeco:dnnl} 2.5.2, the engine of {@link DirectConvolution}), fewer passes over the
 * activations than the ND4J ops they replace:
 * <ul>
 *   <li>{@link #scaleShift}: y = x*scale + shift per channel, one {@code binary} multiplication by a [1, C, 1, 1]
 *       factor with a per-channel {@code binary} add post-op (ND4J: a broadcasting multiply, then a broadcasting add);</li>
 *   <li>{@link #batchNormBackward}: dL/dx = (a*dy + b*x) + c per channel, as w = x*b, then dx = (dy*a + w) + c in one
 *       {@code binary} multiplication with two add post-ops (ND4J: two broadcasting multiplies, an add and a
 *       broadcasting add);</li>
 *   <li>{@link #reluBackward}: dL/dx = x &gt; 0 ? dy : 0*dy, oneDNN's ReLU {@code eltwise_backward} from the input
 *       (ND4J: {@code step(x)} written, then multiplied by dy); a NaN input passes dy on (see there).</li>
 * </ul>
 * Same arithmetic in the same order as the ND4J passes (one IEEE multiplication or addition at a time, no fused
 * multiply-add in these kernels): the batch-norm results were the same bits as the ND4J passes' on the AVX2 host
 * measured (the tests bound them against double-precision references all the same), the ReLU gradient is the same
 * bits except for NaN inputs.
 *
 * <p>Per call at the compact DenseNet's batch-32 shapes, on a 2-core AMD EPYC with AVX2 (oneDNN picks {@code jit:uni}
 * for the binary passes, {@code jit:avx2} for the ReLU backward; 10th percentile of 150 calls interleaved with the ND4J
 * ops in one process, on a machine busy with other work), ND4J ops -&gt; oneDNN, microseconds:
 * <pre>
 *                        [32,24,48,48]  [32,48,24,24]  [32,36,12,12]  [32,108,6,6]
 *   y = x*scale + shift     812 -&gt; 512     426 -&gt; 264      96 -&gt; 54      82 -&gt; 53
 *   dL/dx of batch norm    1450 -&gt; 746     676 -&gt; 414     147 -&gt; 81     130 -&gt; 91
 *   ReLU backward           805 -&gt; 414     396 -&gt; 211      86 -&gt; 40      78 -&gt; 32
 * </pre>
 * Not taken, no faster there: the products x*x and dy*x of the row reductions as a oneDNN {@code binary} (0.8-1.0x the
 * time), and oneDNN's batch normalization primitives, whose plain-NCHW implementation on AVX2 is {@code ncsp_bnorm:any}
 * (no JIT kernel): forward 1.1-1.9x the time of the passes here, backward 0.95-1.2x. Plans are {@link OneDnn}'s, as in
 * {@link DirectConvolution}: primitives made once per shape and kept (at most {@value #MAX_PLANS} shapes a kind per
 * object, oldest freed first), oneDNN memories re-pointed at the arrays' buffers on each call, any scratchpad
 * user-managed in the running thread's {@link OneDnn.Scratch} (so a plan built on one thread runs on another:
 * ParallelWrapper's workers). The per-channel factors are copied into native arrays this object keeps, bound to
 * the plans' factor memories on each call. One object serves one layer, one call at a
 * time. A call returns false, having written nothing, where this does not apply (not float, not dense C order,
 * shapes that differ, batch norm not rank 4) or where oneDNN declines the shape or offers only a reference
 * ({@code ref}) implementation; the caller then runs its ND4J ops. {@code -D}{@value #PROPERTY}{@code =false} keeps
 * the ND4J ops everywhere.
 */
final class DirectEltwise {
    private static final Logger log = LoggerFactory.getLogger(DirectEltwise.class);
    /** System property: false keeps the fast layers' ND4J ops for these passes. */
    static final String PROPERTY = "xraydl.directEltwise";
    private static final int MAX_PLANS = 6;
    private static final int POST_OP_0_SRC_1 = DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1;
    private static final int POST_OP_1_SRC_1 = DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * 2 | DNNL_ARG_SRC_1;
    /** Calls run here, process-wide (tests, and proof that the path engaged). */
    private static final AtomicLong CALLS = new AtomicLong();
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private final dnnl_stream stream = OneDnn.stream();
    private final Plans scaleShiftPlans = new Plans(MAX_PLANS, (key, why) -> declined("scale and shift", key, why));
    private final Plans backwardPlans = new Plans(MAX_PLANS, (key, why) -> declined("batch-norm backward", key, why));
    private final Plans reluPlans = new Plans(MAX_PLANS, (key, why) -> declined("ReLU backward", key, why));
    private final Plans scaleShiftReluPlans = new Plans(MAX_PLANS, (key, why) -> declined("scale, shift and ReLU", key, why));
    /** Tests: every plan is declined, as if oneDNN had no primitive for it. */
    private final boolean declineAll;
    /** Native copies of the per-channel factors of a call (grown, never shrunk). */
    private final FloatPointer[] factors = new FloatPointer[3];

    private DirectEltwise(boolean declineAll) {
        this.declineAll = declineAll;
    }

    /**
     * A new instance, or null where {@value #PROPERTY} is {@code false} (read at each call: layers made after a change
     * follow it) or oneDNN's Java bindings do not load here ({@link OneDnn#available}, with its one warning).
     */
    static DirectEltwise createIfAvailable() {
        return enabled() && OneDnn.available() ? new DirectEltwise(false) : null;
    }

    /** Tests: an instance that declines every shape (null where the bindings do not load). */
    static DirectEltwise decliningForTests() {
        return OneDnn.available() ? new DirectEltwise(true) : null;
    }

    /** The {@value #PROPERTY} switch: {@code true} (default) or {@code false}; anything else is refused. */
    static boolean enabled() {
        String v = System.getProperty(PROPERTY, "true").trim();
        if (!v.equals("true") && !v.equals("false")) {
            throw new UserError("-D" + PROPERTY + "=" + v + " is not a setting: use true (oneDNN's element-wise primitives for batch norm and ReLU, the default) or false (ND4J's ops)");
        }
        return v.equals("true");
    }

    /** How many calls ran here, process-wide. */
    static long calls() {
        return CALLS.get();
    }

    /** One warning a process for the first shape oneDNN declines (any kind, any object), the others at debug level. */
    private static void declined(String kind, List<Long> key, String why) {
        if (WARNED.compareAndSet(false, true)) {
            log.warn("oneDNN declined a {} pass of shape {} ({}): ND4J's ops run it (warned once a process)", kind, key, why);
        } else {
            log.debug("oneDNN declined a {} pass of shape {} ({})", kind, key, why);
        }
    }

    /** out = x*scale[c] + shift[c] for NCHW float x; false (nothing written) where this does not apply. */
    boolean scaleShift(INDArray x, float[] scale, float[] shift, INDArray out) {
        return scaleShift(x, scale, shift, out, false);
    }

    /**
     * out = relu(x*scale[c] + shift[c]) for NCHW float x, in the one pass of {@link #scaleShift} (the ReLU is an
     * {@code eltwise_relu} post-op, alpha 0): the same bits as {@link #scaleShift} followed by libnd4j's ReLU
     * ({@code y < 0 ? 0 : y}) wherever y = x*scale + shift is neither NaN nor -0, where oneDNN's ReLU gives +0 (libnd4j:
     * NaN and -0). The caller rules those out ({@link FastBatchNormalizationLayer}: finite statistics and factors, no
     * -0 shift). False (nothing written) where this does not apply.
     */
    boolean scaleShiftRelu(INDArray x, float[] scale, float[] shift, INDArray out) {
        return scaleShift(x, scale, shift, out, true);
    }

    private boolean scaleShift(INDArray x, float[] scale, float[] shift, INDArray out, boolean relu) {
        if (!nchw(x, out) || scale.length != x.size(1) || shift.length != x.size(1)) {
            return false;
        }
        Plan plan = (relu ? scaleShiftReluPlans : scaleShiftPlans).get(key(x.shape()), () -> scaleShiftPlan(x.shape(), relu));
        if (plan == null) {
            return false;
        }
        plan.run(stream, new long[]{factor(0, scale), factor(1, shift)}, x, out);
        CALLS.incrementAndGet();
        return true;
    }

    /**
     * dx = (dy*a[c] + x*b[c]) + s[c] for NCHW float arrays, with {@code work} (same shape) taking x*b; false (nothing
     * written) where this does not apply.
     */
    boolean batchNormBackward(INDArray dy, INDArray x, float[] a, float[] b, float[] s, INDArray work, INDArray dx) {
        if (!nchw(x, dy) || !nchw(x, work) || !nchw(x, dx) || a.length != x.size(1) || b.length != x.size(1) || s.length != x.size(1)) {
            return false;
        }
        Plan plan = backwardPlans.get(key(x.shape()), () -> backwardPlan(x.shape()));
        if (plan == null) {
            return false;
        }
        plan.run(stream, new long[]{factor(0, a), factor(1, b), factor(2, s)}, dy, x, work, dx);
        CALLS.incrementAndGet();
        return true;
    }

    /**
     * dx = x &gt; 0 ? dy : 0*dy element by element, for float arrays of one shape in dense C order; false (nothing
     * written) where this does not apply. The same bits as step(x)*dy (x = +-0: 0*dy, so -0 for a negative dy and NaN
     * for an infinite one), except where x is NaN: oneDNN's kernel compares unordered and passes dy on, where
     * step(NaN)*dy is 0*dy. Immaterial in training: a NaN activation reaches the loss, whose gradient dy is then NaN too.
     */
    boolean reluBackward(INDArray x, INDArray dy, INDArray dx) {
        if (!sameDenseFloat(x, dy) || !sameDenseFloat(x, dx)) {
            return false;
        }
        long length = x.length();
        Plan plan = reluPlans.get(List.of(length), () -> reluBackwardPlan(length));
        if (plan == null) {
            return false;
        }
        plan.run(stream, x, dy, dx);
        CALLS.incrementAndGet();
        return true;
    }

    /** The plans kept for one kind (tests). */
    int plans(String kind) {
        return plansOf(kind).size();
    }

    /** oneDNN's implementation names in the plans kept for one kind, e.g. {@code [jit:uni]} (tests). */
    Set<String> implementations(String kind) {
        return plansOf(kind).implementations();
    }

    private Plans plansOf(String kind) {
        return switch (kind) {
            case "scaleShift" -> scaleShiftPlans;
            case "batchNormBackward" -> backwardPlans;
            case "reluBackward" -> reluPlans;
            case "scaleShiftRelu" -> scaleShiftReluPlans;
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private static boolean sameDenseFloat(INDArray a, INDArray b) {
        return a.dataType() == DataType.FLOAT && b.dataType() == DataType.FLOAT && Arrays.equals(a.shape(), b.shape())
                && OneDnn.denseC(a) && OneDnn.denseC(b);
    }

    private static boolean nchw(INDArray a, INDArray b) {
        return a.rank() == 4 && sameDenseFloat(a, b);
    }

    private static List<Long> key(long[] shape) {
        List<Long> k = new ArrayList<>(shape.length);
        for (long d : shape) {
            k.add(d);
        }
        return k;
    }

    /** The address of the per-channel values, copied into native slot {@code i}. */
    private long factor(int i, float[] values) {
        FloatPointer p = factors[i];
        if (p == null || p.capacity() < values.length) {
            if (p != null) {
                p.deallocate();
            }
            p = new FloatPointer(Math.max(values.length, 8));
            factors[i] = p;
        }
        p.put(values, 0, values.length);
        return p.address();
    }

    /** User arrays: 0 = x, 1 = out; bound: 0 = scale, 1 = shift. With {@code relu}, a ReLU post-op after the add. */
    private Plan scaleShiftPlan(long[] shape, boolean relu) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(shape, dnnl_nchw);
        dnnl_memory_desc_t perChannel = md(new long[]{1, shape[1], 1, 1}, dnnl_nchw);
        return Plan.build(2, p -> {
            dnnl_memory scale = p.bound(perChannel);
            dnnl_memory shift = p.bound(perChannel);
            dnnl_memory x = p.input(0, data, data);
            dnnl_memory out = p.output(1, data, data);
            add(p, relu ? binaryMulAddRelu(data, perChannel) : binaryMul(data, perChannel, perChannel),
                    new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST, POST_OP_0_SRC_1}, x, scale, out, shift);
        });
    }

    /** dst = relu(src0 * factor + shift): a binary multiplication, a binary add post-op, an eltwise ReLU post-op (alpha 0). */
    private static dnnl_primitive_desc binaryMulAddRelu(dnnl_memory_desc_t data, dnnl_memory_desc_t factor) {
        return binaryMul(data, factor, true, factor);
    }

    /** User arrays: 0 = dy, 1 = x, 2 = work, 3 = dx; bound: 0 = a, 1 = b, 2 = s. */
    private Plan backwardPlan(long[] shape) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(shape, dnnl_nchw);
        dnnl_memory_desc_t perChannel = md(new long[]{1, shape[1], 1, 1}, dnnl_nchw);
        return Plan.build(4, p -> {
            dnnl_memory a = p.bound(perChannel);
            dnnl_memory b = p.bound(perChannel);
            dnnl_memory s = p.bound(perChannel);
            dnnl_memory dy = p.input(0, data, data);
            dnnl_memory x = p.input(1, data, data);
            dnnl_memory work = p.output(2, data, data);
            dnnl_memory dx = p.output(3, data, data);
            // work = x*b
            add(p, binaryMul(data, perChannel), new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST}, x, b, work);
            // dx = (dy*a + work) + s: the association of the ND4J passes ((a*dy + b*x) + c)
            add(p, binaryMul(data, perChannel, data, perChannel),
                    new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST, POST_OP_0_SRC_1, POST_OP_1_SRC_1}, dy, a, dx, work, s);
        });
    }

    /** User arrays: 0 = x, 1 = dy, 2 = dx. */
    private Plan reluBackwardPlan(long length) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(new long[]{length}, dnnl_a);
        dnnl_primitive_desc hint = reluForwardPd(data);
        try {
            dnnl_eltwise_desc_t bwd = new dnnl_eltwise_desc_t();
            check(dnnl_eltwise_backward_desc_init(bwd, dnnl_eltwise_relu, data, data, 0f, 0f), "ReLU backward descriptor");
            return Plan.build(3, p -> {
                dnnl_memory x = p.input(0, data, data);
                dnnl_memory dy = p.input(1, data, data);
                dnnl_memory dx = p.output(2, data, data);
                add(p, declineReference(primitiveDesc(bwd, userScratchpad, hint, "ReLU backward primitive descriptor")),
                        new int[]{DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC}, x, dy, dx);
            });
        } finally {
            destroy(hint);
        }
    }

    /** oneDNN's ReLU forward (negative slope 0) on {@code data}; declined where only a reference implementation exists. */
    private static dnnl_primitive_desc reluForwardPd(dnnl_memory_desc_t data) {
        dnnl_eltwise_desc_t fwd = new dnnl_eltwise_desc_t();
        check(dnnl_eltwise_forward_desc_init(fwd, dnnl_forward_training, dnnl_eltwise_relu, data, 0f, 0f), "ReLU forward descriptor");
        return declineReference(primitiveDesc(fwd, userScratchpad, null, "ReLU forward primitive descriptor"));
    }

    /** A step of {@code p}: the primitive of {@code pd}, which is freed here (the primitive keeps its own copy). */
    private static void add(Plan p, dnnl_primitive_desc pd, int[] kinds, dnnl_memory... memories) {
        try {
            p.add(pd, kinds, memories);
        } finally {
            destroy(pd);
        }
    }

    private void declineIfTesting() {
        if (declineAll) {
            throw new IllegalStateException("declined (test instance)");
        }
    }

    /**
     * The descriptor of dst = src0 * src1, followed by a binary add post-op for each of {@code postAdds}; declined
     * where oneDNN has only a reference implementation.
     */
    private static dnnl_primitive_desc binaryMul(dnnl_memory_desc_t data, dnnl_memory_desc_t factor, dnnl_memory_desc_t... postAdds) {
        return binaryMul(data, factor, false, postAdds);
    }

    /** As {@link #binaryMul(dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t...)}, with {@code relu} a ReLU post-op (alpha 0) last. */
    private static dnnl_primitive_desc binaryMul(dnnl_memory_desc_t data, dnnl_memory_desc_t factor, boolean relu, dnnl_memory_desc_t... postAdds) {
        dnnl_binary_desc_t d = new dnnl_binary_desc_t();
        check(dnnl_binary_desc_init(d, dnnl_binary_mul, data, factor, data), "binary descriptor");
        if (postAdds.length == 0 && !relu) {
            return declineReference(primitiveDesc(d, userScratchpad, null, "binary primitive descriptor"));
        }
        dnnl_post_ops ops = new dnnl_post_ops();
        check(dnnl_post_ops_create(ops), "post-ops");
        dnnl_primitive_attr attr = null;
        try {
            for (dnnl_memory_desc_t add : postAdds) {
                check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, add), "binary post-op");
            }
            if (relu) {
                check(dnnl_post_ops_append_eltwise(ops, 1f, dnnl_eltwise_relu, 0f, 0f), "ReLU post-op");
            }
            attr = userScratchpadWith(ops);
            return declineReference(primitiveDesc(d, attr, null, "binary primitive descriptor"));
        } finally {
            if (attr != null) {
                dnnl_primitive_attr_destroy(attr);
            }
            dnnl_post_ops_destroy(ops);
        }
    }
}
