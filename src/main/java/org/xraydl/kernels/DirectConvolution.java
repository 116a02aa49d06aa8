package org.xraydl.kernels;

import org.bytedeco.dnnl.const_dnnl_op_desc_t;
import org.bytedeco.dnnl.dnnl_convolution_desc_t;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.bytedeco.dnnl.global.dnnl.*;

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
 * thread's {@link Scratch}, as large as the largest convolution's needs. oneDNN 2.5.2's OpenMP dependency
 * resolves to the libgomp ND4J has loaded, so both share one thread pool. A shape oneDNN declines is left to
 * the caller's fallback (DL4J's helper), with one warning.
 */
final class DirectConvolution {
    private static final Logger log = LoggerFactory.getLogger(DirectConvolution.class);
    /** System property: false keeps DL4J's oneDNN helper for every convolution. */
    static final String PROPERTY = "xraydl.directConv";
    private static final int MAX_PLANS = 6;
    private static volatile Boolean available;
    private static dnnl_engine engine;
    /**
     * Every primitive takes its scratchpad from the caller (oneDNN's "user" scratchpad mode), placed in the running
     * thread's {@link Scratch}. oneDNN 2.5's default ("library") scratchpad belongs to the thread that created the
     * primitive: a plan built on one thread and run on another (ParallelWrapper's workers, after that thread ended)
     * wrote through a freed scratchpad and crashed the JVM (SIGSEGV in dnnl_primitive_execute).
     */
    private static dnnl_primitive_attr userScratchpad;

    private final dnnl_stream stream = new dnnl_stream();
    private final Plans forwardPlans = new Plans();
    private final Plans backwardPlans = new Plans();

    private DirectConvolution() {
        check(dnnl_stream_create(stream, engine, dnnl_stream_default_flags), "stream");
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
        if (available == null) {
            synchronized (DirectConvolution.class) {
                if (available == null) {
                    available = load();
                }
            }
        }
        return available;
    }

    /** The CPU engine of oneDNN's Java bindings, for this package's other primitives ({@link DirectEltwise}); null where they do not load. */
    static dnnl_engine engine() {
        return available() ? engine : null;
    }

    private static boolean load() {
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class);
            dnnl_engine e = new dnnl_engine();
            check(dnnl_engine_create(e, dnnl_cpu, 0), "engine");
            dnnl_primitive_attr a = new dnnl_primitive_attr();
            check(dnnl_primitive_attr_create(a), "primitive attributes");
            check(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user), "scratchpad mode");
            userScratchpad = a;
            engine = e;
            return true;
        } catch (Throwable t) { // no natives for this platform, or a failing engine: DL4J's helper stays in use
            log.warn("oneDNN's Java bindings are not usable here ({}); convolutions use DL4J's oneDNN helper", t.toString());
            return false;
        }
    }

    /** Whether these arrays and settings are the case handled here. */
    static boolean handles(INDArray input, INDArray weights, int[] stride, int[] dilation) {
        return input.dataType() == DataType.FLOAT && weights.dataType() == DataType.FLOAT && input.rank() == 4
                && weights.rank() == 4 && input.size(1) == weights.size(1) && dilation[0] == 1 && dilation[1] == 1
                && stride[0] >= 1 && stride[1] >= 1 && denseC(input) && denseC(weights);
    }

    /** C-order without gaps: what an NCHW/OIHW oneDNN descriptor over the buffer means. */
    static boolean denseC(INDArray a) {
        if (a.length() <= 0) {
            return false;
        }
        long[] shape = a.shape();
        long[] stride = a.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) { // a size-1 dimension's stride is never used
                return false;
            }
            expected *= shape[i];
        }
        return true;
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

    /** The plans kept for one direction (tests). */
    int plans(boolean forward) {
        return (forward ? forwardPlans : backwardPlans).kept.size();
    }

    /** The bytes of oneDNN scratchpad the primitives of one direction's kept plans take from the thread's scratch area (tests). */
    long scratchpadBytes(boolean forward) {
        long n = 0;
        for (Plan p : (forward ? forwardPlans : backwardPlans).kept.values()) {
            n += p.scratchpadBytes;
        }
        return n;
    }

    /** One direction's plans by shape: at most {@value #MAX_PLANS} kept, oldest freed first; shapes oneDNN declined. */
    private static final class Plans {
        private final Map<List<Long>, Plan> kept = new LinkedHashMap<>();
        private final Set<List<Long>> refused = new HashSet<>();

        /** The plan for {@code key}, made now if new; null when oneDNN declines it (then for good, with one warning). */
        Plan get(List<Long> key, java.util.function.Supplier<Plan> make) {
            Plan plan = kept.get(key);
            if (plan != null || refused.contains(key)) {
                return plan;
            }
            try {
                plan = make.get();
            } catch (IllegalStateException e) { // oneDNN has no primitive for this case: the fallback runs it, every time
                refused.add(key);
                log.warn("oneDNN declined a convolution ({}): DL4J's helper runs this shape", e.getMessage());
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

    private static List<Long> key(INDArray x, INDArray w, INDArray y, int[] stride, int[] pad) {
        List<Long> k = new ArrayList<>(16);
        for (long d : x.shape()) {
            k.add(d);
        }
        for (long d : w.shape()) {
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
        dnnl_convolution_desc_t weightsDesc = new dnnl_convolution_desc_t();
        check(dnnl_convolution_backward_weights_desc_init(weightsDesc, dnnl_convolution_direct, any(x), any(w), null, any(y),
                longs(stride), longs(pad), padR), "backward-weights descriptor");
        dnnl_primitive_desc weights = pd(weightsDesc, hint);
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

    /** A primitive descriptor no longer needed (the primitives keep copies of their own). */
    private static void destroy(dnnl_primitive_desc pd) {
        dnnl_primitive_desc_destroy(pd);
    }

    /**
     * The steps of one call: reorders into the primitives' layouts, the primitives, reorders back into the
     * user arrays. User arrays are oneDNN memories whose data handle is set to the ND4J buffer on each call.
     */
    private static final class Plan {
        private final dnnl_memory[] user;
        private final List<dnnl_primitive> steps = new ArrayList<>();
        private final List<dnnl_exec_arg_t> args = new ArrayList<>();
        private final List<Integer> argCounts = new ArrayList<>();
        private final List<PendingOutput> pendingOutputs = new ArrayList<>();
        /** Intermediate memories (other layouts) and their byte offsets in the thread's {@link Scratch}. */
        private final List<dnnl_memory> scratchMemories = new ArrayList<>();
        /** Every memory object of the plan (user arrays and scratch), for {@link #close}. */
        private final List<dnnl_memory> memories = new ArrayList<>();
        private final List<Long> scratchOffsets = new ArrayList<>();
        private long scratchBytes;
        /** The part of {@link #scratchBytes} that is the primitives' own scratchpads (tests). */
        private long scratchpadBytes;

        Plan(int userArrays) {
            user = new dnnl_memory[userArrays];
        }

        private dnnl_memory user(int i, dnnl_memory_desc_t md) {
            if (user[i] == null) {
                user[i] = memory(md, new Pointer()); // no buffer yet: the handle is set per call
                memories.add(user[i]);
            }
            return user[i];
        }

        /** Frees the plan's oneDNN objects (it is not used again). */
        void close() {
            for (dnnl_primitive p : steps) {
                dnnl_primitive_destroy(p);
            }
            for (dnnl_memory m : memories) {
                dnnl_memory_destroy(m);
            }
            steps.clear();
            memories.clear();
        }

        /** The memory a primitive reads for user array i: the array itself, or a reordered copy. */
        dnnl_memory input(int i, dnnl_memory_desc_t userMd, dnnl_memory_desc_t wanted) {
            dnnl_memory u = user(i, userMd);
            if (dnnl_memory_desc_equal(userMd, wanted) != 0) {
                return u;
            }
            dnnl_memory copy = buffer(wanted);
            addReorder(userMd, wanted, u, copy);
            return copy;
        }

        /** The memory a primitive writes for user array i; a reorder back is added by {@link #finishOutputs}. */
        dnnl_memory output(int i, dnnl_memory_desc_t userMd, dnnl_memory_desc_t produced) {
            dnnl_memory u = user(i, userMd);
            if (dnnl_memory_desc_equal(userMd, produced) != 0) {
                return u;
            }
            dnnl_memory out = buffer(produced);
            pendingOutputs.add(new PendingOutput(out, produced, u, userMd));
            return out;
        }

        /** The reorders of {@link #output}s back into the user arrays, after every primitive that writes them. */
        void finishOutputs() {
            for (PendingOutput o : pendingOutputs) {
                addReorder(o.producedMd(), o.userMd(), o.produced(), o.user());
            }
            pendingOutputs.clear();
        }

        /** A memory in another layout, placed in the thread's scratch area at each run (see {@link Scratch}). */
        private dnnl_memory buffer(dnnl_memory_desc_t md) {
            dnnl_memory m = memory(md, new Pointer()); // no buffer yet: set per run
            memories.add(m);
            scratchMemories.add(m);
            scratchOffsets.add(scratchBytes);
            scratchBytes += Scratch.aligned(dnnl_memory_desc_get_size(md));
            return m;
        }

        /** A step: the primitive of {@code pd} on these memories, with its scratchpad in the thread's scratch area. */
        void add(dnnl_primitive_desc pd, int[] kinds, dnnl_memory... memories) {
            dnnl_memory_desc_t padMd = query(pd, dnnl_query_scratchpad_md);
            dnnl_memory pad = padMd != null && !padMd.isNull() && dnnl_memory_desc_get_size(padMd) > 0 ? buffer(padMd) : null;
            int n = kinds.length + (pad != null ? 1 : 0);
            dnnl_exec_arg_t a = new dnnl_exec_arg_t(n);
            for (int i = 0; i < kinds.length; i++) {
                a.position(i).arg(kinds[i]).memory(memories[i]);
            }
            if (pad != null) {
                a.position(kinds.length).arg(DNNL_ARG_SCRATCHPAD).memory(pad);
                scratchpadBytes += dnnl_memory_desc_get_size(padMd);
            }
            steps.add(primitive(pd));
            args.add(a.position(0));
            argCounts.add(n);
        }

        private void addReorder(dnnl_memory_desc_t from, dnnl_memory_desc_t to, dnnl_memory src, dnnl_memory dst) {
            dnnl_primitive_desc pd = new dnnl_primitive_desc();
            check(dnnl_reorder_primitive_desc_create(pd, from, engine, to, engine, userScratchpad), "reorder descriptor");
            add(pd, new int[]{DNNL_ARG_FROM, DNNL_ARG_TO}, src, dst);
            destroy(pd);
        }

        void run(dnnl_stream stream, INDArray... arrays) {
            for (int i = 0; i < arrays.length; i++) {
                if (user[i] != null) {
                    check(dnnl_memory_set_data_handle(user[i], new Address(arrays[i])), "data handle");
                }
            }
            if (scratchBytes > 0) {
                long base = Scratch.forThisThread(scratchBytes);
                for (int i = 0; i < scratchMemories.size(); i++) {
                    check(dnnl_memory_set_data_handle(scratchMemories.get(i), new Address(base + scratchOffsets.get(i))), "scratch handle");
                }
            }
            for (int i = 0; i < steps.size(); i++) {
                check(dnnl_primitive_execute(steps.get(i), stream, argCounts.get(i), args.get(i)), "execute");
            }
            check(dnnl_stream_wait(stream), "stream wait");
        }
    }

    /** A primitive's output in its own layout, to be reordered into the user array's. */
    private record PendingOutput(dnnl_memory produced, dnnl_memory_desc_t producedMd, dnnl_memory user, dnnl_memory_desc_t userMd) {
    }

    /**
     * The address of an ND4J array's first element. A view's data buffer is itself a view that starts at the
     * view's offset ({@code addressPointer()} already points there), so the array's offset is not added again.
     */
    private static final class Address extends Pointer {
        Address(INDArray a) {
            Pointer base = a.data().addressPointer();
            address = base.address() + base.position() * base.sizeof();
        }

        Address(long address) {
            this.address = address;
        }
    }

    /**
     * The intermediate arrays of the convolutions run by one thread (input, weights and gradients in oneDNN's
     * blocked layouts, where a primitive wants them so), one area per thread that every layer's plans share: a
     * plan's buffers are only alive while it runs, and a thread runs one plan at a time. So the memory is that of
     * the largest convolution, not the sum over layers and shapes. Grows when a larger plan runs; freed with its
     * thread (JavaCPP's deallocator, when the thread's {@code ThreadLocal} goes).
     */
    static final class Scratch {
        private static final long ALIGN = 64; // oneDNN's preferred alignment
        private static final ThreadLocal<Scratch> PER_THREAD = ThreadLocal.withInitial(Scratch::new);
        private BytePointer memory;
        private long bytes;
        private long base;

        static long aligned(long n) {
            return (n + ALIGN - 1) / ALIGN * ALIGN;
        }

        /** The 64-byte aligned start of at least {@code need} bytes of this thread's scratch area. */
        static long forThisThread(long need) {
            Scratch s = PER_THREAD.get();
            if (need > s.bytes) {
                if (s.memory != null) {
                    s.memory.deallocate();
                }
                s.memory = new BytePointer(need + ALIGN);
                s.bytes = need;
                s.base = aligned(s.memory.address());
            }
            return s.base;
        }

        /** This thread's scratch size in bytes (tests). */
        static long sizeForThisThread() {
            return PER_THREAD.get().bytes;
        }
    }

    private static dnnl_memory_desc_t md(long[] dims, int tag) {
        dnnl_memory_desc_t m = new dnnl_memory_desc_t();
        check(dnnl_memory_desc_init_by_tag(m, dims.length, dims, dnnl_f32, tag), "memory descriptor");
        return m;
    }

    private static dnnl_memory_desc_t any(long[] dims) {
        return md(dims, dnnl_format_tag_any);
    }

    private static dnnl_memory_desc_t query(dnnl_primitive_desc pd, int what) {
        return dnnl_primitive_desc_query_md(pd, what, 0);
    }

    private static dnnl_primitive_desc pd(dnnl_convolution_desc_t d, dnnl_primitive_desc hint) {
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        check(dnnl_primitive_desc_create(pd, new const_dnnl_op_desc_t(d), userScratchpad, engine, hint), "primitive descriptor");
        return pd;
    }

    private static dnnl_primitive primitive(dnnl_primitive_desc pd) {
        dnnl_primitive p = new dnnl_primitive();
        check(dnnl_primitive_create(p, pd), "primitive");
        return p;
    }

    private static dnnl_memory memory(dnnl_memory_desc_t md, Pointer handle) {
        dnnl_memory m = new dnnl_memory();
        check(dnnl_memory_create(m, md, engine, handle), "memory");
        return m;
    }

    private static long[] longs(int[] v) {
        return new long[]{v[0], v[1]};
    }

    private static void check(int status, String what) {
        if (status != dnnl_success) {
            throw new IllegalStateException("oneDNN " + what + " failed with status " + status);
        }
    }
}
