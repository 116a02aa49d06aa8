package org.xraydl.kernels;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.bench.BenchNets;
import org.xraydl.bench.Step;
import org.xraydl.bench.Workload;

import java.util.Arrays;

/**
 * Child-JVM entry for {@link ShapeInfoCacheTest}: selects the provider as {@code Main} does, then trains the
 * compact DenseNet (32 px, batch 4) three steps from a fixed seed and prints the provider and the parameters' bits.
 */
public final class ShapeInfoCacheProbe {
    private ShapeInfoCacheProbe() {
    }

    public static void main(String[] args) {
        ShapeInfoCache.applyBeforeNd4j();
        System.out.println("provider: " + ShapeInfoCache.current());
        ComputationGraph net = BenchNets.build(new Workload("densenet", 32, 4, Step.FULL), 42);
        Nd4j.getRandom().setSeed(7);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 32, 32);
        INDArray y = Nd4j.createFromArray(new float[][]{{1, 0}, {0, 1}, {0, 1}, {1, 0}});
        for (int i = 0; i < 3; i++) {
            net.fit(new DataSet(x, y));
        }
        float[] p = net.params().dup().data().asFloat();
        System.out.println("params: " + p.length + " " + Arrays.hashCode(p));
    }
}
