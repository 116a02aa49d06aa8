package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link FastPoolingLayer} with each native kernel forced (oneDNN's, libnd4j's and oneDNN's nChw8c kernels
 * called directly, as {@code -Dxraydl.poolingKernel} selects them) against DL4J's SubsamplingLayer, which is run four
 * ways: with and without DL4J's oneDNN layer helper, and with libnd4j's platform helpers allowed
 * (oneDNN underneath) or disallowed process-wide (libnd4j's kernel underneath). Max-pool outputs must
 * be bit-identical, average-pool outputs and all gradients within 1e-6 absolute; on randn inputs and on
 * mostly negative ones (so max-pool padding must not win), for the pooling shapes DenseNet and VGG use,
 * strided and padded average pools, and 'same' mode; the legacy average divisor must go to DL4J's code.
 */
class FastPoolingLayerTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();
    private static final double GRADIENT_TOLERANCE = 1e-6;

    @AfterAll
    static void restoreDefault() {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
        Nd4j.getEnvironment().allowHelpers(true);
    }

    @ParameterizedTest(name = "{0} {1}x{1}/{2} pad {3} {4} legacyAvg={5} shift {6}, kernel {7}")
    @CsvSource({
            "MAX, 3, 2, 1, Truncate, false, -1, onednn", // DenseNet stem
            "MAX, 3, 2, 1, Truncate, false, -1, libnd4j",
            "MAX, 3, 2, 1, Truncate, false, 0, onednn",
            "MAX, 3, 2, 1, Truncate, false, 0, libnd4j",
            "AVG, 2, 2, 0, Truncate, false, 0, onednn", // DenseNet transitions
            "AVG, 2, 2, 0, Truncate, false, 0, libnd4j",
            "MAX, 2, 2, 0, Truncate, false, -1, onednn", // VGG16
            "MAX, 2, 2, 0, Truncate, false, -1, libnd4j",
            "MAX, 3, 2, 0, Same, false, -1, onednn",
            "MAX, 3, 2, 0, Same, false, -1, libnd4j",
            "AVG, 3, 2, 1, Truncate, false, 0, onednn",
            "AVG, 3, 2, 1, Truncate, false, 0, libnd4j",
            "AVG, 3, 1, 1, Truncate, false, -1, onednn",
            "AVG, 3, 1, 1, Truncate, false, -1, libnd4j",
            "AVG, 3, 1, 1, Truncate, true, 0, onednn",
            "MAX, 3, 2, 1, Truncate, false, -1, direct", // oneDNN's nChw8c kernels called directly (CPUs without AVX-512)
            "MAX, 3, 2, 1, Truncate, false, 0, direct",
            "AVG, 2, 2, 0, Truncate, false, 0, direct",
            "MAX, 2, 2, 0, Truncate, false, -1, direct",
            "MAX, 3, 2, 0, Same, false, -1, direct",
            "AVG, 3, 2, 0, Same, false, 0, direct",
            "AVG, 3, 2, 1, Truncate, false, 0, direct",
            "AVG, 3, 1, 1, Truncate, false, -1, direct",
    })
    void sameOutputAndGradientAsDl4j(PoolingType type, int k, int s, int p, ConvolutionMode mode, boolean legacyAvg,
                                     double shift, String kernelProperty) {
        SubsamplingLayer.Builder b = new SubsamplingLayer.Builder(type).kernelSize(k, k).stride(s, s).padding(p, p)
                .convolutionMode(mode);
        if (type == PoolingType.AVG) {
            b.avgPoolIncludePadInDivisor(legacyAvg);
        }
        SubsamplingLayer layerConf = b.build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().layer(layerConf).build();
        // the legacy average divisor is left to DL4J's code (FastPoolingLayer delegates; FastLayers does not swap)
        assertEquals(!legacyAvg, FastPoolingLayer.handles(layerConf));
        if (legacyAvg) {
            return;
        }
        PoolingKernel kernel = PoolingKernel.choose(null, null, kernelProperty, true);
        NativeHelpers.configure(true);

        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 3, 11, 9).addi(shift);
        FastPoolingLayer fast = new FastPoolingLayer(conf, DataType.FLOAT, kernel);
        assertEquals(kernel, fast.kernel());
        INDArray fastOut = fast.activate(x, true, NO_WS).dup();
        INDArray eps = Nd4j.randn(DataType.FLOAT, fastOut.shape());
        INDArray fastDx = fast.backpropGradient(eps, NO_WS).getSecond().dup();
        if (kernel == PoolingKernel.DIRECT) { // it ran, and its backprop used the forward pass's workspace
            assertEquals(PoolingKernel.DIRECT.label(), fast.report());
        }

        try {
            for (boolean nativeHelpers : new boolean[]{true, false}) { // oneDNN or libnd4j's kernel under DL4J's layer
                Nd4j.getEnvironment().allowHelpers(nativeHelpers);
                for (boolean helpers : new boolean[]{true, false}) { // DL4J's layer helper, and DL4J's plain path
                    NativeHelpers.configure(helpers);
                    Layer dl4j = layerConf.instantiate(conf, List.of(), 0, null, true, DataType.FLOAT);
                    INDArray out = dl4j.activate(x, true, NO_WS).dup();
                    INDArray dx = dl4j.backpropGradient(eps, NO_WS).getSecond().dup();
                    String which = "vs DL4J (layer helper " + helpers + ", native helpers " + nativeHelpers + ")";
                    assertArrayEquals(out.shape(), fastOut.shape(), which);
                    if (type == PoolingType.MAX) {
                        assertArrayEquals(out.data().asFloat(), fastOut.data().asFloat(), "output " + which);
                    } else {
                        assertTrue(maxAbsDiff(out, fastOut) <= GRADIENT_TOLERANCE, "output " + which + ": " + maxAbsDiff(out, fastOut));
                    }
                    assertArrayEquals(dx.shape(), fastDx.shape(), which);
                    assertTrue(maxAbsDiff(dx, fastDx) <= GRADIENT_TOLERANCE, "gradient " + which + ": " + maxAbsDiff(dx, fastDx));
                }
            }
        } finally {
            Nd4j.getEnvironment().allowHelpers(true);
        }
    }

    /**
     * The forced kernel reaches the native code: on a CPU where oneDNN has its AVX-512 JIT kernel, its
     * 3x3/2 max-pool backprop sums overlapping windows in another order than libnd4j's, so the two
     * gradients differ in the last bits (and only there) on this seeded input.
     */
    @Test
    void theTwoKernelsAreDifferentCode() {
        assumeTrue(PoolingKernel.hasAvx512Core(PoolingKernel.cpuFlags(PoolingKernel.CPUINFO))
                        && !PoolingKernel.capsBelowAvx512Core(PoolingKernel.isaCap(System.getenv("DNNL_MAX_CPU_ISA"),
                        System.getenv("ONEDNN_MAX_CPU_ISA"))),
                "needs oneDNN's avx512_core pooling (Linux, AVX-512, no DNNL_MAX_CPU_ISA cap)");
        NativeHelpers.configure(true);
        SubsamplingLayer layerConf = new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(3, 3).stride(2, 2)
                .padding(1, 1).build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().layer(layerConf).build();
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 8, 16, 16);
        INDArray eps = Nd4j.randn(DataType.FLOAT, 2, 8, 8, 8);
        INDArray[] out = new INDArray[2];
        INDArray[] dx = new INDArray[2];
        for (PoolingKernel kernel : PoolingKernel.values()) {
            FastPoolingLayer layer = new FastPoolingLayer(conf, DataType.FLOAT, kernel);
            out[kernel.ordinal()] = layer.activate(x, true, NO_WS).dup();
            dx[kernel.ordinal()] = layer.backpropGradient(eps, NO_WS).getSecond().dup();
        }
        assertArrayEquals(out[0].data().asFloat(), out[1].data().asFloat());
        double diff = maxAbsDiff(dx[0], dx[1]);
        assertTrue(diff > 0, "oneDNN and libnd4j gave bit-identical gradients: the kernel choice did not reach the op");
        assertTrue(diff <= GRADIENT_TOLERANCE, "rounding only, got " + diff);
    }

    /**
     * The direct kernels' workspace through the layer: a backprop after a training-mode forward pass uses it; one
     * after an inference-mode forward pass (or a forward pass of another batch size) recomputes, with the same
     * gradient, and the layer report says so.
     */
    @Test
    void theDirectKernelsBackpropRecomputesWhereNoTrainingForwardPassMatches() {
        NativeHelpers.configure(true);
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder()
                .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(3, 3).stride(2, 2).padding(1, 1)
                        .convolutionMode(ConvolutionMode.Truncate).build()).build();
        FastPoolingLayer layer = new FastPoolingLayer(conf, DataType.FLOAT, PoolingKernel.DIRECT);
        FastPoolingLayer libnd4j = new FastPoolingLayer(conf, DataType.FLOAT, PoolingKernel.LIBND4J);
        assertEquals(PoolingKernel.DIRECT, layer.kernel());
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.randn(DataType.FLOAT, 3, 12, 10, 10);
        INDArray other = Nd4j.randn(DataType.FLOAT, 2, 12, 10, 10);
        INDArray eps = Nd4j.randn(DataType.FLOAT, 3, 12, 5, 5);
        libnd4j.activate(x, true, NO_WS);
        INDArray expected = libnd4j.backpropGradient(eps, NO_WS).getSecond().dup();

        layer.activate(x, true, NO_WS);
        assertTrue(maxAbsDiff(expected, layer.backpropGradient(eps, NO_WS).getSecond()) <= GRADIENT_TOLERANCE);
        assertEquals(0, layer.direct().recomputedForwards());
        layer.activate(x, false, NO_WS);
        assertTrue(maxAbsDiff(expected, layer.backpropGradient(eps, NO_WS).getSecond()) <= GRADIENT_TOLERANCE);
        layer.activate(other, true, NO_WS);
        layer.setInput(x, NO_WS);
        assertTrue(maxAbsDiff(expected, layer.backpropGradient(eps, NO_WS).getSecond()) <= GRADIENT_TOLERANCE);
        assertEquals(2, layer.direct().recomputedForwards());
        assertEquals(PoolingKernel.DIRECT.label() + ", 2 backprops recomputed the forward pass", layer.report());
    }

    @Test
    void theDirectKernelsSwitchedOffMeanLibnd4jsKernel() {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder()
                .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build()).build();
        System.setProperty(DirectPooling.PROPERTY, "false");
        try {
            FastPoolingLayer layer = new FastPoolingLayer(conf, DataType.FLOAT, PoolingKernel.DIRECT);
            assertEquals(PoolingKernel.LIBND4J, layer.kernel());
            assertEquals(PoolingKernel.LIBND4J.label(), layer.report());
        } finally {
            System.clearProperty(DirectPooling.PROPERTY);
        }
    }

    @Test
    void aLayerBuiltByFastLayersRunsTheProcessWideKernel() {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder()
                .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build()).build();
        assertEquals(PoolingKernel.forProcess(), new FastPoolingLayer(conf, DataType.FLOAT).kernel());
        assertFalse(PoolingKernel.LIBND4J.allowsHelpers());
        assertTrue(PoolingKernel.ONEDNN.allowsHelpers());
    }

    private static double maxAbsDiff(INDArray a, INDArray b) {
        return Transforms.abs(a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE))).maxNumber().doubleValue();
    }
}
