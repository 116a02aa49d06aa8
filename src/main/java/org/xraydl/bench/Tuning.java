package org.xraydl.bench;

import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;
import org.xraydl.kernels.FastLayers;
import org.xraydl.kernels.NativeHelpers;
import org.xraydl.kernels.OpenMpSpin;
import org.xraydl.kernels.PoolingKernel;
import org.xraydl.kernels.ShapeInfoCache;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The speed levers a benchmark run can set, so they can be compared from the command line:
 * DL4J workspaces, layer cache mode, the oneDNN layer helpers, and the native thread count.
 * {@link #DEFAULT} is what the pipeline itself uses.
 *
 * @param workspace {@code enabled} | {@code none}: DL4J training and inference workspace mode
 * @param cache     {@code none} | {@code host} | {@code device}: DL4J layer cache mode
 * @param helpers   oneDNN layer helpers (conv, batch norm, pooling) on or off; see {@link NativeHelpers}
 * @param threads   native (OpenMP + BLAS) threads; 0 keeps ND4J's choice (one per core)
 * @param fastBatchNorm the pipeline's {@link org.xraydl.kernels.FastBatchNormHelper} and {@link org.xraydl.kernels.FastBatchNormalizationLayer} (true) or DL4J's own
 *                  batch-norm layer with its oneDNN helper (false); only with the helpers on
 * @param fastRelu  the pipeline's {@link org.xraydl.kernels.FastReluLayer} (true) or DL4J's ActivationLayer code (false)
 * @param fastPooling the pipeline's {@link org.xraydl.kernels.FastPoolingLayer} (true) or DL4J's SubsamplingLayer code (false);
 *                  {@link #describe()} records the native kernel it runs as {@code pooling_kernel} ({@link PoolingKernel})
 * @param fastConv  the pipeline's {@link org.xraydl.kernels.FastConvolutionLayer} (true) or DL4J's ConvolutionLayer code (false)
 */
public record Tuning(String workspace, String cache, boolean helpers, int threads, boolean fastBatchNorm, boolean fastRelu,
                     boolean fastPooling, boolean fastConv) {

    public static final Tuning DEFAULT = new Tuning("enabled", "none", NativeHelpers.DEFAULT_ON, 0, true, true, true, true);

    public Tuning {
        workspace = workspace.toLowerCase(Locale.ROOT);
        cache = cache.toLowerCase(Locale.ROOT);
        if (!workspace.equals("enabled") && !workspace.equals("none")) {
            throw new UserError("--workspace must be enabled or none, got " + workspace);
        }
        if (!cache.equals("none") && !cache.equals("host") && !cache.equals("device")) {
            throw new UserError("--cache must be none, host or device, got " + cache);
        }
        if (threads < 0) {
            throw new UserError("--threads must be >= 0, got " + threads);
        }
    }

    /** Process-wide settings; call before the network is built (helpers are chosen when layers are created). */
    public void applyGlobal() {
        NativeHelpers.configure(helpers);
        System.setProperty(FastLayers.FAST_BATCH_NORM_PROPERTY, String.valueOf(fastBatchNorm));
        System.setProperty(FastLayers.FAST_RELU_PROPERTY, String.valueOf(fastRelu));
        System.setProperty(FastLayers.FAST_POOLING_PROPERTY, String.valueOf(fastPooling));
        System.setProperty(FastLayers.FAST_CONV_PROPERTY, String.valueOf(fastConv));
        if (threads > 0) {
            Nd4j.getEnvironment().setMaxThreads(threads);
            Nd4j.getEnvironment().setMaxMasterThreads(threads);
            try {
                Nd4j.factory().blas().setMaxThreads(threads);
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                // some backends do not let BLAS threads be changed at run time: OMP threads still apply
            }
        }
    }

    /** Per-network settings: workspace and cache modes. */
    public void applyTo(ComputationGraph net) {
        WorkspaceMode ws = workspace.equals("none") ? WorkspaceMode.NONE : WorkspaceMode.ENABLED;
        net.getConfiguration().setTrainingWorkspaceMode(ws);
        net.getConfiguration().setInferenceWorkspaceMode(ws);
        net.setCacheMode(CacheMode.valueOf(cache.toUpperCase(Locale.ROOT)));
    }

    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workspace", workspace);
        m.put("cache", cache);
        m.put("onednn_layer_helpers", helpers);
        m.put("onednn_available", NativeHelpers.oneDnnAvailable());
        m.put("fast_batch_norm", fastBatchNorm);
        m.put("fast_relu", fastRelu);
        m.put("fast_pooling", fastPooling);
        // the native kernel FastPoolingLayer runs on this machine (PoolingKernel: oneDNN with AVX-512, else libnd4j)
        m.put("pooling_kernel", fastPooling ? PoolingKernel.forProcess().id() : "dl4j");
        m.put("fast_conv", fastConv);
        m.put("direct_conv", fastConv && org.xraydl.kernels.FastLayers.directConvolution());
        // the training forward's blocked copy of each convolution input, read by its backprop (-Dxraydl.keepBlockedInput)
        m.put("conv_keep_blocked_input", fastConv && org.xraydl.kernels.FastLayers.keepBlockedInput());
        // the fast batch-norm passes and ReLU backprop as oneDNN primitives (kernels/DirectEltwise)
        m.put("direct_eltwise", (fastBatchNorm && helpers || fastRelu) && org.xraydl.kernels.FastLayers.directEltwise());
        // the batch norm's training forward applies the following ReLU (kernels/FastLayers.linkBatchNormRelu, -Dxraydl.fuseBnRelu)
        m.put("fuse_bn_relu", fastBatchNorm && helpers && fastRelu && org.xraydl.kernels.FastLayers.fuseBatchNormRelu());
        m.put("threads", threads == 0 ? Nd4j.getEnvironment().maxThreads() : threads);
        m.put("omp_wait_policy", System.getenv().getOrDefault("OMP_WAIT_POLICY", "(unset: libgomp default, spins then sleeps)"));
        m.put("omp_spin_count", OpenMpSpin.current().toString());
        m.put("shape_info_provider", ShapeInfoCache.current());
        return m;
    }
}
