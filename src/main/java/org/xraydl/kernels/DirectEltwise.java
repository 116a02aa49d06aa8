package org.xraydl.kernels;

import org.bytedeco.dnnl.const_dnnl_op_desc_t;
import org.bytedeco.dnnl.dnnl_binary_desc_t;
import org.bytedeco.dnnl.dnnl_eltwise_desc_t;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_post_ops;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import static org.bytedeco.dnnl.global.dnnl.*;

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
 * (no JIT kernel): forward 1.1-1.9x the time of the passes here, backward 0.95-1.2x. Plans as in {@link DirectConvolution}: primitives made once
 * per shape and kept (at most {@value #MAX_PLANS} shapes a kind per object, oldest freed first), oneDNN memories
 * re-pointed at the arrays' buffers on each call, any scratchpad user-managed in the running thread's
 * {@link OneDnn.Scratch} (so a plan built on one thread runs on another: ParallelWrapper's workers). The
 * per-channel factors are copied into native arrays this object keeps. One object serves one layer, one call at a
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

    private final dnnl_engine engine;
    private final dnnl_stream stream = new dnnl_stream();
    private final Plans scaleShiftPlans = new Plans("scale and shift");
    private final Plans backwardPlans = new Plans("batch-norm backward");
    private final Plans reluPlans = new Plans("ReLU backward");
    /** Tests: every plan is declined, as if oneDNN had no primitive for it. */
    private final boolean declineAll;
    /** Native copies of the per-channel factors of a call (grown, never shrunk). */
    private final FloatPointer[] factors = new FloatPointer[3];

    private DirectEltwise(dnnl_engine engine, boolean declineAll) {
        this.engine = engine;
        this.declineAll = declineAll;
        check(dnnl_stream_create(stream, engine, dnnl_stream_default_flags), "stream");
    }

    /**
     * A new instance, or null where {@value #PROPERTY} is {@code false} (read at each call: layers made after a change
     * follow it) or oneDNN's Java bindings do not load here ({@link OneDnn#available}, with its one warning).
     */
    static DirectEltwise createIfAvailable() {
        return enabled() && OneDnn.available() ? new DirectEltwise(OneDnn.engine, false) : null;
    }

    /** Tests: an instance that declines every shape (null where the bindings do not load). */
    static DirectEltwise decliningForTests() {
        return OneDnn.available() ? new DirectEltwise(OneDnn.engine, true) : null;
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

    /** out = x*scale[c] + shift[c] for NCHW float x; false (nothing written) where this does not apply. */
    boolean scaleShift(INDArray x, float[] scale, float[] shift, INDArray out) {
        if (!nchw(x, out) || scale.length != x.size(1) || shift.length != x.size(1)) {
            return false;
        }
        Plan plan = scaleShiftPlans.get(key(x.shape()), () -> scaleShiftPlan(x.shape()));
        if (plan == null) {
            return false;
        }
        plan.run(stream, new Address(x), factor(0, scale), new Address(out), factor(1, shift));
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
        plan.run(stream, new Address(dy), new Address(x), factor(0, a), factor(1, b), factor(2, s), new Address(work), new Address(dx));
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
        plan.run(stream, new Address(x), new Address(dy), new Address(dx));
        CALLS.incrementAndGet();
        return true;
    }

    /** The plans kept for one kind (tests). */
    int plans(String kind) {
        return plansOf(kind).kept.size();
    }

    /** oneDNN's implementation names in the plans kept for one kind, e.g. {@code [jit:uni]} (tests). */
    Set<String> implementations(String kind) {
        Set<String> out = new java.util.TreeSet<>();
        plansOf(kind).kept.values().forEach(p -> out.addAll(p.implementations));
        return out;
    }

    private Plans plansOf(String kind) {
        return switch (kind) {
            case "scaleShift" -> scaleShiftPlans;
            case "batchNormBackward" -> backwardPlans;
            case "reluBackward" -> reluPlans;
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

    /** The per-channel values in native slot {@code i}. */
    private FloatPointer factor(int i, float[] values) {
        FloatPointer p = factors[i];
        if (p == null || p.capacity() < values.length) {
            if (p != null) {
                p.deallocate();
            }
            p = new FloatPointer(Math.max(values.length, 8));
            factors[i] = p;
        }
        p.put(values, 0, values.length);
        return p;
    }

    private Plan scaleShiftPlan(long[] shape) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(shape, dnnl_nchw);
        dnnl_memory_desc_t perChannel = md(new long[]{1, shape[1], 1, 1}, dnnl_nchw);
        Plan p = new Plan(4); // 0 = x, 1 = scale, 2 = out, 3 = shift
        p.step(binaryMul(data, perChannel, perChannel), new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST, POST_OP_0_SRC_1},
                new int[]{0, 1, 2, 3}, data, perChannel, data, perChannel);
        return p;
    }

    private Plan backwardPlan(long[] shape) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(shape, dnnl_nchw);
        dnnl_memory_desc_t perChannel = md(new long[]{1, shape[1], 1, 1}, dnnl_nchw);
        Plan p = new Plan(7); // 0 = dy, 1 = x, 2 = a, 3 = b, 4 = s, 5 = work, 6 = dx
        try {
            // work = x*b
            p.step(binaryMul(data, perChannel), new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST},
                    new int[]{1, 3, 5}, data, perChannel, data);
            // dx = (dy*a + work) + s: the association of the ND4J passes ((a*dy + b*x) + c)
            p.step(binaryMul(data, perChannel, data, perChannel),
                    new int[]{DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST, POST_OP_0_SRC_1, POST_OP_1_SRC_1},
                    new int[]{0, 2, 6, 5, 4}, data, perChannel, data, data, perChannel);
            return p;
        } catch (RuntimeException e) {
            p.close(); // the first step's objects, if the second was declined
            throw e;
        }
    }

    private Plan reluBackwardPlan(long length) {
        declineIfTesting();
        dnnl_memory_desc_t data = md(new long[]{length}, dnnl_a);
        dnnl_primitive_attr attr = attr();
        try {
            dnnl_eltwise_desc_t fwd = new dnnl_eltwise_desc_t();
            check(dnnl_eltwise_forward_desc_init(fwd, dnnl_forward_training, dnnl_eltwise_relu, data, 0f, 0f), "ReLU forward descriptor");
            dnnl_primitive_desc hint = pd(fwd, attr, null);
            try {
                dnnl_eltwise_desc_t bwd = new dnnl_eltwise_desc_t();
                check(dnnl_eltwise_backward_desc_init(bwd, dnnl_eltwise_relu, data, data, 0f, 0f), "ReLU backward descriptor");
                Plan p = new Plan(3); // 0 = x, 1 = dy, 2 = dx
                p.step(pd(bwd, attr, hint), new int[]{DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC}, new int[]{0, 1, 2}, data, data, data);
                return p;
            } finally {
                dnnl_primitive_desc_destroy(hint);
            }
        } finally {
            dnnl_primitive_attr_destroy(attr);
        }
    }

    private void declineIfTesting() {
        if (declineAll) {
            throw new IllegalStateException("declined (test instance)");
        }
    }

    /** The descriptor of dst = src0 * src1, followed by a binary add post-op for each of {@code postAdds}. */
    private dnnl_primitive_desc binaryMul(dnnl_memory_desc_t data, dnnl_memory_desc_t factor, dnnl_memory_desc_t... postAdds) {
        dnnl_binary_desc_t d = new dnnl_binary_desc_t();
        check(dnnl_binary_desc_init(d, dnnl_binary_mul, data, factor, data), "binary descriptor");
        dnnl_primitive_attr attr = attr();
        dnnl_post_ops ops = null;
        try {
            if (postAdds.length > 0) {
                ops = new dnnl_post_ops();
                check(dnnl_post_ops_create(ops), "post-ops");
                for (dnnl_memory_desc_t add : postAdds) {
                    check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, add), "binary post-op");
                }
                check(dnnl_primitive_attr_set_post_ops(attr, ops), "post-op attribute");
            }
            return pd(d, attr, null);
        } finally {
            if (ops != null) {
                dnnl_post_ops_destroy(ops);
            }
            dnnl_primitive_attr_destroy(attr);
        }
    }

    /** Attributes with a user-managed scratchpad (see {@link DirectConvolution}): the caller destroys them. */
    private static dnnl_primitive_attr attr() {
        dnnl_primitive_attr a = new dnnl_primitive_attr();
        check(dnnl_primitive_attr_create(a), "primitive attributes");
        int status = dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
        if (status != dnnl_success) {
            dnnl_primitive_attr_destroy(a);
            check(status, "scratchpad mode");
        }
        return a;
    }

    /** A primitive descriptor; declined (IllegalStateException) where oneDNN has only a reference implementation. */
    private dnnl_primitive_desc pd(Pointer opDesc, dnnl_primitive_attr attr, dnnl_primitive_desc hint) {
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        check(dnnl_primitive_desc_create(pd, new const_dnnl_op_desc_t(opDesc), attr, engine, hint), "primitive descriptor");
        String impl = implementation(pd);
        if (impl.startsWith("ref")) {
            dnnl_primitive_desc_destroy(pd);
            throw new IllegalStateException("only oneDNN's reference implementation (" + impl + ")");
        }
        return pd;
    }

    /** oneDNN's name of the implementation it chose ({@code jit:uni}, {@code jit:avx2}, {@code ref:any}...). */
    private static String implementation(dnnl_primitive_desc pd) {
        PointerPointer<BytePointer> out = new PointerPointer<>(1);
        try {
            check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, out), "implementation query");
            return new BytePointer(out.get(0)).getString();
        } finally {
            out.deallocate();
        }
    }

    private dnnl_memory_desc_t md(long[] dims, int tag) {
        dnnl_memory_desc_t m = new dnnl_memory_desc_t();
        check(dnnl_memory_desc_init_by_tag(m, dims.length, dims, dnnl_f32, tag), "memory descriptor");
        return m;
    }

    /** One kind's plans by shape: at most {@value #MAX_PLANS} kept, oldest freed first; shapes oneDNN declined. */
    private static final class Plans {
        private final String kind;
        private final Map<List<Long>, Plan> kept = new LinkedHashMap<>();
        private final Set<List<Long>> refused = new HashSet<>();

        Plans(String kind) {
            this.kind = kind;
        }

        /** The plan for {@code key}, made now if new; null when oneDNN declines it (then for good; one warning a process). */
        Plan get(List<Long> key, Supplier<Plan> make) {
            Plan plan = kept.get(key);
            if (plan != null || refused.contains(key)) {
                return plan;
            }
            try {
                plan = make.get();
            } catch (IllegalStateException e) {
                refused.add(key);
                if (WARNED.compareAndSet(false, true)) {
                    log.warn("oneDNN declined a {} pass of shape {} ({}): ND4J's ops run it (warned once a process)", kind, key, e.getMessage());
                } else {
                    log.debug("oneDNN declined a {} pass of shape {} ({})", kind, key, e.getMessage());
                }
                return null;
            }
            if (kept.size() >= MAX_PLANS) {
                Iterator<Plan> oldest = kept.values().iterator();
                oldest.next().close();
                oldest.remove();
            }
            kept.put(key, plan);
            return plan;
        }
    }

    /**
     * The primitives of one call, in order, on memories whose data handles are set per call: slot i takes the i-th
     * pointer handed to {@link #run}. A step's scratchpad, if it wants one, lies in the thread's scratch area.
     */
    private final class Plan {
        private final dnnl_memory[] slots;
        private final List<dnnl_primitive> primitives = new ArrayList<>();
        private final List<dnnl_exec_arg_t> args = new ArrayList<>();
        private final List<Integer> argCounts = new ArrayList<>();
        private final List<dnnl_memory> scratchpads = new ArrayList<>();
        private final List<String> implementations = new ArrayList<>();
        private long scratchBytes;

        Plan(int slots) {
            this.slots = new dnnl_memory[slots];
        }

        /** A step: the primitive of {@code pd} (destroyed here) with argument {@code kinds[j]} on slot {@code slotOf[j]}. */
        void step(dnnl_primitive_desc pd, int[] kinds, int[] slotOf, dnnl_memory_desc_t... mds) {
            try {
                dnnl_memory_desc_t padMd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
                long padBytes = padMd != null && !padMd.isNull() ? dnnl_memory_desc_get_size(padMd) : 0;
                int n = kinds.length + (padBytes > 0 ? 1 : 0);
                dnnl_exec_arg_t a = new dnnl_exec_arg_t(n);
                for (int j = 0; j < kinds.length; j++) {
                    if (slots[slotOf[j]] == null) {
                        slots[slotOf[j]] = memory(mds[j]);
                    }
                    a.position(j).arg(kinds[j]).memory(slots[slotOf[j]]);
                }
                if (padBytes > 0) {
                    dnnl_memory pad = memory(padMd);
                    scratchpads.add(pad);
                    scratchBytes = Math.max(scratchBytes, OneDnn.Scratch.aligned(padBytes));
                    a.position(kinds.length).arg(DNNL_ARG_SCRATCHPAD).memory(pad);
                }
                dnnl_primitive p = new dnnl_primitive();
                check(dnnl_primitive_create(p, pd), "primitive");
                primitives.add(p);
                implementations.add(implementation(pd));
                args.add(a.position(0));
                argCounts.add(n);
            } finally {
                dnnl_primitive_desc_destroy(pd);
            }
        }

        private dnnl_memory memory(dnnl_memory_desc_t md) {
            dnnl_memory m = new dnnl_memory();
            check(dnnl_memory_create(m, md, engine, new Pointer()), "memory"); // no buffer: set per call
            return m;
        }

        void run(dnnl_stream stream, Pointer... handles) {
            for (int i = 0; i < slots.length; i++) {
                check(dnnl_memory_set_data_handle(slots[i], handles[i]), "data handle");
            }
            if (scratchBytes > 0) {
                // the steps run one after the other: they share one scratchpad area
                Address base = new Address(OneDnn.Scratch.forThisThread(scratchBytes));
                for (dnnl_memory pad : scratchpads) {
                    check(dnnl_memory_set_data_handle(pad, base), "scratchpad handle");
                }
            }
            for (int i = 0; i < primitives.size(); i++) {
                check(dnnl_primitive_execute(primitives.get(i), stream, argCounts.get(i), args.get(i)), "execute");
            }
            check(dnnl_stream_wait(stream), "stream wait");
        }

        /** Frees the plan's oneDNN objects (it is not used again). */
        void close() {
            for (dnnl_primitive p : primitives) {
                dnnl_primitive_destroy(p);
            }
            for (dnnl_memory m : slots) {
                if (m != null) {
                    dnnl_memory_destroy(m);
                }
            }
            for (dnnl_memory m : scratchpads) {
                dnnl_memory_destroy(m);
            }
            primitives.clear();
            scratchpads.clear();
        }
    }

    /** The address of an ND4J array's first element (as in {@link DirectConvolution}: a view's buffer starts at the view). */
    private static final class Address extends Pointer {
        Address(INDArray a) {
            Pointer base = a.data().addressPointer();
            address = base.address() + base.position() * base.sizeof();
        }

        Address(long address) {
            this.address = address;
        }
    }

    private static void check(int status, String what) {
        if (status != dnnl_success) {
            throw new IllegalStateException("oneDNN " + what + " failed with status " + status);
        }
    }
}
