package org.nd4j.nativeblas;

/**
 * Compatibility shim for a class-name mismatch inside Deeplearning4j 1.0.0-M2.1 (not project logic).
 *
 * <p>DL4J's oneDNN layer helpers ({@code MKLDNNConvHelper}, {@code MKLDNNBatchNormHelper},
 * {@code MKLDNNSubsamplingHelper}, ...) are only used when
 * {@code org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper.mklDnnEnabled()} returns true. That
 * method looks up {@code org.nd4j.nativeblas.Nd4jCpu$Environment#isUseMKLDNN()} by reflection,
 * but in 1.0.0-M2.1 the native bindings moved to
 * {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment} and the method was renamed
 * {@code isUseONEDNN()}. The lookup therefore always fails, and every helper silently falls back
 * to DL4J's Java im2col + gemm / element-wise paths. This class answers that lookup with the
 * real native flag. It is only consulted by {@code BaseMKLDNNHelper}; see
 * {@link org.xraydl.kernels.NativeHelpers}.
 */
public final class Nd4jCpu {

    private Nd4jCpu() {
    }

    public static final class Environment {
        private static final Environment INSTANCE = new Environment();
        private static final String BINDINGS = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";

        private Environment() {
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** The native library's oneDNN flag, or false if the CPU bindings are not on the classpath. */
        public boolean isUseMKLDNN() {
            try {
                Class<?> c = Class.forName(BINDINGS);
                Object env = c.getMethod("getInstance").invoke(null);
                return (boolean) c.getMethod("isUseONEDNN").invoke(env);
            } catch (ReflectiveOperationException | LinkageError e) {
                return false;
            }
        }
    }
}
