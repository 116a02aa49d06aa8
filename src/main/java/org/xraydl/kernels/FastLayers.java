package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.graph.vertex.impl.InputVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;

import java.lang.reflect.Field;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Puts the pipeline's faster implementations into a built or loaded DL4J network, without touching
 * its configuration or parameters (saved models stay plain DL4J models):
 * <ul>
 *   <li>batch-norm layers that got DL4J's oneDNN helper get a {@link FastBatchNormHelper}, and those
 *       that are plain NCHW batch norm run as {@link FastBatchNormalizationLayer} (its training step in
 *       ~10 ND4J op calls instead of ~29; the helper covers the rest);</li>
 *   <li>trainable ReLU activation layers run as {@link FastReluLayer};</li>
 *   <li>2-D max and average pooling layers run as {@link FastPoolingLayer};</li>
 *   <li>convolutions with the identity activation run as {@link FastConvolutionLayer} (same
 *       parameter and gradient arrays: the replacement is handed the old layer's views); one fed
 *       directly by a network input (the stem) also skips its input gradient, which nothing reads
 *       ({@link FastConvolutionLayer#setInputGradientUnused}).</li>
 * </ul>
 * DL4J creates helpers and layer objects when a network is initialised and offers no setter for
 * two of them, so this sets the fields DL4J itself uses (the layer's {@code helper} and the graph's
 * layer array, see {@link Dl4jHooks}; the vertex's layer has a public setter; {@link FastBatchNormalizationLayer}
 * needs both). If a DL4J version lacks
 * one of those fields, the fast layers that need it stay off, with one warning, and the network runs
 * DL4J's own layers. Call it on every network the pipeline builds, loads, clones or replicates; a
 * network it does not reach runs DL4J's own code, which computes the same values, more slowly. CPU
 * backend only: other backends keep theirs. {@code -D}{@value #FAST_BATCH_NORM_PROPERTY}{@code =false} (DL4J's batch norm, helper and layer),
 * {@code -D}{@value #FAST_RELU_PROPERTY}{@code =false} and {@code -D}{@value #FAST_POOLING_PROPERTY}
 * {@code =false} and {@code -D}{@value #FAST_CONV_PROPERTY}{@code =false} keep DL4J's versions (for A/B comparisons);
 * {@code -D}{@value #FAST_STEM_PROPERTY}{@code =false} keeps the stem's input gradient (the rest of the fast convolution stays),
 * {@code -Dxraydl.directStem=false} computes the stem's weight gradient with libnd4j's deconv2d_bp instead of oneDNN's primitive;
 * {@code -D}{@value #FAST_MERGE_PROPERTY}{@code =false} keeps DL4J's merge vertices (their backprop split as ND4J's
 * strided {@code assign} instead of oneDNN reorders, {@link FastMergeVertex});
 * {@code -Dxraydl.bnSharedStats=false} makes every fast batch-norm layer reduce all its channels itself (see
 * {@link #linkMergedBatchNormStatistics}); {@code -D}{@value #DIRECT_CONV_PROPERTY}{@code =false} keeps DL4J's oneDNN helper inside the fast convolution
 * layers instead of oneDNN's primitives called directly ({@link DirectConvolution});
 * {@code -D}{@value #DIRECT_ELTWISE_PROPERTY}{@code =false} keeps ND4J's ops for the per-channel passes of the fast
 * batch-norm layers and the fast ReLU layers' backprop instead of oneDNN's element-wise primitives ({@link DirectEltwise}).
 * {@code -Dxraydl.fuseBnRelu=false} keeps the ReLU pass in the ReLU layers that follow a batch norm instead of the
 * batch norm's training forward applying it ({@link #linkBatchNormRelu}).
 * {@code -D}{@value #DIRECT_POOLING_PROPERTY}{@code =false} keeps libnd4j's pooling kernel inside the fast pooling
 * layers on CPUs without AVX-512 instead of oneDNN's nChw8c pooling called directly ({@link DirectPooling},
 * {@link PoolingKernel#DIRECT}).
 * {@code -D}{@value #KEEP_BLOCKED_INPUT_PROPERTY}{@code =false} makes the direct convolutions' backward pass reorder the
 * layer input into oneDNN's blocked layout again instead of reading the copy its training forward pass kept
 * ({@link DirectConvolution}; {@code -Dxraydl.keepBlockedInputMaxMb=N} caps the memory those copies take, default 1024).
 */
public final class FastLayers {
    public static final String FAST_BATCH_NORM_PROPERTY = "xraydl.fastBatchNorm";
    public static final String FAST_RELU_PROPERTY = "xraydl.fastRelu";
    public static final String FAST_POOLING_PROPERTY = "xraydl.fastPooling";
    public static final String FAST_CONV_PROPERTY = "xraydl.fastConv";
    public static final String FAST_STEM_PROPERTY = "xraydl.fastStem";
    public static final String FAST_MERGE_PROPERTY = "xraydl.fastMerge";
    public static final String DIRECT_CONV_PROPERTY = DirectConvolution.PROPERTY;
    public static final String DIRECT_ELTWISE_PROPERTY = DirectEltwise.PROPERTY;
    public static final String DIRECT_POOLING_PROPERTY = DirectPooling.PROPERTY;
    public static final String KEEP_BLOCKED_INPUT_PROPERTY = DirectConvolution.KEEP_INPUT_PROPERTY;

    private FastLayers() {
    }

    /**
     * What {@link #engage} changed: batch-norm layers given a {@link FastBatchNormHelper} ({@code batchNorm}),
     * ReLU, pooling and convolution layers replaced, batch-norm layers replaced by
     * {@link FastBatchNormalizationLayer} ({@code batchNormLayers}, a subset of {@code batchNorm}), and
     * convolutions switched to computing only their weight gradient because they are fed by a network
     * input ({@code stemWeightGradientOnly}, a subset of the {@link FastConvolutionLayer}s).
     */
    public record Engaged(int batchNorm, int relu, int pooling, int convolution, int batchNormLayers, int stemWeightGradientOnly) {
    }

    public static Engaged engage(ComputationGraph net) {
        return engage(net, Dl4jHooks.standard());
    }

    /** {@link #engage(ComputationGraph)} through the given hooks; a lever that is switched off does not look its hook up. */
    static Engaged engage(ComputationGraph net, Dl4jHooks hooks) {
        if (!NativeHelpers.isCpuBackend()) {
            return new Engaged(0, 0, 0, 0, 0, 0);
        }
        boolean batchNorm = enabled(FAST_BATCH_NORM_PROPERTY);
        Optional<Field> bnHelper = batchNorm ? hooks.batchNormHelper() : Optional.empty();
        boolean relu = enabled(FAST_RELU_PROPERTY);
        boolean pooling = enabled(FAST_POOLING_PROPERTY);
        boolean conv = enabled(FAST_CONV_PROPERTY);
        // the batch-norm layer needs the helper hook too: it runs only where a FastBatchNormHelper is in place
        Optional<Field> graphLayers = relu || pooling || conv || bnHelper.isPresent() ? hooks.graphLayers() : Optional.empty();
        // layers first, so that the replacements (created with DL4J's helper) get a FastBatchNormHelper below
        int bnLayers = bnHelper.isEmpty() ? 0 : graphLayers.map(layersField -> replaceLayers(net, layersField, BatchNormalization.class,
                old -> (old.getHelper() instanceof MKLDNNBatchNormHelper || old.getHelper() instanceof FastBatchNormHelper)
                        && FastBatchNormalizationLayer.handles(old.layerConf()),
                old -> new FastBatchNormalizationLayer(old.conf(), net.getConfiguration().getDataType()))).orElse(0);
        int bn = bnHelper.map(helperField -> engageBatchNorm(net, helperField)).orElse(0);
        int reluLayers = !relu ? 0 : graphLayers.map(layersField -> replaceLayers(net, layersField, ActivationLayer.class,
                old -> FastReluLayer.isPlainRelu(old.layerConf().getActivationFn()),
                old -> new FastReluLayer(old.conf(), net.getConfiguration().getDataType()))).orElse(0);
        int poolingLayers = !pooling ? 0 : graphLayers.map(layersField -> replaceLayers(net, layersField, SubsamplingLayer.class,
                old -> FastPoolingLayer.handles(old.layerConf()),
                old -> new FastPoolingLayer(old.conf(), net.getConfiguration().getDataType()))).orElse(0);
        int convLayers = !conv ? 0 : graphLayers.map(layersField -> replaceLayers(net, layersField, ConvolutionLayer.class,
                old -> FastConvolutionLayer.handles(old.layerConf()),
                old -> new FastConvolutionLayer(old.conf(), net.getConfiguration().getDataType()))).orElse(0);
        int stem = conv && enabled(FAST_STEM_PROPERTY) ? skipNetworkInputGradients(net) : 0;
        if (enabled(FAST_MERGE_PROPERTY)) {
            hooks.graphVerticesMap().ifPresent(mapField -> replaceMergeVertices(net, mapField));
        }
        if (bnLayers > 0) {
            linkMergedBatchNormStatistics(net);
        }
        linkBatchNormRelu(net);
        return new Engaged(bn, reluLayers, poolingLayers, convLayers, bnLayers, stem);
    }

    /**
     * Replaces each of DL4J's merge vertices (exactly that class) by a {@link FastMergeVertex} of the same name,
     * index, connections and merge axis, in the graph's vertex array and its by-name map; the current inputs and
     * gradient (none between steps) carry over. Returns how many were replaced.
     */
    @SuppressWarnings("unchecked")
    static int replaceMergeVertices(ComputationGraph net, Field verticesMapField) {
        GraphVertex[] vertices = net.getVertices();
        java.util.Map<String, GraphVertex> byName = (java.util.Map<String, GraphVertex>) get(verticesMapField, net);
        int replaced = 0;
        for (int i = 0; i < vertices.length; i++) {
            GraphVertex v = vertices[i];
            if (v.getClass() != org.deeplearning4j.nn.graph.vertex.impl.MergeVertex.class
                    || !(net.getConfiguration().getVertices().get(v.getVertexName()) instanceof org.deeplearning4j.nn.conf.graph.MergeVertex conf)) {
                continue;
            }
            FastMergeVertex fast = new FastMergeVertex(net, v.getVertexName(), v.getVertexIndex(), v.getInputVertices(),
                    v.getOutputVertices(), net.getConfiguration().getDataType(), conf.getMergeAxis());
            fast.setOutputVertex(v.isOutputVertex());
            vertices[i] = fast;
            byName.put(v.getVertexName(), fast);
            replaced++;
        }
        return replaced;
    }

    /**
     * Links each {@link FastBatchNormalizationLayer} fed by a merge vertex to the one that normalises the merge's
     * first input ({@link FastBatchNormalizationLayer#sharePrefixStatistics}): DenseNet's block layers, whose input
     * starts with the previous layer's input. Only where that first input feeds nothing but the merge and that batch
     * norm and the merge's other inputs feed only the merge (nothing else could change them in between), neither
     * layer is frozen, and no preprocessor sits in between.
     * Returns how many layers were linked.
     */
    static int linkMergedBatchNormStatistics(ComputationGraph net) {
        GraphVertex[] vertices = net.getVertices();
        int linked = 0;
        for (GraphVertex v : vertices) {
            if (!(v instanceof LayerVertex lv) || !(lv.getLayer() instanceof FastBatchNormalizationLayer bn)
                    || lv.getLayerPreProcessor() != null || lv.getInputVertices() == null || lv.getInputVertices().length != 1) {
                continue;
            }
            GraphVertex merge = vertices[lv.getInputVertices()[0].getVertexIndex()];
            if (!(merge instanceof org.deeplearning4j.nn.graph.vertex.impl.MergeVertex)
                    || merge.getInputVertices() == null || merge.getInputVertices().length < 2) {
                continue;
            }
            GraphVertex first = vertices[merge.getInputVertices()[0].getVertexIndex()];
            VertexIndices[] consumers = first.getOutputVertices();
            if (consumers == null || consumers.length != 2) {
                continue;
            }
            FastBatchNormalizationLayer source = null;
            boolean onlyMergeAndBatchNorm = true;
            for (VertexIndices c : consumers) {
                GraphVertex consumer = vertices[c.getVertexIndex()];
                if (consumer == merge) {
                    continue;
                }
                if (consumer instanceof LayerVertex cv && cv.getLayer() instanceof FastBatchNormalizationLayer b
                        && cv.getLayerPreProcessor() == null && cv.getInputVertices().length == 1) {
                    source = b;
                } else {
                    onlyMergeAndBatchNorm = false;
                }
            }
            // the merge's other inputs are read for the remaining channels: nothing but the merge may read them
            for (int i = 1; i < merge.getInputVertices().length; i++) {
                VertexIndices[] readers = vertices[merge.getInputVertices()[i].getVertexIndex()].getOutputVertices();
                onlyMergeAndBatchNorm &= readers != null && readers.length == 1;
            }
            if (onlyMergeAndBatchNorm && source != null && source != bn) {
                bn.sharePrefixStatistics(merge, source);
                linked++;
            }
        }
        return linked;
    }

    /**
     * Links each {@link FastBatchNormalizationLayer} whose only consumer is a {@link FastReluLayer} (a plain ReLU, no
     * dropout) whose only input it is, with no preprocessor in between, neither frozen (frozen layers run as wrappers,
     * which this does not look inside), the batch norm not a network output, float data: the batch norm then applies the
     * ReLU in its training forward and the ReLU layer hands the array on ({@link FastBatchNormalizationLayer#fuseRelu},
     * checked per call there, {@code -D}{@value FastBatchNormalizationLayer#FUSE_RELU_PROPERTY}{@code =false} at run
     * time keeps the pair unfused). Returns how many pairs were linked.
     */
    static int linkBatchNormRelu(ComputationGraph net) {
        if (net.getConfiguration().getDataType() != org.nd4j.linalg.api.buffer.DataType.FLOAT) {
            return 0;
        }
        GraphVertex[] vertices = net.getVertices();
        int linked = 0;
        for (GraphVertex v : vertices) {
            if (!(v instanceof LayerVertex lv) || !(lv.getLayer() instanceof FastBatchNormalizationLayer bn) || lv.isOutputVertex()
                    || lv.getOutputVertices() == null || lv.getOutputVertices().length != 1) {
                continue;
            }
            GraphVertex next = vertices[lv.getOutputVertices()[0].getVertexIndex()];
            if (!(next instanceof LayerVertex rv) || !(rv.getLayer() instanceof FastReluLayer relu) || rv.getLayerPreProcessor() != null
                    || rv.getInputVertices() == null || rv.getInputVertices().length != 1
                    || rv.getInputVertices()[0].getVertexIndex() != lv.getVertexIndex()
                    || !FastReluLayer.isPlainRelu(relu.layerConf().getActivationFn()) || relu.layerConf().getIDropout() != null) {
                continue;
            }
            bn.fuseRelu(relu);
            relu.fuseFrom(bn);
            linked++;
        }
        return linked;
    }

    /** Whether fast batch-norm layers made now may apply their ReLU layer's ReLU ({@link #linkBatchNormRelu}; per-call checks aside). */
    public static boolean fuseBatchNormRelu() {
        return enabled(FAST_BATCH_NORM_PROPERTY) && enabled(FAST_RELU_PROPERTY) && FastBatchNormalizationLayer.fuseReluEnabled()
                && directEltwise();
    }

    /**
     * Switches on {@link FastConvolutionLayer#setInputGradientUnused} for each fast convolution whose
     * input gradient nothing reads: its vertex has one input, a network input that feeds no other
     * vertex, and no input preprocessor (which would backpropagate the gradient). DL4J 1.0.0-M2.1 stores
     * the gradient a layer returns for an input vertex on that vertex and never reads it
     * ({@code ComputationGraph.backpropGradient} returns only the parameter gradient), and skips a null
     * one in its workspace checks. A second consumer of the same input is excluded because DL4J adds
     * the input gradients of several consumers ({@code addi}), which a null one would break. Returns
     * how many layers were switched on by this call.
     */
    private static int skipNetworkInputGradients(ComputationGraph net) {
        GraphVertex[] vertices = net.getVertices();
        int switched = 0;
        for (GraphVertex v : vertices) {
            if (!(v instanceof LayerVertex lv) || !(lv.getLayer() instanceof FastConvolutionLayer conv)
                    || conv.isInputGradientUnused() || !FastConvolutionLayer.handlesWeightGradientOnly(conv.layerConf())
                    || lv.getLayerPreProcessor() != null) {
                continue;
            }
            VertexIndices[] in = lv.getInputVertices();
            if (in == null || in.length != 1 || !(vertices[in[0].getVertexIndex()] instanceof InputVertex input)
                    || input.getOutputVertices() == null || input.getOutputVertices().length != 1) {
                continue;
            }
            conv.setInputGradientUnused(true);
            switched++;
        }
        return switched;
    }

    /** Whether fast convolution layers made now run oneDNN's primitives directly (switched on, and the bindings load here). */
    public static boolean directConvolution() {
        return enabled(FAST_CONV_PROPERTY) && DirectConvolution.enabled() && DirectConvolution.available();
    }

    /** Whether the direct convolutions' backward passes read the blocked input their training forward kept (read per call). */
    public static boolean keepBlockedInput() {
        return directConvolution() && DirectConvolution.keepInputEnabled();
    }

    /** The bytes of the blocked inputs the direct convolutions keep between their forward and backward passes (all layers). */
    public static long keptBlockedInputBytes() {
        return DirectConvolution.keptInputBytes();
    }

    /** Backward passes in this process that read a kept blocked input / that reordered the input again although one was kept. */
    public static long[] keptBlockedInputUses() {
        return new long[]{DirectConvolution.keptInputReuses(), DirectConvolution.keptInputMisses()};
    }

    /**
     * Whether fast batch-norm and ReLU layers made now run their element-wise passes through oneDNN's primitives
     * ({@link DirectEltwise}: switched on, and the bindings load here; at least one of the two layers switched on).
     */
    public static boolean directEltwise() {
        return (enabled(FAST_BATCH_NORM_PROPERTY) || enabled(FAST_RELU_PROPERTY)) && DirectEltwise.enabled()
                && DirectConvolution.available();
    }

    /** How many element-wise passes ran through oneDNN's primitives ({@link DirectEltwise}) in this process. */
    public static long directEltwiseCalls() {
        return DirectEltwise.calls();
    }

    /** A lever's system property: on unless set to false (read per call by the layers that check it per call). */
    static boolean enabled(String property) {
        return Boolean.parseBoolean(System.getProperty(property, "true"));
    }

    private static int engageBatchNorm(ComputationGraph net, Field helperField) {
        int switched = 0;
        for (Layer l : net.getLayers()) {
            if (insideFrozen(l) instanceof BatchNormalization bn && bn.getHelper() instanceof MKLDNNBatchNormHelper) {
                set(helperField, bn, new FastBatchNormHelper(net.params().dataType()));
                switched++;
            }
        }
        return switched;
    }

    /** The layer a frozen wrapper runs (the layer itself if it is not frozen). */
    static Layer insideFrozen(Layer l) {
        Layer inner = l;
        while (inner instanceof FrozenLayer || inner instanceof FrozenLayerWithBackprop) {
            inner = inner instanceof FrozenLayer f ? f.getInsideLayer() : ((FrozenLayerWithBackprop) inner).getInsideLayer();
        }
        return inner;
    }

    /**
     * Replaces each layer object of exactly class {@code type} (not a replacement already made), also inside
     * frozen wrappers (then in new wrappers of the same kinds), that {@code accept}s, by {@code replacement}:
     * in its vertex, as {@code LayerVertex.setLayerAsFrozen} does, and in the graph's layer array
     * ({@code layersField}). A layer with parameters hands its parameter and gradient views (slices
     * of the graph's flattened arrays) to the replacement, so the graph, its updater and saved models
     * see the same arrays; the updater refers to vertices, not layer objects.
     */
    private static <L extends AbstractLayer<?>> int replaceLayers(ComputationGraph net, Field layersField, Class<L> type,
                                                                  Predicate<L> accept, Function<L, L> replacement) {
        Layer[] layers = (Layer[]) get(layersField, net);
        int switched = 0;
        for (GraphVertex v : net.getVertices()) {
            if (!(v instanceof LayerVertex lv)) {
                continue;
            }
            Layer current = lv.getLayer();
            // a frozen layer (transfer learning's trunk, the benchmark's forward and head steps) runs its inside
            // layer in inference mode, where the fast layers are faster too (batch norm in 2 passes instead of
            // oneDNN's NCHW batch norm, ReLU in one, oneDNN's convolutions called directly)
            Layer inner = insideFrozen(current);
            if (inner.getClass() != type) {
                continue;
            }
            L old = type.cast(inner);
            if (!accept.test(old)) {
                continue;
            }
            L fast = replacement.apply(old);
            fast.setIndex(old.getIndex());
            fast.setListeners(old.getListeners());
            if (old instanceof BaseLayer<?> from && fast instanceof BaseLayer<?> to && from.numParams() > 0) {
                to.setParamsViewArray(from.params());
                to.setParamTable(from.paramTable());
                if (from.getGradientsViewArray() != null) { // else the graph hands the views out at its first fit
                    to.setBackpropGradientsViewArray(from.getGradientsViewArray());
                }
            }
            Layer placed = wrappedLike(current, fast);
            lv.setLayer(placed);
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] == current) {
                    layers[i] = placed;
                }
            }
            switched++;
        }
        return switched;
    }

    /** {@code inner} in new frozen wrappers of the kinds around {@code wrapped}'s inside layer ({@link #insideFrozen}), none if it has none. */
    private static Layer wrappedLike(Layer wrapped, Layer inner) {
        if (wrapped instanceof FrozenLayer f) {
            return new FrozenLayer(wrappedLike(f.getInsideLayer(), inner));
        }
        if (wrapped instanceof FrozenLayerWithBackprop f) {
            return new FrozenLayerWithBackprop(wrappedLike(f.getInsideLayer(), inner));
        }
        return inner;
    }

    private static Object get(Field f, Object target) {
        try {
            return f.get(target);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot read " + f, e);
        }
    }

    private static void set(Field f, Object target, Object value) {
        try {
            f.set(target, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("cannot set " + f, e);
        }
    }
}
