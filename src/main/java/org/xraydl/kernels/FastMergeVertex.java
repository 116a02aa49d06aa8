package org.xraydl.kernels;

import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_stream;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.graph.vertex.impl.MergeVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.xraydl.kernels.OneDnn.Plan;
import org.xraydl.kernels.OneDnn.Plans;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.bytedeco.dnnl.global.dnnl.*;

/**
 * DL4J's {@link MergeVertex} whose backprop splits the gradient of an NCHW float concatenation along the channels
 * with oneDNN reorders (a strided view of each input's channels into a dense array) instead of ND4J's
 * {@code assign} from a strided view, which runs its generic-stride loop: 1.4-5x the time of a dense copy of the same
 * size at DenseNet-121's shapes (batch 16, 128 px). The same copies, so the same bits. Everything else (forward,
 * masks, other ranks, axes and data types, shapes oneDNN declines) is DL4J's code. Made by {@link FastLayers} in
 * place of the graph's merge vertices (same name, index and connections); the configuration is DL4J's.
 */
public final class FastMergeVertex extends MergeVertex {
    private static final int MAX_PLANS = 12;
    private static final AtomicLong SPLITS = new AtomicLong();

    private final int mergeAxis;
    private long[][] inputShapes;
    private dnnl_stream stream;
    private Plans plans;

    public FastMergeVertex(ComputationGraph graph, String name, int vertexIndex, VertexIndices[] inputVertices,
                           VertexIndices[] outputVertices, DataType dataType, int mergeAxis) {
        super(graph, name, vertexIndex, inputVertices, outputVertices, dataType, mergeAxis);
        this.mergeAxis = mergeAxis;
    }

    /** Gradients split here, process-wide (tests, and proof that the path engaged). */
    static long splits() {
        return SPLITS.get();
    }

    @Override
    public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
        INDArray out = super.doForward(training, workspaceMgr);
        long[][] shapes = new long[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
            shapes[i] = inputs[i].shape();
        }
        inputShapes = shapes;
        return out;
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        INDArray[] out = handles() ? split(workspaceMgr) : null;
        return out != null ? new Pair<>(null, out) : super.doBackward(tbptt, workspaceMgr);
    }

    private boolean handles() {
        if (!FastLayers.enabled(FastLayers.FAST_MERGE_PROPERTY)) {
            return false; // switched off after the vertex was made (read per call, like the other kernels' switches)
        }
        if (epsilon == null || inputShapes == null || inputShapes.length < 2 || mergeAxis != 1 || epsilon.rank() != 4
                || epsilon.dataType() != DataType.FLOAT || !OneDnn.denseC(epsilon) || !OneDnn.available()) {
            return false;
        }
        long channels = 0;
        for (long[] s : inputShapes) {
            if (s.length != 4 || s[0] != epsilon.size(0) || s[2] != epsilon.size(2) || s[3] != epsilon.size(3)) {
                return false;
            }
            channels += s[1];
        }
        return channels == epsilon.size(1);
    }

    /** The gradient's channel slices into new dense arrays (as DL4J's, in the ACTIVATION_GRAD workspace); null if declined. */
    private INDArray[] split(LayerWorkspaceMgr workspaceMgr) {
        if (plans == null) {
            stream = OneDnn.stream();
            plans = new Plans(MAX_PLANS, (key, why) -> { });
        }
        long n = epsilon.size(0);
        long c = epsilon.size(1);
        long h = epsilon.size(2);
        long w = epsilon.size(3);
        INDArray[] out = new INDArray[inputShapes.length];
        long from = 0;
        for (int i = 0; i < out.length; i++) {
            long ci = inputShapes[i][1];
            long offset = from;
            Plan plan = plans.get(List.of(n, c, h, w, ci), () -> copyPlan(n, c, h, w, ci));
            if (plan == null) {
                return null; // nothing handed out yet: DL4J's split runs instead
            }
            out[i] = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, epsilon.dataType(), inputShapes[i], 'c');
            INDArray slice = epsilon.get(NDArrayIndex.all(), NDArrayIndex.interval(offset, offset + ci), NDArrayIndex.all(), NDArrayIndex.all());
            plan.run(stream, slice, out[i]);
            from += ci;
        }
        SPLITS.incrementAndGet();
        return out;
    }

    /** User arrays: 0 = ci channels of an [n, c, h, w] array (its strides), 1 = a dense [n, ci, h, w] array. */
    private static Plan copyPlan(long n, long c, long h, long w, long ci) {
        return Plan.build(2, p -> {
            long[] dims = {n, ci, h, w};
            dnnl_memory_desc_t strided = new dnnl_memory_desc_t();
            OneDnn.check(dnnl_memory_desc_init_by_strides(strided, 4, dims, dnnl_f32, new long[]{c * h * w, h * w, w, 1}), "strided descriptor");
            p.reorder(0, strided, 1, OneDnn.md(dims, dnnl_nchw));
        });
    }
}
