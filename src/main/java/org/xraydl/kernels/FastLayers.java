package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.AbstractLayer;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;

import java.lang.reflect.Field;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * Puts the pipeline's faster implementations into a built or loaded DL4J network, without touching
 * its configuration or parameters (saved models stay plain DL4J models):
 * <ul>
 *   <li>batch-norm layers that got DL4J's oneDNN helper get a {@link FastBatchNormHelper};</li>
 *   <li>trainable ReLU activation layers run as {@link FastReluLayer};</li>
 *   <li>2-D max and average pooling layers run as {@link FastPoolingLayer}.</li>
 * </ul>
 * DL4J creates helpers and layer objects when a network is initialised and offers no setter, so
 * this sets the fields DL4J itself uses (the layer's {@code helper}, the vertex's {@code layer} as
 * {@code LayerVertex.setLayerAsFrozen} does, and the graph's layer array). Call it on every network
 * the pipeline builds, loads, clones or replicates; a network it does not reach runs DL4J's own
 * code, which computes the same values, more slowly. CPU backend only: other backends keep theirs.
 * {@code -D}{@value #FAST_BATCH_NORM_PROPERTY}{@code =false}, {@code -D}{@value #FAST_RELU_PROPERTY}
 * {@code =false} and {@code -D}{@value #FAST_POOLING_PROPERTY}{@code =false} keep DL4J's versions (for
 * A/B comparisons).
 */
public final class FastLayers {
    public static final String FAST_BATCH_NORM_PROPERTY = "xraydl.fastBatchNorm";
    public static final String FAST_RELU_PROPERTY = "xraydl.fastRelu";
    public static final String FAST_POOLING_PROPERTY = "xraydl.fastPooling";

    private static final Field BN_HELPER = field(BatchNormalization.class, "helper");
    private static final Field VERTEX_LAYER = field(LayerVertex.class, "layer");
    private static final Field GRAPH_LAYERS = field(ComputationGraph.class, "layers");

    private FastLayers() {
    }

    /** What {@link #engage} changed. */
    public record Engaged(int batchNorm, int relu, int pooling) {
    }

    public static Engaged engage(ComputationGraph net) {
        if (!NativeHelpers.isCpuBackend()) {
            return new Engaged(0, 0, 0);
        }
        int bn = enabled(FAST_BATCH_NORM_PROPERTY) ? engageBatchNorm(net) : 0;
        int relu = !enabled(FAST_RELU_PROPERTY) ? 0 : replaceLayers(net, ActivationLayer.class,
                old -> FastReluLayer.isPlainRelu(old.layerConf().getActivationFn()),
                old -> new FastReluLayer(old.conf(), net.getConfiguration().getDataType()));
        int pooling = !enabled(FAST_POOLING_PROPERTY) ? 0 : replaceLayers(net, SubsamplingLayer.class,
                old -> FastPoolingLayer.handles(old.layerConf()),
                old -> new FastPoolingLayer(old.conf(), net.getConfiguration().getDataType()));
        return new Engaged(bn, relu, pooling);
    }

    private static boolean enabled(String property) {
        return Boolean.parseBoolean(System.getProperty(property, "true"));
    }

    private static int engageBatchNorm(ComputationGraph net) {
        int switched = 0;
        for (Layer l : net.getLayers()) {
            if (insideFrozen(l) instanceof BatchNormalization bn && bn.getHelper() instanceof MKLDNNBatchNormHelper) {
                set(BN_HELPER, bn, new FastBatchNormHelper(net.params().dataType()));
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
     * Replaces each layer object of exactly class {@code type} (so not frozen wrappers, whose layers run
     * in inference mode, nor a replacement already made) that {@code accept}s, by {@code replacement}:
     * in its vertex, as {@code LayerVertex.setLayerAsFrozen} does, and in the graph's layer array.
     * Only for layers without parameters, so nothing else (flattened parameters, updater) refers to them.
     */
    private static <L extends AbstractLayer<?>> int replaceLayers(ComputationGraph net, Class<L> type, Predicate<L> accept,
                                                                  Function<L, L> replacement) {
        Layer[] layers = (Layer[]) get(GRAPH_LAYERS, net);
        int switched = 0;
        for (GraphVertex v : net.getVertices()) {
            if (!(v instanceof LayerVertex lv) || lv.getLayer().getClass() != type || lv.getLayer().numParams() != 0) {
                continue;
            }
            L old = type.cast(lv.getLayer());
            if (!accept.test(old)) {
                continue;
            }
            L fast = replacement.apply(old);
            fast.setIndex(old.getIndex());
            fast.setListeners(old.getListeners());
            set(VERTEX_LAYER, lv, fast);
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] == old) {
                    layers[i] = fast;
                }
            }
            switched++;
        }
        return switched;
    }

    private static Field field(Class<?> owner, String name) {
        try {
            Field f = owner.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException(owner.getName() + " has no field '" + name + "': FastLayers needs DL4J 1.0.0-M2.1", e);
        }
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
