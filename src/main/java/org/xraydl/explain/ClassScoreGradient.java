package org.xraydl.explain;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.FrozenVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.PreprocessorVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.xraydl.UserError;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The gradient of one class score (the output layer's pre-activation, i.e. the logit before the
 * softmax) with respect to the activations of a chosen vertex, in inference mode, without touching
 * the network's parameters or training state.
 * <p>
 * DL4J 1.0.0-M2.1 offers no such call: {@code ComputationGraph.backpropGradient(eps)} refuses graphs
 * whose output is an {@code OutputLayer}, a {@code FrozenLayer} returns no input gradient at all, and
 * its batch-norm backprop is the training-mode formula (batch statistics), not the inference one.
 * So this walks the vertices between the target and the output backwards by hand, using DL4J's
 * forward activations and its own backprop only for parameter-free pooling layers. Supported on
 * that path: dense/output layers, activation layers, batch norm (inference), dropout, max/avg and
 * global pooling, merge and add vertices, preprocessors, all of them frozen or not; anything else
 * (e.g. a convolution after the target) is a {@link UserError} asking for a later layer.
 */
public final class ClassScoreGradient {

    /** The target layer, its activations and the class-score gradient there ([N,K,h,w] both), output probabilities, classes used. */
    public record Result(String layer, INDArray activations, INDArray gradient, INDArray probabilities, INDArray classIndices) {
    }

    private ClassScoreGradient() {
    }

    /**
     * @param target     the vertex whose activations the gradient is taken for, or null for {@link #defaultTarget}
     * @param classIndex the class whose score is differentiated, or -1 for the predicted class of each example
     */
    public static Result compute(ComputationGraph net, INDArray input, String target, int classIndex) {
        ComputationGraphConfiguration conf = net.getConfiguration();
        if (conf.getNetworkOutputs().size() != 1 || conf.getNetworkInputs().size() != 1) {
            throw new UserError("Grad-CAM needs a network with one input and one output, this one has "
                    + conf.getNetworkInputs() + " -> " + conf.getNetworkOutputs());
        }
        String output = conf.getNetworkOutputs().get(0);
        Map<String, INDArray> acts = forward(net, input);
        INDArray probs = acts.get(output);
        long classes = probs.size(1);
        if (classIndex >= classes || classIndex < -1) {
            throw new UserError("class index " + classIndex + " is out of range: the model has " + classes + " classes");
        }
        String layer = target != null ? target : defaultTarget(conf, acts);
        if (acts.get(layer) == null) {
            pathBetween(conf, layer, output); // names the problem (unknown layer / not on the way to the output)
            throw new UserError("--cam-layer " + layer + ": the forward pass produced no activations for it");
        }
        Set<String> path = pathBetween(conf, layer, output);
        INDArray chosen = classIndex >= 0 ? Nd4j.valueArrayOf(new long[]{probs.size(0)}, classIndex, org.nd4j.linalg.api.buffer.DataType.LONG)
                : probs.argMax(1);
        Map<String, INDArray> eps = new HashMap<>();
        LayerVertex outConf = (LayerVertex) unwrap(conf.getVertices().get(output));
        org.deeplearning4j.nn.conf.layers.Layer outLayer = layerConf(outConf);
        if (!(outLayer instanceof FeedForwardLayer)) {
            throw new UserError("Grad-CAM needs a dense output layer, " + output + " is " + outLayer.getClass().getSimpleName());
        }
        // d logit_c / d x = column c of W
        INDArray w = param(net, output, DefaultParamInitializer.WEIGHT_KEY);
        INDArray atInput = Nd4j.create(w.dataType(), input.size(0), w.size(0));
        for (int n = 0; n < input.size(0); n++) {
            atInput.putRow(n, w.getColumn(chosen.getLong(n)));
        }
        backToInputs(conf, output, outConf.getPreProcessor(), atInput, acts, path, eps);

        int[] order = net.topologicalSortOrder();
        for (int i = order.length - 1; i >= 0; i--) {
            String name = net.getVertices()[order[i]].getVertexName();
            if (name.equals(layer) || name.equals(output) || !path.contains(name)) {
                continue;
            }
            INDArray e = eps.get(name);
            if (e != null) {
                backward(net, conf, name, e, acts, path, eps);
            }
        }
        INDArray g = eps.get(layer);
        if (g == null) {
            throw new IllegalStateException("no gradient reached " + layer); // pathBetween guarantees a path
        }
        return new Result(layer, acts.get(layer), g, probs, chosen);
    }

    /**
     * The last feature map before the classifier: walking back from the output along first inputs,
     * the first vertex whose activations are rank 4 and that is not a pooling layer (so VGG16 gets
     * its last convolution, 14x14 at 224 px, rather than the 7x7 max pool after it; DenseNet its
     * final BN-ReLU before the global average pool).
     */
    static String defaultTarget(ComputationGraphConfiguration conf, Map<String, INDArray> acts) {
        String v = conf.getNetworkOutputs().get(0);
        while (true) {
            INDArray a = acts.get(v);
            if (a != null && a.rank() == 4 && !isPooling(conf.getVertices().get(v))) {
                return v;
            }
            List<String> ins = conf.getVertexInputs().get(v);
            if (ins == null || ins.isEmpty()) {
                throw new UserError("Grad-CAM found no convolutional feature map before the output: pass --cam-layer NAME");
            }
            v = ins.get(0);
        }
    }

    private static boolean isPooling(GraphVertex v) {
        GraphVertex u = v == null ? null : unwrap(v);
        return u instanceof LayerVertex lv && layerConf(lv) instanceof SubsamplingLayer;
    }

    /**
     * Every vertex's output in inference mode. Not {@code ComputationGraph.feedForward}: in inference
     * DL4J's activation layers work in place on their input, so the map it returns holds a layer's
     * input already activated (and an identity first layer would even change the caller's array).
     * Each vertex gets its own copies here; the graph's inputs are cleared afterwards.
     */
    static Map<String, INDArray> forward(ComputationGraph net, INDArray input) {
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        org.deeplearning4j.nn.graph.vertex.GraphVertex[] vertices = net.getVertices();
        Map<String, INDArray> acts = new HashMap<>();
        INDArray x = input.castTo(net.params().dataType()).dup();
        synchronized (net) {
            try {
                net.setInputs(x); // LayerVertex takes the batch size from the graph's input
                for (int idx : net.topologicalSortOrder()) {
                    org.deeplearning4j.nn.graph.vertex.GraphVertex v = vertices[idx];
                    INDArray out = v.isInputVertex() ? x : v.doForward(false, mgr);
                    acts.put(v.getVertexName(), out);
                    if (v.getOutputVertices() != null) {
                        for (org.deeplearning4j.nn.graph.vertex.VertexIndices o : v.getOutputVertices()) {
                            vertices[o.getVertexIndex()].setInput(o.getVertexEdgeNumber(), out.dup(), mgr);
                        }
                    }
                }
            } finally {
                net.clear(); // the graph's and every vertex's inputs: the network keeps no trace of this call
            }
        }
        return acts;
    }

    /** Vertices on some path from {@code target} to {@code output} (both included). */
    static Set<String> pathBetween(ComputationGraphConfiguration conf, String target, String output) {
        if (!conf.getVertices().containsKey(target) && !conf.getNetworkInputs().contains(target)) {
            throw new UserError("--cam-layer " + target + ": no such layer in the model");
        }
        Map<String, List<String>> inputs = conf.getVertexInputs();
        Set<String> ancestorsOfOutput = new HashSet<>();
        ArrayDeque<String> todo = new ArrayDeque<>(List.of(output));
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (ancestorsOfOutput.add(v) && inputs.get(v) != null) {
                todo.addAll(inputs.get(v));
            }
        }
        if (!ancestorsOfOutput.contains(target) || target.equals(output)) {
            throw new UserError("--cam-layer " + target + " does not lead to the output " + output + ": pick a layer of the trunk");
        }
        // descendants of the target among the output's ancestors
        Set<String> path = new HashSet<>();
        path.add(target);
        boolean grew = true;
        while (grew) {
            grew = false;
            for (String v : ancestorsOfOutput) {
                if (!path.contains(v) && inputs.get(v) != null && inputs.get(v).stream().anyMatch(path::contains)) {
                    path.add(v);
                    grew = true;
                }
            }
        }
        return path;
    }

    private static void backward(ComputationGraph net, ComputationGraphConfiguration conf, String name, INDArray e,
                                 Map<String, INDArray> acts, Set<String> path, Map<String, INDArray> eps) {
        GraphVertex v = unwrap(conf.getVertices().get(name));
        List<String> ins = conf.getVertexInputs().get(name);
        if (v instanceof LayerVertex lv) {
            INDArray x = acts.get(ins.get(0));
            InputPreProcessor pre = lv.getPreProcessor();
            if (pre != null) {
                x = pre.preProcess(x.dup(), (int) x.size(0), LayerWorkspaceMgr.noWorkspaces());
            }
            INDArray atInput = layerBackward(net, name, layerConf(lv), x, e);
            backToInputs(conf, name, pre, atInput, acts, path, eps);
        } else if (v instanceof PreprocessorVertex pv) {
            INDArray x = acts.get(ins.get(0));
            add(eps, path, ins.get(0), pv.getPreProcessor().backprop(e.dup(), (int) x.size(0), LayerWorkspaceMgr.noWorkspaces()));
        } else if (v instanceof MergeVertex mv) {
            int axis = mv.getMergeAxis();
            long from = 0;
            for (String in : ins) {
                long size = acts.get(in).size(axis);
                INDArrayIndexHolder idx = new INDArrayIndexHolder(e.rank(), axis, from, from + size);
                add(eps, path, in, e.get(idx.indices).dup());
                from += size;
            }
        } else if (v instanceof ElementWiseVertex ew && ew.getOp() == ElementWiseVertex.Op.Add) {
            for (String in : ins) {
                add(eps, path, in, e.dup());
            }
        } else {
            throw unsupported(name, v.getClass().getSimpleName());
        }
    }

    private static void backToInputs(ComputationGraphConfiguration conf, String name, InputPreProcessor pre,
                                     INDArray atLayerInput, Map<String, INDArray> acts, Set<String> path,
                                     Map<String, INDArray> eps) {
        String in = conf.getVertexInputs().get(name).get(0);
        INDArray g = atLayerInput;
        if (pre != null) {
            g = pre.backprop(g, (int) acts.get(in).size(0), LayerWorkspaceMgr.noWorkspaces());
        }
        add(eps, path, in, g);
    }

    /** Gradient at a layer's input (after its preprocessor) from the gradient at its output, in inference mode. */
    private static INDArray layerBackward(ComputationGraph net, String name, org.deeplearning4j.nn.conf.layers.Layer layer,
                                          INDArray x, INDArray e) {
        if (layer instanceof DropoutLayer) {
            return e; // identity at inference
        }
        if (layer instanceof ActivationLayer a) {
            return a.getActivationFn().backprop(x.dup(), e.dup()).getFirst();
        }
        if (layer instanceof BatchNormalization bn) {
            // y = gamma * (x - mean) / std + beta with the running statistics: dy/dx = gamma / std per channel
            INDArray gamma = bn.isLockGammaBeta() ? Nd4j.valueArrayOf(new long[]{x.size(1)}, bn.getGamma()).castTo(x.dataType())
                    : param(net, name, BatchNormalizationParamInitializer.GAMMA).reshape(x.size(1));
            // DL4J keeps log10(std) or the variance; either way inference divides by sqrt(var + eps)
            INDArray var = bn.isUseLogStd()
                    ? Transforms.exp(param(net, name, BatchNormalizationParamInitializer.GLOBAL_LOG_STD).reshape(x.size(1)).mul(2 * Math.log(10)), false)
                    : param(net, name, BatchNormalizationParamInitializer.GLOBAL_VAR).reshape(x.size(1));
            INDArray std = Transforms.sqrt(var.add(bn.getEps()), false);
            INDArray scale = gamma.div(std).castTo(e.dataType());
            if (e.rank() == 2) {
                return e.mulRowVector(scale);
            }
            if (e.rank() == 4 && bn.getCnn2DFormat() == org.deeplearning4j.nn.conf.CNN2DFormat.NCHW) {
                return e.mul(scale.reshape(1, scale.length(), 1, 1));
            }
            throw unsupported(name, "BatchNormalization on rank " + e.rank() + " " + bn.getCnn2DFormat());
        }
        if (layer instanceof SubsamplingLayer || layer instanceof GlobalPoolingLayer) {
            // parameter-free: DL4J's own backprop (max: to the arg-max, avg: spread evenly)
            Layer l = net.getLayer(name);
            if (l instanceof FrozenLayer f) {
                l = f.getInsideLayer();
            } else if (l instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop f) {
                l = f.getInsideLayer();
            }
            synchronized (net) {
                try {
                    l.setInput(x, LayerWorkspaceMgr.noWorkspaces());
                    return l.backpropGradient(e.dup(), LayerWorkspaceMgr.noWorkspaces()).getSecond().dup();
                } finally {
                    l.clear();
                }
            }
        }
        if (layer instanceof FeedForwardLayer && layer instanceof BaseLayer dense && x.rank() == 2
                && !(layer instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer)) {
            INDArray w = param(net, name, DefaultParamInitializer.WEIGHT_KEY);
            INDArray z = x.mmul(w);
            INDArray bias = net.getLayer(name).paramTable().get(DefaultParamInitializer.BIAS_KEY);
            if (bias != null) {
                z.addiRowVector(bias);
            }
            INDArray dz = dense.getActivationFn().backprop(z, e.dup()).getFirst();
            return dz.mmul(w.transpose());
        }
        throw unsupported(name, layer.getClass().getSimpleName());
    }

    private static UserError unsupported(String name, String what) {
        return new UserError("Grad-CAM cannot backpropagate through " + name + " (" + what
                + "): pass a --cam-layer after it (closer to the output)");
    }

    private static void add(Map<String, INDArray> eps, Set<String> path, String vertex, INDArray g) {
        if (!path.contains(vertex)) {
            return; // a branch that does not come from the target
        }
        eps.merge(vertex, g, INDArray::add);
    }

    static GraphVertex unwrap(GraphVertex v) {
        return v instanceof FrozenVertex f ? unwrap(f.getUnderlying()) : v;
    }

    private static org.deeplearning4j.nn.conf.layers.Layer layerConf(LayerVertex lv) {
        org.deeplearning4j.nn.conf.layers.Layer l = lv.getLayerConf().getLayer();
        while (true) {
            if (l instanceof org.deeplearning4j.nn.conf.layers.misc.FrozenLayer f) {
                l = f.getLayer();
            } else if (l instanceof FrozenLayerWithBackprop f) {
                l = f.getUnderlying();
            } else {
                return l;
            }
        }
    }

    private static INDArray param(ComputationGraph net, String layer, String key) {
        INDArray p = net.getLayer(layer).getParam(key);
        if (p == null) {
            throw unsupported(layer, "no parameter " + key);
        }
        return p;
    }

    /** Index of a slice along one axis, all of the others. */
    private static final class INDArrayIndexHolder {
        final org.nd4j.linalg.indexing.INDArrayIndex[] indices;

        INDArrayIndexHolder(int rank, int axis, long from, long to) {
            indices = new org.nd4j.linalg.indexing.INDArrayIndex[rank];
            for (int d = 0; d < rank; d++) {
                indices[d] = d == axis ? NDArrayIndex.interval(from, to) : NDArrayIndex.all();
            }
        }
    }
}
