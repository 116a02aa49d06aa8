package org.xraydl.kernels;

import org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Turns DL4J's oneDNN layer helpers on or off for layers created afterwards.
 *
 * <p>In DL4J 1.0.0-M2.1 the helpers of {@code ConvolutionLayer}, {@code BatchNormalization} and
 * {@code SubsamplingLayer} run the layer as one native libnd4j op (conv2d, batchnorm, maxpool2d /
 * avgpool2d and their backprops, oneDNN kernels when the native build has them) instead of DL4J's
 * Java path (im2col + gemm for convolutions, a chain of broadcast ops for batch norm). Two things
 * keep them off as shipped: the system property {@value #DISABLE_PROPERTY} defaults to "true", and
 * the availability check looks for a class that M2.1 renamed (bridged by
 * {@link org.nd4j.nativeblas.Nd4jCpu}). Helpers are chosen when a layer is instantiated (init,
 * clone, TransferLearning, ModelSerializer restore), so configure before building or loading.
 * Parameters, their names and layouts are the same on both paths: saved models are interchangeable.
 */
public final class NativeHelpers {
    /** DL4J's switch ({@code DL4JSystemProperties.DISABLE_HELPER_PROPERTY}). */
    public static final String DISABLE_PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";
    /** The pipeline's default: helpers on (see the benchmark notes for the measurements). */
    public static final boolean DEFAULT_ON = true;

    private static volatile boolean configured;

    private NativeHelpers() {
    }

    /** Applies the default once, unless the user set {@value #DISABLE_PROPERTY} explicitly. */
    public static void ensureConfigured() {
        if (!configured) {
            synchronized (NativeHelpers.class) {
                if (!configured) {
                    if (System.getProperty(DISABLE_PROPERTY) == null) {
                        configure(DEFAULT_ON);
                    }
                    configured = true;
                }
            }
        }
    }

    /** On or off for layers created from now on (CPU backend only; other backends keep DL4J's default). */
    public static synchronized void configure(boolean on) {
        configured = true;
        if (!isCpuBackend()) {
            return;
        }
        System.setProperty(DISABLE_PROPERTY, String.valueOf(!on));
    }

    public static boolean enabled() {
        return !Boolean.parseBoolean(System.getProperty(DISABLE_PROPERTY, "true")) && oneDnnAvailable();
    }

    /** What DL4J's own check answers (true with the shim on the CPU backend). */
    public static boolean oneDnnAvailable() {
        return isCpuBackend() && BaseMKLDNNHelper.mklDnnEnabled();
    }

    static boolean isCpuBackend() {
        return "CPU".equalsIgnoreCase(Nd4j.getExecutioner().getEnvironmentInformation().getProperty("backend"));
    }
}
