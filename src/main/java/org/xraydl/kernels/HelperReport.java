package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.LayerHelper;

import java.util.Map;
import java.util.TreeMap;

/** Which implementation each layer type really runs (its platform helper, or the pipeline's FastReluLayer): proof that a fast path engaged (or not). */
public final class HelperReport {

    private HelperReport() {
    }

    /**
     * e.g. {@code {"ConvolutionLayer": "MKLDNNConvHelper x120", "BatchNormalization": "none x121"}}; a
     * convolution that skips its input gradient is listed as {@code "MKLDNNConvHelper (weight gradient only: deconv2d_bp)"}
     * ({@code "DirectConvHelper (weight gradient only: oneDNN)"} where oneDNN's primitive runs it), a
     * batch-norm or ReLU layer whose element-wise passes run oneDNN's primitives as {@code "... (oneDNN element-wise)"}, a
     * batch-norm / ReLU pair whose training forward is fused ({@link FastLayers#linkBatchNormRelu}) with {@code " (ReLU fused)"} on both.
     */
    public static Map<String, String> summary(ComputationGraph net) {
        Map<String, Map<String, Integer>> counts = new TreeMap<>();
        for (Layer l : net.getLayers()) {
            Layer inner = FastLayers.insideFrozen(l);
            LayerHelper h = inner.getHelper();
            // FastPoolingLayer keeps DL4J's helper object but runs the op itself, on the kernel it was given
            // ("oneDNN kernels", "libnd4j kernels" or "oneDNN nChw8c kernels (direct)", see PoolingKernel; the direct
            // ones also say how many calls they handed to libnd4j's kernel and how many backprops recomputed)
            String helper = inner instanceof FastPoolingLayer p ? p.report()
                    : h == null ? "none" : h.getClass().getSimpleName();
            if (inner instanceof FastConvolutionLayer c && c.isInputGradientUnused()) {
                helper += " (weight gradient only: " + c.weightGradientOnlyKernel() + ")"; // the stem, see FastConvolutionLayer
            }
            if (inner instanceof FastBatchNormalizationLayer bn && bn.usesDirectEltwise()
                    || inner instanceof FastReluLayer r && r.usesDirectEltwise()) {
                helper += " (oneDNN element-wise)"; // per-channel passes / ReLU backprop, see DirectEltwise
            }
            if ((inner instanceof FastBatchNormalizationLayer bn && bn.fusesRelu() || inner instanceof FastReluLayer r && r.fusedIntoBatchNorm())
                    && FastLayers.fuseBatchNormRelu()) {
                helper += " (ReLU fused)"; // training forward: the batch norm applies the ReLU, see FastLayers.linkBatchNormRelu
            }
            counts.computeIfAbsent(inner.getClass().getSimpleName(), k -> new TreeMap<>()).merge(helper, 1, Integer::sum);
        }
        Map<String, String> out = new TreeMap<>();
        counts.forEach((layer, hs) -> {
            StringBuilder sb = new StringBuilder();
            hs.forEach((h, n) -> sb.append(sb.length() == 0 ? "" : ", ").append(h).append(" x").append(n));
            out.put(layer, sb.toString());
        });
        return out;
    }
}
