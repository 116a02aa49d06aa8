package org.xraydl.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** "Frozen" must mean frozen: after fit(), trunk weights and batch-norm running statistics are bit-identical. */
class FrozenTrunkTest {

    @Test
    void densenetTrunkParametersAndBatchNormStatisticsDoNotMove() {
        RunConfig c = TestData.tinyConfig(Map.of("freezeTrunk", true));
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Map<String, INDArray> before = snapshot(net);
        assertTrue(before.keySet().stream().anyMatch(k -> k.endsWith("_bn/mean")), "the trunk has batch-norm running means");

        fitSomeSteps(net, 3, 32);

        int trunk = 0;
        int head = 0;
        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            INDArray after = net.getLayer(layerOf(e.getKey())).getParam(paramOf(e.getKey()));
            if (e.getKey().startsWith(Heads.PREFIX)) {
                head += after.equals(e.getValue()) ? 0 : 1;
            } else {
                assertEquals(e.getValue(), after, e.getKey() + " moved although the trunk is frozen");
                trunk++;
            }
        }
        assertTrue(trunk > 10, "compared " + trunk + " trunk parameters");
        assertTrue(head > 0, "the head must learn, else the test proves nothing");
    }

    @Test
    void unfrozenDensenetBatchNormStatisticsDoMove() {
        // The control: without freezing the same check fails, so the frozen test can fail too.
        RunConfig c = TestData.tinyConfig(Map.of("freezeTrunk", false));
        ComputationGraph net = ModelFactory.create(c, 2, null);
        INDArray mean = net.getLayer("conv1/bn").getParam("mean").dup();
        fitSomeSteps(net, 2, 32);
        assertNotEquals(mean, net.getLayer("conv1/bn").getParam("mean"));
    }

    @Test
    void vgg16ConvTrunkAndFirstTwoDenseLayersDoNotMove() {
        Map<String, Object> o = new HashMap<>();
        o.put("model", "vgg16");
        o.put("weights", "none");
        o.put("freezeTrunk", true);
        o.put("headHidden", java.util.List.of(16));
        o.put("headDropout", java.util.List.of(0.5));
        o.put("imageSize", 32);
        o.put("normalization", "vgg");
        RunConfig c = org.xraydl.config.ConfigLoader.load(null, o);
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Map<String, INDArray> before = snapshot(net);
        // The zoo names VGG16's layers by index: find the dense ones by their rank-2 weights.
        java.util.List<String> trunkDense = before.entrySet().stream()
                .filter(e -> !e.getKey().startsWith(Heads.PREFIX) && e.getKey().endsWith("/W") && e.getValue().rank() == 2)
                .map(Map.Entry::getKey).toList();
        assertEquals(2, trunkDense.size(), "fc1 and fc2 stay in the trunk, the ImageNet output layer is gone: " + trunkDense);
        assertTrue(trunkDense.stream().allMatch(k -> before.get(k).size(1) == 4096), trunkDense.toString());

        fitSomeSteps(net, 2, 32);

        for (Map.Entry<String, INDArray> e : before.entrySet()) {
            INDArray after = net.getLayer(layerOf(e.getKey())).getParam(paramOf(e.getKey()));
            if (!e.getKey().startsWith(Heads.PREFIX)) {
                assertEquals(e.getValue(), after, e.getKey() + " moved although it is frozen");
            }
        }
        assertNotEquals(before.get(Heads.PREFIX + "output/W"), net.getLayer(Heads.PREFIX + "output").getParam("W"));
        assertEquals(4096, net.getLayer(Heads.PREFIX + "fc1").getParam("W").size(0), "head: 4096 -> hidden");
    }

    static Map<String, INDArray> snapshot(ComputationGraph net) {
        Map<String, INDArray> m = new HashMap<>();
        for (Layer l : net.getLayers()) {
            String name = l.conf().getLayer().getLayerName();
            for (Map.Entry<String, INDArray> p : l.paramTable().entrySet()) {
                m.put(name + "/" + p.getKey(), p.getValue().dup());
            }
        }
        return m;
    }

    private static String layerOf(String key) {
        return key.substring(0, key.lastIndexOf('/'));
    }

    private static String paramOf(String key) {
        return key.substring(key.lastIndexOf('/') + 1);
    }

    static void fitSomeSteps(ComputationGraph net, int steps, int size) {
        Nd4j.getRandom().setSeed(1);
        for (int i = 0; i < steps; i++) {
            INDArray x = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 4, 3, size, size);
            INDArray y = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, 4, 2);
            for (int r = 0; r < 4; r++) {
                y.putScalar(r, r % 2, 1.0);
            }
            net.fit(new DataSet(x, y));
        }
    }
}
