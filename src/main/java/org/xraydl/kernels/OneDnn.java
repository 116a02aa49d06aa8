package org.xraydl.kernels;

import org.bytedeco.dnnl.const_dnnl_op_desc_t;
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
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Supplier;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * What {@link DirectConvolution}, {@link DirectPooling} and {@link DirectEltwise} share to call oneDNN's C API directly (JavaCPP's
 * {@code org.bytedeco:dnnl} 2.5.2): the CPU engine, the primitive attributes (user-managed scratchpads), a
 * {@link Plan} of steps made once per shape and run on ND4J's buffers, the {@link Plans} kept per layer and
 * direction, and the per-thread {@link Scratch} area every plan's intermediate buffers live in.
 */
final class OneDnn {
    private static final Logger log = LoggerFactory.getLogger(OneDnn.class);
    private static volatile Boolean available;
    static dnnl_engine engine;
    /**
     * Every primitive takes its scratchpad from the caller (oneDNN's "user" scratchpad mode), placed in the running
     * thread's {@link Scratch}. oneDNN 2.5's default ("library") scratchpad belongs to the thread that created the
     * primitive: a plan built on one thread and run on another (ParallelWrapper's workers, after that thread ended)
     * wrote through a freed scratchpad and crashed the JVM (SIGSEGV in dnnl_primitive_execute).
     */
    static dnnl_primitive_attr userScratchpad;

    private OneDnn() {
    }

    /** Whether oneDNN's Java bindings load here and its CPU engine starts (decided once, with one warning if not). */
    static boolean available() {
        if (available == null) {
            synchronized (OneDnn.class) {
                if (available == null) {
                    available = load();
                }
            }
        }
        return available;
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
        } catch (Throwable t) { // no natives for this platform, or a failing engine: the callers keep their fallbacks
            log.warn("oneDNN's Java bindings are not usable here ({}); convolutions use DL4J's oneDNN helper, pooling "
                    + "libnd4j's kernel and the fast batch-norm and ReLU layers ND4J's ops", t.toString());
            return false;
        }
    }

    /** A stream on the engine (one per layer object: a layer runs one call at a time). */
    static dnnl_stream stream() {
        dnnl_stream s = new dnnl_stream();
        check(dnnl_stream_create(s, engine, dnnl_stream_default_flags), "stream");
        return s;
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
     * One direction's plans of one layer by shape: at most {@code max} kept, oldest freed first; shapes oneDNN
     * declined (remembered, so the caller's fallback runs them without another try).
     */
    static final class Plans {
        private final Map<List<Long>, Plan> kept = new LinkedHashMap<>();
        private final Set<List<Long>> refused = new HashSet<>();
        private final int max;
        private final BiConsumer<List<Long>, String> onDecline;

        /** @param onDecline told the key and oneDNN's reason the first time this object meets a shape it declines */
        Plans(int max, BiConsumer<List<Long>, String> onDecline) {
            this.max = max;
            this.onDecline = onDecline;
        }

        /** The plan for {@code key}, made now if new; null when oneDNN declines it (then for good). */
        Plan get(List<Long> key, Supplier<Plan> make) {
            Plan plan = kept.get(key);
            if (plan != null || refused.contains(key)) {
                return plan;
            }
            try {
                plan = make.get();
            } catch (IllegalStateException e) { // oneDNN has no primitive for this case: the fallback runs it, every time
                refused.add(key);
                onDecline.accept(key, e.getMessage());
                return null;
            }
            if (kept.size() >= max) {
                Iterator<Plan> oldest = kept.values().iterator();
                oldest.next().close();
                oldest.remove();
            }
            kept.put(key, plan);
            return plan;
        }

        int size() {
            return kept.size();
        }

        /** The bytes of oneDNN scratchpad the primitives of the kept plans take from the thread's scratch area (tests). */
        long scratchpadBytes() {
            long n = 0;
            for (Plan p : kept.values()) {
                n += p.scratchpadBytes;
            }
            return n;
        }

        /** oneDNN's implementation names of the steps of the kept plans, e.g. {@code [jit:uni]} (tests). */
        Set<String> implementations() {
            Set<String> names = new TreeSet<>();
            for (Plan p : kept.values()) {
                names.addAll(p.implementations);
            }
            return names;
        }
    }

    /**
     * The steps of one call: reorders into the primitives' layouts, the primitives, reorders back into the
     * user arrays. User arrays are oneDNN memories whose data handle is set to the ND4J buffer on each call;
     * bound memories (a layer's own buffers, e.g. a max pool's workspace or {@link DirectEltwise}'s per-channel
     * factors) get the addresses the caller passes;
     * intermediate memories live in the running thread's {@link Scratch}.
     */
    static final class Plan {
        private final dnnl_memory[] user;
        /** oneDNN's implementation name of each step (tests). */
        private final List<String> implementations = new ArrayList<>();
        private final List<dnnl_memory> bound = new ArrayList<>();
        private final List<Long> boundBytes = new ArrayList<>();
        private final List<dnnl_primitive> steps = new ArrayList<>();
        private final List<dnnl_exec_arg_t> args = new ArrayList<>();
        private final List<Integer> argCounts = new ArrayList<>();
        private final List<PendingOutput> pendingOutputs = new ArrayList<>();
        /** Intermediate memories (other layouts) and their byte offsets in the thread's {@link Scratch}. */
        private final List<dnnl_memory> scratchMemories = new ArrayList<>();
        /** Every memory object of the plan (user arrays, bound and scratch), for {@link #close}. */
        private final List<dnnl_memory> memories = new ArrayList<>();
        private final List<Long> scratchOffsets = new ArrayList<>();
        private long scratchBytes;
        /** The part of {@link #scratchBytes} that is the primitives' own scratchpads (tests). */
        long scratchpadBytes;

        Plan(int userArrays) {
            user = new dnnl_memory[userArrays];
        }

        /**
         * A plan of {@code userArrays} user arrays whose steps {@code fill} adds, with the reorders back into the user
         * arrays after them; its oneDNN objects are freed if {@code fill} fails (e.g. a declined step).
         */
        static Plan build(int userArrays, Consumer<Plan> fill) {
            Plan p = new Plan(userArrays);
            try {
                fill.accept(p);
                p.finishOutputs();
                return p;
            } catch (RuntimeException e) {
                p.close();
                throw e;
            }
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
            return input(i, userMd, wanted, false);
        }

        /** {@link #input} or {@link #boundInput}: the reordered copy in the scratch area or in a {@link #bound} memory. */
        private dnnl_memory input(int i, dnnl_memory_desc_t userMd, dnnl_memory_desc_t wanted, boolean intoBound) {
            dnnl_memory u = user(i, userMd);
            if (dnnl_memory_desc_equal(userMd, wanted) != 0) {
                return u;
            }
            dnnl_memory copy = intoBound ? bound(wanted) : buffer(wanted);
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

        /** A reorder from user array {@code from} into user array {@code to} (e.g. a strided view into a dense array). */
        void reorder(int from, dnnl_memory_desc_t fromMd, int to, dnnl_memory_desc_t toMd) {
            addReorder(fromMd, toMd, user(from, fromMd), user(to, toMd));
        }

        /** A memory whose buffer the caller owns and passes to {@link #run(dnnl_stream, long[], INDArray...)} (in this order). */
        dnnl_memory bound(dnnl_memory_desc_t md) {
            dnnl_memory m = memory(md, new Pointer());
            memories.add(m);
            bound.add(m);
            boundBytes.add(dnnl_memory_desc_get_size(md));
            return m;
        }

        /** The size in bytes of the buffer the i-th {@link #bound} memory needs. */
        long boundBytes(int i) {
            return boundBytes.get(i);
        }

        /** How many {@link #bound} memories the plan has (their buffers are passed to each run). */
        int boundCount() {
            return bound.size();
        }

        /**
         * As {@link #input}, but a reordered copy goes into a {@link #bound} memory (a buffer the caller owns and keeps,
         * e.g. {@link DirectConvolution}'s blocked input kept for the backward pass) instead of the scratch area; where no
         * reorder is needed the user array itself is returned and nothing is bound.
         */
        dnnl_memory boundInput(int i, dnnl_memory_desc_t userMd, dnnl_memory_desc_t wanted) {
            return input(i, userMd, wanted, true);
        }

        /** The reorders of {@link #output}s back into the user arrays, after every primitive that writes them. */
        void finishOutputs() {
            for (PendingOutput o : pendingOutputs) {
                addReorder(o.producedMd(), o.userMd(), o.produced(), o.user());
            }
            pendingOutputs.clear();
        }

        /** A memory in another layout, placed in the thread's scratch area at each run (see {@link Scratch}). */
        dnnl_memory buffer(dnnl_memory_desc_t md) {
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
            implementations.add(implementation(pd));
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
            run(stream, new long[0], arrays);
        }

        /** Runs the steps on these user arrays (by index) and the buffers of the {@link #bound} memories (in order). */
        void run(dnnl_stream stream, long[] boundAddresses, INDArray... arrays) {
            for (int i = 0; i < arrays.length; i++) {
                if (user[i] != null) {
                    check(dnnl_memory_set_data_handle(user[i], new Address(arrays[i])), "data handle");
                }
            }
            if (boundAddresses.length != bound.size()) {
                throw new IllegalArgumentException(bound.size() + " bound buffers, " + boundAddresses.length + " given");
            }
            for (int i = 0; i < boundAddresses.length; i++) {
                check(dnnl_memory_set_data_handle(bound.get(i), new Address(boundAddresses[i])), "bound handle");
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
    static final class Address extends Pointer {
        Address(INDArray a) {
            this.address = of(a);
        }

        Address(long address) {
            this.address = address;
        }

        static long of(INDArray a) {
            Pointer base = a.data().addressPointer();
            return base.address() + base.position() * base.sizeof();
        }
    }

    /**
     * The intermediate arrays of the primitives run by one thread (inputs, outputs and gradients in oneDNN's
     * blocked layouts, where a primitive wants them so), one area per thread that every layer's plans share: a
     * plan's buffers are only alive while it runs, and a thread runs one plan at a time. So the memory is that of
     * the largest plan, not the sum over layers and shapes. Grows when a larger plan runs; freed with its
     * thread (JavaCPP's deallocator, when the thread's {@code ThreadLocal} goes).
     */
    static final class Scratch {
        static final long ALIGN = 64; // oneDNN's preferred alignment
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

    static dnnl_memory_desc_t md(long[] dims, int tag) {
        dnnl_memory_desc_t m = new dnnl_memory_desc_t();
        check(dnnl_memory_desc_init_by_tag(m, dims.length, dims, dnnl_f32, tag), "memory descriptor");
        return m;
    }

    static dnnl_memory_desc_t any(long[] dims) {
        return md(dims, dnnl_format_tag_any);
    }

    /** The memory descriptor {@code pd} reports for {@code what}, or null when it has none (e.g. no workspace). */
    static dnnl_memory_desc_t query(dnnl_primitive_desc pd, int what) {
        return dnnl_primitive_desc_query_md(pd, what, 0);
    }

    /** Whether a queried descriptor describes any memory (oneDNN answers "zero" descriptors for none). */
    static boolean present(dnnl_memory_desc_t md) {
        return md != null && !md.isNull() && dnnl_memory_desc_get_size(md) > 0;
    }

    /** The primitive descriptor of an operation descriptor ({@code dnnl_*_desc_t}) on the engine; {@code hint}: the forward pass's, or null. */
    static dnnl_primitive_desc primitiveDesc(Pointer opDesc, dnnl_primitive_attr attr, dnnl_primitive_desc hint, String what) {
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        check(dnnl_primitive_desc_create(pd, new const_dnnl_op_desc_t(opDesc), attr, engine, hint), what);
        return pd;
    }

    /**
     * {@code pd}, unless oneDNN chose a reference ({@code ref}) implementation there: then it is freed and declined
     * (IllegalStateException), so that the caller's fallback runs the case.
     */
    static dnnl_primitive_desc declineReference(dnnl_primitive_desc pd) {
        String impl = implementation(pd);
        if (impl.startsWith("ref")) {
            destroy(pd);
            throw new IllegalStateException("only oneDNN's reference implementation (" + impl + ")");
        }
        return pd;
    }

    /** New attributes: a user-managed scratchpad ({@link #userScratchpad}) and these post-ops. The caller destroys them. */
    static dnnl_primitive_attr userScratchpadWith(dnnl_post_ops postOps) {
        dnnl_primitive_attr a = new dnnl_primitive_attr();
        check(dnnl_primitive_attr_clone(a, userScratchpad), "primitive attributes");
        int status = dnnl_primitive_attr_set_post_ops(a, postOps);
        if (status != dnnl_success) {
            dnnl_primitive_attr_destroy(a);
            check(status, "post-op attribute");
        }
        return a;
    }

    /** oneDNN's name of the implementation {@code pd} chose, e.g. {@code jit:avx2} or {@code ref:any}. */
    static String implementation(dnnl_primitive_desc pd) {
        PointerPointer<BytePointer> name = new PointerPointer<>(1);
        check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, name), "implementation name");
        return name.get(BytePointer.class, 0).getString();
    }

    static dnnl_primitive primitive(dnnl_primitive_desc pd) {
        dnnl_primitive p = new dnnl_primitive();
        check(dnnl_primitive_create(p, pd), "primitive");
        return p;
    }

    static dnnl_memory memory(dnnl_memory_desc_t md, Pointer handle) {
        dnnl_memory m = new dnnl_memory();
        check(dnnl_memory_create(m, md, engine, handle), "memory");
        return m;
    }

    /** A primitive descriptor no longer needed (the primitives keep copies of their own). */
    static void destroy(dnnl_primitive_desc pd) {
        dnnl_primitive_desc_destroy(pd);
    }

    static long[] longs(int[] v) {
        return new long[]{v[0], v[1]};
    }

    /** @throws IllegalStateException for any status other than success (a plan maker's "declined") */
    static void check(int status, String what) {
        if (status != dnnl_success) {
            throw new IllegalStateException("oneDNN " + what + " failed with status " + status);
        }
    }
}
