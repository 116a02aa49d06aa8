package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastPoolingLayer} (libnd4j's pooling kernels) against DL4J's SubsamplingLayer through oneDNN
 * and through DL4J's plain path: same output and same gradient, on inputs with negative values (so
 * max-pool padding must not win) for the pooling shapes DenseNet and VGG use, plus 'same' mode; the
 * legacy average divisor must go to DL4J's code.
 */
class FastPoolingLayerTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();

    @AfterAll
    static void restoreDefault() {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
    }

    @ParameterizedTest(name = "{0} {1}x{1}/{2} pad {3} {4} legacyAvg={5}")
    @CsvSource({
            "MAX, 3, 2, 1, Truncate, false", // DenseNet stem
            "AVG, 2, 2, 0, Truncate, false", // DenseNet transitions
            "MAX, 2, 2, 0, Truncate, false", // VGG16
            "MAX, 3, 2, 0, Same, false",
            "AVG, 3, 1, 1, Truncate, false",
            "AVG, 3, 1, 1, Truncate, true",
    })
    void sameOutputAndGradientAsDl4j(PoolingType type, int k, int s, int p, ConvolutionMode mode, boolean legacyAvg) {
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
        NativeHelpers.configure(true);

        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.randn(DataType.FLOAT, 2, 3, 11, 9).subi(1.0); // mostly negative
        Layer fast = new FastPoolingLayer(conf, DataType.FLOAT);
        INDArray fastOut = fast.activate(x, true, NO_WS).dup();
        INDArray eps = Nd4j.randn(DataType.FLOAT, fastOut.shape());
        INDArray fastDx = fast.backpropGradient(eps, NO_WS).getSecond().dup();

        for (boolean helpers : new boolean[]{true, false}) { // DL4J via oneDNN, and DL4J's plain path
            NativeHelpers.configure(helpers);
            Layer dl4j = layerConf.instantiate(conf, List.of(), 0, null, true, DataType.FLOAT);
            INDArray out = dl4j.activate(x, true, NO_WS).dup();
            INDArray dx = dl4j.backpropGradient(eps, NO_WS).getSecond().dup();
            assertArrayEquals(out.shape(), fastOut.shape());
            assertTrue(out.equalsWithEps(fastOut, 1e-6), "output vs DL4J (helpers " + helpers + ")");
            assertTrue(dx.equalsWithEps(fastDx, 1e-6), "gradient vs DL4J (helpers " + helpers + ")");
        }
    }
}
