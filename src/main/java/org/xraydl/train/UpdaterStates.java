package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The updater state (Adam's m and v, Nesterov's velocity...) of each trainable variable of a graph, by
 * layer and parameter name, so it can be carried between two graphs that share layers but not their
 * layout: the full network (whose updater last.zip saves) and the head graph the featurized engine trains.
 * <p>
 * DL4J keeps one state view per updater block (consecutive variables with the same updater); DL4J's
 * updaters lay it out as k segments of the block's parameter count (Adam: m then v), each in the block's
 * parameter order. A variable's state is its slice of each segment.
 */
final class UpdaterStates {
    private UpdaterStates() {
    }

    /** Views (not copies) into {@code graph}'s updater state: "layer/param" → one slice per segment. */
    static Map<String, List<INDArray>> views(ComputationGraph graph) {
        ComputationGraphUpdater updater = graph.getUpdater();
        Map<String, List<INDArray>> out = new LinkedHashMap<>();
        for (UpdaterBlock block : updater.getUpdaterBlocks()) {
            INDArray view = block.getUpdaterView();
            long n = block.getParamOffsetEnd() - block.getParamOffsetStart();
            if (view == null || view.length() == 0 || n == 0) {
                continue; // a stateless updater (frozen layers: NoOp; plain SGD)
            }
            if (view.length() % n != 0) {
                throw new IllegalStateException("updater state of " + view.length() + " numbers for a block of " + n + " parameters");
            }
            INDArray flat = view.reshape(view.length());
            long segments = view.length() / n;
            for (UpdaterBlock.ParamState ps : block.getLayersAndVariablesInBlock()) {
                long from = ps.getParamOffsetStart() - block.getParamOffsetStart();
                long len = ps.getParamOffsetEnd() - ps.getParamOffsetStart();
                List<INDArray> slices = new ArrayList<>();
                for (long s = 0; s < segments; s++) {
                    slices.add(flat.get(NDArrayIndex.interval(s * n + from, s * n + from + len)));
                }
                out.put(ps.getLayer().getConfig().getLayerName() + "/" + ps.getParamName(), slices);
            }
        }
        return out;
    }

    /**
     * Copies the state of every variable of {@code to} from the same variable of {@code from}; every one
     * must be there, with the same layout. Returns how many numbers were copied.
     */
    static long copy(ComputationGraph from, ComputationGraph to) {
        Map<String, List<INDArray>> source = views(from);
        long copied = 0;
        for (Map.Entry<String, List<INDArray>> e : views(to).entrySet()) {
            List<INDArray> src = source.get(e.getKey());
            if (src == null || src.size() != e.getValue().size()) {
                throw new IllegalStateException("no matching updater state for " + e.getKey() + " in the other graph");
            }
            for (int s = 0; s < src.size(); s++) {
                e.getValue().get(s).assign(src.get(s));
                copied += src.get(s).length();
            }
        }
        return copied;
    }
}
