package org.xraydl.train;


import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.bench.BenchNets;
import org.xraydl.bench.Step;
import org.xraydl.bench.Workload;
import org.xraydl.config.RunConfig;
import org.xraydl.kernels.HelperReport;
import org.xraydl.kernels.PoolingKernel;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** ParallelWrapper's worker replicas are rebuilt from the configuration: they must get the fast layers too. */
class ParallelWrapperEngineTest {

    @Test
    void everyWorkerReplicaUsesTheFastLayers() throws Exception {
        RunConfig c = BenchNets.config(new Workload("densenet", 32, 4, Step.FULL), 3);
        ComputationGraph net = BenchNets.build(new Workload("densenet", 32, 4, Step.FULL), 3);
        INDArray before = net.params().dup();
        Map<Model, String> seen = Collections.synchronizedMap(new IdentityHashMap<>());
        BaseTrainingListener probe = new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                Map<String, String> h = HelperReport.summary((ComputationGraph) model);
                seen.put(model, h.get("FastBatchNormalizationLayer") + "; relu layers: " + h.containsKey("FastReluLayer") + "/" + h.containsKey("ActivationLayer")
                        + "; pooling: " + h.get("FastPoolingLayer"));
            }
        };
        Nd4j.getRandom().setSeed(9);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < 6; b++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 32, 32);
            INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 2);
            for (int i = 0; i < 4; i++) {
                y.putScalar(i, (i + b) % 2, 1.0);
            }
            batches.add(new DataSet(x, y));
        }
        try (ParallelWrapperEngine engine = new ParallelWrapperEngine(2)) {
            engine.start(net, List.of(probe));
            engine.fitEpoch(net, new EpochData(0, List.of(), null, c, () -> new ExistingDataSetIterator(batches)));
        }
        assertEquals(2, seen.size(), "both workers reported: " + seen.values());
        long bnLayers = java.util.Arrays.stream(net.getLayers())
                .filter(l -> l instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization).count();
        long poolingLayers = java.util.Arrays.stream(net.getLayers())
                .filter(l -> l instanceof org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer).count();
        for (String helpers : seen.values()) {
            // the workers' layers run their element-wise passes on oneDNN's primitives (kernels/DirectEltwise) and the
            // pooling kernel of this machine (the direct kernels without AVX-512: every backprop found its forward
            // pass's workspace, nothing was declined); each batch norm followed by its ReLU applies it in its training
            // forward (kernels/FastLayers.linkBatchNormRelu: the replicas are linked too)
            assertEquals("FastBatchNormHelper (oneDNN element-wise) (ReLU fused) x" + bnLayers + "; relu layers: true/false; pooling: "
                    + PoolingKernel.forProcess().label() + " x" + poolingLayers, helpers);
        }
        assertNotEquals(before, net.params(), "averaged parameters reached the model");
    }
}
