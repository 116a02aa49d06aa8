package org.xraydl.kernels;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/** What the kernel tests share: one seeded 6 x 2 x 10 x 10 batch with alternating labels, and a graph's layer classes. */
final class KernelTestNets {
    private KernelTestNets() {
    }

    static DataSet batch() {
        Nd4j.getRandom().setSeed(5);
        INDArray x = Nd4j.randn(DataType.FLOAT, 6, 2, 10, 10);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 6, 2);
        for (int i = 0; i < 6; i++) {
            y.putScalar(i, i % 2, 1);
        }
        return new DataSet(x, y);
    }

    static String layerClasses(ComputationGraph net) {
        return String.join(",", Arrays.stream(net.getLayers()).map(l -> l.getClass().getSimpleName()).toList());
    }
}
