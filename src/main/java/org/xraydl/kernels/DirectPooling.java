package org.xraydl.kernels;

import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_pooling_desc_t;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.kernels.OneDnn.Address;
import org.xraydl.kernels.OneDnn.Plan;
import org.xraydl.kernels.OneDnn.Plans;
import org.xraydl.kernels.OneDnn.Scratch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.dnnl.global.dnnl.*;
import static org.xraydl.kernels.OneDnn.check;
import static org.xraydl.kernels.OneDnn.destroy;
import static org.xraydl.kernels.OneDnn.md;
import static org.xraydl.kernels.OneDnn.present;
import static org.xraydl.kernels.OneDnn.query;
import static org.xraydl.kernels.OneDnn.userScratchpad;

/**
 * 2-D max and average pooling (forward; backward) through oneDNN's C API called directly, in oneDNN's blocked
 * {@code nChw8c} layout, for CPUs without AVX-512. Why: the oneDNN 2.5.2 in nd4j-native has a JIT pooling kernel for
 * plain NCHW memory only from {@code avx512_core} up (below that, a reference-style one, much slower than libnd4j's
 * own kernel, see {@link PoolingKernel}), but its {@code jit:avx2} kernel runs on {@code nChw8c}. So each call
 * reorders the NCHW input into {@code nChw8c}, pools, and reorders the result back; with the reorders that was still
 * faster than libnd4j's kernel, above all for the backward pass (numbers in {@link PoolingKernel}).
 *
 * <p>Max pooling in training mode keeps oneDNN's workspace (the position of each window's maximum) in a buffer of
 * this object, for the backward pass of the same layer. That backward pass uses it only when the last forward pass
 * was a training-mode one on the same shape and settings and on the same input buffer; otherwise (a forward pass
 * in inference mode or of another shape since, or none) it recomputes the forward pass into scratch memory first,
 * so it never reads a stale workspace. Average pooling divides by the number of window elements inside the input
 * (oneDNN's {@code pooling_avg_exclude_padding}): DL4J's default, libnd4j's {@code avgpool2d} with
 * {@code extraParam0 = 0}. Ties in a max-pool window: the gradient goes to the first maximum in row-major order
 * (oneDNN's kernels replace the running maximum only by a strictly greater value), as libnd4j's {@code maxpool2d_bp}.
 *
 * <p>Plans, scratch and threads as in {@link DirectConvolution} ({@link OneDnn}): plans made once per shape, at most
 * {@value #MAX_PLANS} a direction per layer, intermediates in the running thread's {@link Scratch}, user-managed
 * scratchpads (plans run on any thread). One object serves one layer, one call at a time. A case this class does
 * not take (other data types, dilation, an input that is not dense NCHW) or a shape oneDNN declines returns false:
 * the caller runs libnd4j's kernel, and the first time a case is met in a process, one warning says so.
 */
final class DirectPooling {
    private static final Logger log = LoggerFactory.getLogger(DirectPooling.class);
    /** System property: false keeps libnd4j's pooling kernel on CPUs without AVX-512. */
    static final String PROPERTY = "xraydl.directPooling";
    private static final int MAX_PLANS = 6;
    /** The cases already warned about in this process (one warning each). */
    private static final Set<String> WARNED = ConcurrentHashMap.newKeySet();

    /**
     * One pooling layer's window: max (else average, padding excluded from the divisor), kernel, stride and
     * dilation (height, width), and the top/left padding (the bottom/right padding follows from the sizes).
     */
    record Window(boolean max, int kH, int kW, int sH, int sW, int dH, int dW, int padTop, int padLeft) {
    }

    private final dnnl_stream stream = OneDnn.stream();
    private final Plans forwardPlans = new Plans(MAX_PLANS, (key, why) -> declined("forward", key, why));
    private final Plans backwardPlans = new Plans(MAX_PLANS, (key, why) -> declined("backward", key, why));

    /** The workspace of the last training-mode max-pool forward pass, kept for its backward pass. */
    private BytePointer workspace;
    private long workspaceBytes;
    /** What {@link #workspace} holds: the geometry key of its forward pass, or null when it holds nothing usable. */
    private List<Long> workspaceKey;
    /** ...and the address of the input that forward pass read. */
    private long workspaceInput;

    private int declinedCalls;
    private int recomputedForwards;

    private DirectPooling() {
    }

    /**
     * A new instance, or null where {@value #PROPERTY} is {@code false} or oneDNN's Java bindings do not load here
     * (then libnd4j's kernel, with one warning from the loader).
     */
    static DirectPooling createIfAvailable() {
        return enabled() && OneDnn.available() ? new DirectPooling() : null;
    }

    /** The {@value #PROPERTY} switch: {@code true} (default) or {@code false}; anything else is refused. */
    static boolean enabled() {
        String v = System.getProperty(PROPERTY, "true").trim();
        if (!v.equals("true") && !v.equals("false")) {
            throw new UserError("-D" + PROPERTY + "=" + v + " is not a setting: use true (oneDNN's nChw8c pooling called "
                    + "directly on CPUs without AVX-512, the default) or false (libnd4j's pooling kernel there)");
        }
        return v.equals("true");
    }

    /** Whether this process can run it: switched on and the bindings load. */
    static boolean usable() {
        return enabled() && OneDnn.available();
    }

    /** Calls this object handed back to libnd4j's kernel (declined shapes and cases), for the layer report. */
    int declinedCalls() {
        return declinedCalls;
    }

    /** Max-pool backward passes that found no matching workspace and recomputed the forward pass. */
    int recomputedForwards() {
        return recomputedForwards;
    }

    /** The plans kept for one direction (tests). */
    int plans(boolean forward) {
        return (forward ? forwardPlans : backwardPlans).size();
    }

    /**
     * y = pool(x): in training mode a max pool also keeps its workspace for {@link #backward}. False (nothing
     * written, any kept workspace dropped) when this case is not handled here: the caller runs libnd4j's kernel.
     */
    boolean forward(INDArray x, Window w, boolean training, INDArray y) {
        dropWorkspace(); // whatever happens below, an older workspace no longer belongs to this layer's last forward pass
        String unhandled = unhandled(w, x, y);
        if (unhandled == null && !OneDnn.denseC(y)) {
            unhandled = "an output array that is not dense NCHW";
        }
        if (unhandled != null) {
            return decline(unhandled);
        }
        boolean keepWorkspace = training && w.max();
        List<Long> key = key(x, y, w);
        List<Long> planKey = new ArrayList<>(key);
        planKey.add(keepWorkspace ? 1L : 0L);
        Plan plan = forwardPlans.get(planKey, () -> forwardPlan(x.shape(), y.shape(), w, keepWorkspace));
        if (plan == null) {
            return decline(null);
        }
        if (keepWorkspace) {
            long need = plan.boundBytes(0);
            if (need > workspaceBytes) {
                if (workspace != null) {
                    workspace.deallocate();
                }
                workspace = new BytePointer(need + Scratch.ALIGN);
                workspaceBytes = need;
            }
            plan.run(stream, new long[]{Scratch.aligned(workspace.address())}, x, y);
            workspaceKey = key;
            workspaceInput = Address.of(x);
        } else {
            plan.run(stream, x, y);
        }
        return true;
    }

    /** Forgets the kept workspace (its buffer stays for the next one): the layer ran a forward pass elsewhere. */
    void dropWorkspace() {
        workspaceKey = null;
    }

    /**
     * dx = dL/dx of y = pool(x), given dy = dL/dy; false as {@link #forward}. A max pool uses the workspace of the
     * last forward pass if that ran in training mode on this input and shape, else recomputes the forward pass.
     */
    boolean backward(INDArray x, INDArray dy, Window w, INDArray dx) {
        String unhandled = unhandled(w, x, dy);
        if (unhandled == null && !OneDnn.denseC(dx)) {
            unhandled = "a gradient array that is not dense NCHW";
        }
        if (unhandled == null && !Arrays.equals(x.shape(), dx.shape())) {
            throw new IllegalArgumentException("input " + Arrays.toString(x.shape()) + " and its gradient " + Arrays.toString(dx.shape()));
        }
        if (unhandled != null) {
            return decline(unhandled);
        }
        INDArray g = OneDnn.denseC(dy) ? dy : dy.dup('c'); // e.g. a view of a merged gradient
        List<Long> key = key(x, dy, w);
        boolean kept = w.max() && key.equals(workspaceKey) && Address.of(x) == workspaceInput;
        boolean recompute = w.max() && !kept;
        List<Long> planKey = new ArrayList<>(key);
        planKey.add(recompute ? 1L : 0L);
        Plan plan = backwardPlans.get(planKey, () -> backwardPlan(x.shape(), dy.shape(), w, recompute));
        if (plan == null) {
            return decline(null);
        }
        if (kept) {
            plan.run(stream, new long[]{Scratch.aligned(workspace.address())}, g, dx);
        } else {
            plan.run(stream, g, dx, x);
            if (recompute) {
                recomputedForwards++;
            }
        }
        return true;
    }

    /** Why these arrays are not handled here (the output or output gradient {@code y}), or null if they are. */
    private static String unhandled(Window w, INDArray x, INDArray y) {
        if (x.dataType() != DataType.FLOAT || y.dataType() != DataType.FLOAT || x.rank() != 4 || y.rank() != 4) {
            return "data type or rank other than float, 4";
        }
        if (w.dH() != 1 || w.dW() != 1) {
            return "dilation";
        }
        if (x.size(0) != y.size(0) || x.size(1) != y.size(1)) {
            throw new IllegalArgumentException("pooling input " + Arrays.toString(x.shape()) + " and output (gradient) "
                    + Arrays.toString(y.shape()) + " differ in batch size or channels");
        }
        if (!OneDnn.denseC(x)) {
            return "an input that is not dense NCHW";
        }
        return null;
    }

    private boolean decline(String unhandled) {
        declinedCalls++;
        if (unhandled != null) {
            warnOnce("oneDNN's direct pooling does not take " + unhandled);
        }
        return false;
    }

    /** Key layout: input shape (4), output height and width, max, kernel (2), stride (2), top/left padding (2), then the plan kind. */
    private static void declined(String direction, List<Long> key, String why) {
        warnOnce("oneDNN declined the " + direction + " pass of a " + (key.get(6) == 1 ? "max" : "average") + " pool on "
                + key.subList(0, 4) + " to " + key.subList(4, 6) + ", kernel " + key.subList(7, 9) + ", stride " + key.subList(9, 11)
                + ", padding " + key.subList(11, 13) + " (" + why + ")");
    }

    private static void warnOnce(String what) {
        if (WARNED.add(what)) {
            log.warn("{}: libnd4j's kernel pools these calls", what);
        }
    }

    /** The cases warned about so far in this process (tests). */
    static Set<String> warned() {
        return Set.copyOf(WARNED);
    }

    private static List<Long> key(INDArray x, INDArray y, Window w) {
        List<Long> k = new ArrayList<>(14);
        for (long d : x.shape()) {
            k.add(d);
        }
        k.add(y.size(2));
        k.add(y.size(3));
        k.add(w.max() ? 1L : 0L);
        k.add((long) w.kH());
        k.add((long) w.kW());
        k.add((long) w.sH());
        k.add((long) w.sW());
        k.add((long) w.padTop());
        k.add((long) w.padLeft());
        return k;
    }

    /**
     * The pooling descriptor on {@code nChw8c} memory. The bottom/right padding follows from the sizes and may be
     * negative (DL4J's Truncate mode drops the last rows or columns that no window reaches).
     */
    private static dnnl_pooling_desc_t desc(long[] x, long[] y, Window w, int propKind, boolean backward) {
        long[] strides = {w.sH(), w.sW()};
        long[] kernel = {w.kH(), w.kW()};
        long[] padL = {w.padTop(), w.padLeft()};
        long[] padR = {(y[2] - 1) * w.sH() + w.kH() - x[2] - w.padTop(), (y[3] - 1) * w.sW() + w.kW() - x[3] - w.padLeft()};
        int alg = w.max() ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
        dnnl_pooling_desc_t d = new dnnl_pooling_desc_t();
        if (backward) {
            check(dnnl_pooling_backward_desc_init(d, alg, md(x, dnnl_nChw8c), md(y, dnnl_nChw8c), strides, kernel, padL, padR),
                    "backward pooling descriptor");
        } else {
            check(dnnl_pooling_forward_desc_init(d, propKind, alg, md(x, dnnl_nChw8c), md(y, dnnl_nChw8c), strides, kernel, padL, padR),
                    "forward pooling descriptor");
        }
        return d;
    }

    /**
     * The primitive descriptor, declined unless oneDNN chose a JIT kernel: its reference kernels (which it takes
     * where the JIT ones decline a case) are slower than libnd4j's.
     */
    private static dnnl_primitive_desc pd(dnnl_pooling_desc_t d, dnnl_primitive_desc hint) {
        dnnl_primitive_desc pd = OneDnn.primitiveDesc(d, userScratchpad, hint, "pooling primitive descriptor");
        String impl = OneDnn.implementation(pd);
        if (!impl.startsWith("jit")) {
            destroy(pd);
            throw new IllegalStateException("no JIT kernel, only " + impl);
        }
        return pd;
    }

    /** The workspace descriptor of a training-mode max-pool forward pass; declined if oneDNN reports none. */
    private static dnnl_memory_desc_t workspaceMd(dnnl_primitive_desc fwd) {
        dnnl_memory_desc_t ws = query(fwd, dnnl_query_workspace_md);
        if (!present(ws)) {
            throw new IllegalStateException("no workspace for a training-mode max pool");
        }
        return ws;
    }

    /** User arrays: 0 = x, 1 = y; bound: the workspace when {@code keepWorkspace}. */
    private static Plan forwardPlan(long[] x, long[] y, Window w, boolean keepWorkspace) {
        dnnl_primitive_desc fwd = pd(desc(x, y, w, keepWorkspace ? dnnl_forward_training : dnnl_forward_inference, false), null);
        try {
            return Plan.build(2, p -> {
                dnnl_memory src = p.input(0, md(x, dnnl_nchw), query(fwd, dnnl_query_src_md));
                dnnl_memory dst = p.output(1, md(y, dnnl_nchw), query(fwd, dnnl_query_dst_md));
                if (keepWorkspace) {
                    dnnl_memory ws = p.bound(workspaceMd(fwd));
                    p.add(fwd, new int[]{DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE}, src, dst, ws);
                } else {
                    p.add(fwd, new int[]{DNNL_ARG_SRC, DNNL_ARG_DST}, src, dst);
                }
            });
        } finally {
            destroy(fwd);
        }
    }

    /**
     * User arrays: 0 = dy, 1 = dx, 2 = x (read only when {@code recompute}); bound: the kept workspace for a max pool
     * that does not recompute. With {@code recompute} the plan first runs the training-mode forward pass on x, its
     * output and workspace in scratch memory.
     */
    private static Plan backwardPlan(long[] x, long[] y, Window w, boolean recompute) {
        dnnl_primitive_desc fwd = pd(desc(x, y, w, dnnl_forward_training, false), null);
        try {
            dnnl_primitive_desc bwd = pd(desc(x, y, w, 0, true), fwd);
            try {
                return Plan.build(3, p -> {
                    dnnl_memory ws = null;
                    if (w.max()) {
                        dnnl_memory_desc_t wsMd = workspaceMd(bwd);
                        if (dnnl_memory_desc_equal(wsMd, workspaceMd(fwd)) == 0) {
                            throw new IllegalStateException("the backward pass wants another workspace layout than the forward pass makes");
                        }
                        if (recompute) {
                            dnnl_memory src = p.input(2, md(x, dnnl_nchw), query(fwd, dnnl_query_src_md));
                            dnnl_memory dst = p.buffer(query(fwd, dnnl_query_dst_md));
                            ws = p.buffer(wsMd);
                            p.add(fwd, new int[]{DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE}, src, dst, ws);
                        } else {
                            ws = p.bound(wsMd);
                        }
                    }
                    dnnl_memory diffDst = p.input(0, md(y, dnnl_nchw), query(bwd, dnnl_query_diff_dst_md));
                    dnnl_memory diffSrc = p.output(1, md(x, dnnl_nchw), query(bwd, dnnl_query_diff_src_md));
                    if (ws != null) {
                        p.add(bwd, new int[]{DNNL_ARG_DIFF_DST, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_SRC}, diffDst, ws, diffSrc);
                    } else {
                        p.add(bwd, new int[]{DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC}, diffDst, diffSrc);
                    }
                });
            } finally {
                destroy(bwd);
            }
        } finally {
            destroy(fwd);
        }
    }
}
