package org.xraydl.model;

import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.schedule.CycleSchedule;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.io.ModelBundle;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Optimisers, weight decay and learning-rate schedules from the config; expected values worked out by hand. */
class OptimizationTest {
    private static final double EPS = 1e-12;

    private static RunConfig config(Map<String, Object> keys) {
        return TestData.tinyConfig(keys);
    }

    @Test
    void oneCycleRisesToThePeakComesBackAndAnnealsToLrMin() {
        // 2 epochs x 50 batches = 100 iterations; anneal 10% = 10; rise and fall 45 each.
        RunConfig c = config(Map.of("lrSchedule", "onecycle", "learningRate", 0.001, "lrMax", 0.002, "lrMin", 1e-5,
                "annealFraction", 0.1, "epochs", 2));
        ISchedule s = Optimization.schedule(c, 50);
        assertInstanceOf(CycleSchedule.class, s);
        assertEquals(0.001, s.valueAt(0, 0), EPS);
        assertEquals(0.001 + 0.001 * 20 / 45, s.valueAt(20, 0), EPS);
        assertEquals(0.002, s.valueAt(45, 0), EPS, "peak");
        assertEquals(0.001 + 0.001 * 10 / 45, s.valueAt(80, 1), EPS, "falling");
        assertEquals(0.001, s.valueAt(90, 1), EPS, "anneal starts at learningRate");
        // 0.001 * (1e-5 / 1e-3)^(5/9) = 0.001 * 10^(-10/9)
        assertEquals(7.742636826811269e-5, s.valueAt(95, 1), 1e-15);
        assertEquals(1e-5, s.valueAt(99, 1), 1e-15, "last iteration at lrMin");
    }

    @Test
    void oneCycleWithAnOddRestNeverLeavesItsRange() {
        // 101 iterations: anneal round(10.1) = 10 leaves 91 (odd), so anneal becomes 11 and each half 45.
        RunConfig c = config(Map.of("lrSchedule", "onecycle", "learningRate", 0.001, "lrMax", 0.002, "lrMin", 1e-5, "epochs", 1));
        ISchedule s = Optimization.schedule(c, 101);
        assertEquals(0.002, s.valueAt(45, 0), EPS);
        assertEquals(0.001, s.valueAt(90, 0), EPS);
        assertEquals(1e-5, s.valueAt(100, 0), 1e-15);
        for (int i = 91; i < 101; i++) {
            assertTrue(s.valueAt(i, 0) < 0.001, "annealing at " + i + ": " + s.valueAt(i, 0));
        }
    }

    @Test
    void cosineWarmsUpLinearlyThenFollowsAHalfCosine() {
        // 3 epochs x 10 batches, 1 warm-up epoch: warm-up 0..10, cosine 10..30.
        RunConfig c = config(Map.of("lrSchedule", "cosine", "learningRate", 0.01, "lrMin", 0.0, "warmupEpochs", 1, "epochs", 3));
        ISchedule s = Optimization.schedule(c, 10);
        assertEquals(0.0, s.valueAt(0, 0), EPS);
        assertEquals(0.005, s.valueAt(5, 0), EPS);
        assertEquals(0.01, s.valueAt(10, 1), EPS, "warm-up end = peak");
        assertEquals(0.005 * (1 + Math.sqrt(0.5)), s.valueAt(15, 1), EPS, "a quarter of the cosine: cos(pi/4)");
        assertEquals(0.005, s.valueAt(20, 2), EPS, "half-way");
        assertEquals(0.0, s.valueAt(30, 3), EPS);
        assertEquals(0.0, s.valueAt(40, 4), EPS, "stays at lrMin after the run");
        // Fractional warm-up: half an epoch of 10 batches = 5 iterations.
        ISchedule half = Optimization.schedule(config(Map.of("lrSchedule", "cosine", "learningRate", 0.01, "lrMin", 0.001,
                "warmupEpochs", 0.5, "epochs", 3)), 10);
        assertEquals(0.001 + 0.009 * 2 / 5, half.valueAt(2, 0), EPS);
        assertEquals(0.01, half.valueAt(5, 0), EPS);
    }

    @Test
    void stepMultipliesByGammaEveryStepEveryEpochs() {
        RunConfig c = config(Map.of("lrSchedule", "step", "learningRate", 0.1, "stepEvery", 2, "stepGamma", 0.5, "epochs", 6));
        ISchedule s = Optimization.schedule(c, 10);
        assertEquals(0.1, s.valueAt(0, 0), EPS);
        assertEquals(0.1, s.valueAt(19, 1), EPS);
        assertEquals(0.05, s.valueAt(20, 2), EPS);
        assertEquals(0.05, s.valueAt(39, 3), EPS);
        assertEquals(0.025, s.valueAt(40, 4), EPS);
    }

    @Test
    void constantScheduleAndBatchesPerEpoch() {
        assertNull(Optimization.schedule(config(Map.of()), 0));
        RunConfig c = config(Map.of("batchSize", 8));
        assertEquals(13, Optimization.iterationsPerEpoch(c, 100), "12 full batches and one of 4");
        assertEquals(12, Optimization.iterationsPerEpoch(c, 96));
        assertEquals(5, Optimization.iterationsPerEpoch(config(Map.of("batchSize", 8, "maxBatchesPerEpoch", 5)), 100));
    }

    @Test
    void defaultConfigKeepsPlainAdamAtAConstantRateWithoutDecay() {
        ComputationGraph net = ModelFactory.create(config(Map.of()), 2, null);
        for (BaseLayer l : trainable(net)) {
            Adam a = assertInstanceOf(Adam.class, l.getIUpdater(), l.getLayerName());
            assertEquals(0.003, a.getLearningRate(), EPS);
            assertNull(a.getLearningRateSchedule());
            assertEquals(0.9, a.getBeta1(), EPS);
            assertEquals(0.999, a.getBeta2(), EPS);
            assertTrue(l.getRegularization().isEmpty(), l.getLayerName() + " " + l.getRegularization());
        }
    }

    @Test
    void adamwPutsDecoupledWeightDecayAndTheScheduleOnEveryTrainableLayer() {
        RunConfig c = config(Map.of("optimizer", "adamw", "weightDecay", 1e-4, "lrSchedule", "onecycle",
                "learningRate", 0.001, "lrMax", 0.002, "adamBeta2", 0.99));
        ComputationGraph net = ModelFactory.create(c, 2, null, 20);
        List<BaseLayer> layers = trainable(net);
        assertTrue(layers.size() >= 6, "conv, bn and dense layers: " + layers.size());
        assertTrue(layers.stream().anyMatch(l -> l.getLayerName().equals(Heads.OUTPUT)));
        for (BaseLayer l : layers) {
            Adam a = assertInstanceOf(Adam.class, l.getIUpdater(), l.getLayerName());
            assertEquals(0.99, a.getBeta2(), EPS);
            assertEquals(Optimization.schedule(c, 20), a.getLearningRateSchedule());
            assertEquals(List.of(new WeightDecay(1e-4, true)), l.getRegularization(), l.getLayerName());
            assertTrue(l.getRegularizationBias().isEmpty(), "biases are not decayed");
        }
        // The network's own view: the rate at its current iteration (0) is learningRate.
        assertEquals(0.001, net.getLearningRate(Heads.OUTPUT), EPS);
    }

    @Test
    void sgdUsesNesterovMomentumAndCoupledL2() {
        RunConfig c = config(Map.of("optimizer", "sgd", "momentum", 0.8, "weightDecay", 5e-4, "learningRate", 0.05));
        for (BaseLayer l : trainable(ModelFactory.create(c, 2, null))) {
            Nesterovs n = assertInstanceOf(Nesterovs.class, l.getIUpdater(), l.getLayerName());
            assertEquals(0.8, n.getMomentum(), EPS);
            assertEquals(0.05, n.getLearningRate(), EPS);
            assertEquals(List.of(new L2Regularization(5e-4)), l.getRegularization());
        }
        RunConfig plain = config(Map.of("optimizer", "sgd", "momentum", 0.0));
        for (BaseLayer l : trainable(ModelFactory.create(plain, 2, null))) {
            assertInstanceOf(Sgd.class, l.getIUpdater(), l.getLayerName());
        }
    }

    @Test
    void frozenTrunksGetNoUpdaterNorDecayAndTheHeadGetsBoth() {
        Map<String, Object> vgg = new HashMap<>(Map.of("model", "vgg16", "freezeTrunk", true, "headHidden", List.of(16),
                "headDropout", List.of(0.5), "normalization", "vgg"));
        for (Map<String, Object> model : List.of(Map.<String, Object>of("freezeTrunk", true), vgg)) {
            Map<String, Object> keys = new HashMap<>(model);
            keys.putAll(Map.of("optimizer", "adamw", "weightDecay", 1e-4, "lrSchedule", "cosine", "warmupEpochs", 0.5));
            RunConfig c = config(keys);
            ComputationGraph net = ModelFactory.create(c, 2, null, 10);
            int frozen = 0;
            int head = 0;
            for (Layer layer : net.getLayers()) {
                var conf = layer.conf().getLayer();
                var saved = ((LayerVertex) net.getConfiguration().getVertices().get(conf.getLayerName())).getLayerConf().getLayer();
                if (saved instanceof FrozenLayer f) {
                    if (layer.numParams() > 0) {
                        assertNoUpdate(f, conf.getLayerName());
                        frozen++;
                    }
                } else if (conf instanceof BaseLayer b && layer.numParams() > 0) {
                    assertTrue(b.getLayerName().startsWith(Heads.PREFIX), "only the head trains: " + b.getLayerName());
                    Adam a = assertInstanceOf(Adam.class, b.getIUpdater());
                    assertInstanceOf(WarmupCosineSchedule.class, a.getLearningRateSchedule());
                    assertEquals(List.of(new WeightDecay(1e-4, true)), b.getRegularization());
                    head++;
                }
            }
            assertTrue(frozen > 2 && head == 2, model + ": " + frozen + " frozen, " + head + " head layers");
        }
    }

    @Test
    void aSavedAndReloadedNetworkContinuesTheScheduleAndTheUpdaterState(@TempDir Path dir) {
        // Cosine, 3 epochs of 4 batches, warm-up 1 epoch (4 iterations), peak 0.01, min 0.
        RunConfig c = config(Map.of("optimizer", "adamw", "weightDecay", 1e-3, "lrSchedule", "cosine",
                "learningRate", 0.01, "lrMin", 0.0, "warmupEpochs", 1, "epochs", 3, "headDropout", List.of(0.0),
                "freezeTrunk", true)); // only the head trains: fast, and the schedule is the same
        ComputationGraph net = ModelFactory.create(c, 2, null, 4);
        List<DataSet> batches = batches(4);
        net.fit(new ExistingDataSetIterator(batches));
        net.fit(new ExistingDataSetIterator(batches));
        assertEquals(8, net.getIterationCount());
        // Iteration 8: cosine at (8 - 4) / (12 - 4) = 1/2 of its way, 0.01 * (1 + cos(pi/2)) / 2.
        assertEquals(0.005, net.getLearningRate(Heads.OUTPUT), EPS);

        Path zip = dir.resolve("last.zip");
        new ModelBundle(net, Preprocessing.of(c, List.of("A", "B")), c, Map.of()).save(zip, true);
        ComputationGraph resumed = ModelBundle.load(zip).network();
        assertEquals(8, resumed.getIterationCount());
        assertEquals(2, resumed.getEpochCount());
        assertEquals(0.005, resumed.getLearningRate(Heads.OUTPUT), EPS);
        assertEquals(List.of(new WeightDecay(1e-3, true)),
                ((BaseLayer) resumed.getLayer(Heads.OUTPUT).conf().getLayer()).getRegularization(), "decay once, also after loading");
        ModelFactory.reschedule(resumed, c, 4); // what Trainer does on --resume: same epochs, same schedule
        assertEquals(0.005, resumed.getLearningRate(Heads.OUTPUT), EPS);

        // The third epoch, interrupted or not, gives the same weights.
        net.fit(new ExistingDataSetIterator(batches));
        resumed.fit(new ExistingDataSetIterator(batches));
        assertEquals(12, resumed.getIterationCount());
        assertEquals(net.params(), resumed.params());
        assertEquals(0.0, resumed.getLearningRate(Heads.OUTPUT), EPS);
    }

    @Test
    void raisingTheEpochsOnResumeStretchesTheSchedule(@TempDir Path dir) {
        RunConfig c = config(Map.of("lrSchedule", "step", "learningRate", 0.1, "stepEvery", 1, "stepGamma", 0.5, "epochs", 2,
                "freezeTrunk", true));
        ComputationGraph net = ModelFactory.create(c, 2, null, 4);
        net.fit(new ExistingDataSetIterator(batches(4)));
        assertEquals(0.05, net.getLearningRate(Heads.OUTPUT), EPS, "after one epoch of 4 batches");
        // Epochs 2 -> 4 with stepEvery 2: the new schedule at iteration 4 is 0.1 * 0.5^floor(4 / 8) = 0.1.
        RunConfig more = config(Map.of("lrSchedule", "step", "learningRate", 0.1, "stepEvery", 2, "stepGamma", 0.5,
                "epochs", 4, "freezeTrunk", true));
        ModelFactory.reschedule(net, more, 4);
        assertEquals(0.1, net.getLearningRate(Heads.OUTPUT), EPS);
        int frozen = 0;
        for (GraphVertex v : net.getConfiguration().getVertices().values()) {
            if (v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof FrozenLayer f) {
                assertNoUpdate(f, "after reschedule");
                frozen++;
            }
        }
        assertTrue(frozen > 2, "frozen layers: " + frozen);
    }

    @Test
    void decoupledWeightDecayShrinksWeightsByLrTimesDecayOncePerStep() {
        // Zero input: the dense layer's weight gradient is x^T delta = 0, so Adam moves nothing and only
        // the decay acts: W <- W - lr * wd * W = 0.95 W for lr 0.1, wd 0.5 (0.90 W if DL4J applied it twice).
        RunConfig c = config(Map.of("optimizer", "adamw", "weightDecay", 0.5, "learningRate", 0.1));
        Optimization opt = Optimization.from(c, 0);
        ComputationGraph net = new ComputationGraph(opt.applyTo(new NeuralNetConfiguration.Builder()).seed(1).graphBuilder()
                .addInputs("in")
                .addLayer("d", new DenseLayer.Builder().nIn(2).nOut(2).hasBias(false).activation(Activation.IDENTITY).build(), "in")
                .addLayer("o", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(2).nOut(2).activation(Activation.IDENTITY).build(), "d")
                .setOutputs("o").build());
        net.init();
        opt.fixRegularization(net);
        INDArray w = net.getLayer("d").getParam("W").dup();
        net.fit(new DataSet(Nd4j.zeros(DataType.FLOAT, 3, 2), Nd4j.ones(DataType.FLOAT, 3, 2)));
        assertEquals(w.mul(0.95), net.getLayer("d").getParam("W"));
    }

    private static void assertNoUpdate(FrozenLayer f, String name) {
        IUpdater u = f.getUpdaterByParam("W");
        assertTrue(u == null || u instanceof NoOp, name + ": " + u);
        List<Regularization> r = f.getRegularizationByParam("W");
        assertTrue(r == null || r.isEmpty(), name + ": " + r);
    }

    private static List<DataSet> batches(int n) {
        Nd4j.getRandom().setSeed(7);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 32, 32);
            INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 2);
            for (int r = 0; r < 4; r++) {
                y.putScalar(r, (r + b) % 2, 1.0);
            }
            out.add(new DataSet(x, y));
        }
        return out;
    }

    private static List<BaseLayer> trainable(ComputationGraph net) {
        List<BaseLayer> out = new ArrayList<>();
        for (Layer layer : net.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer b && layer.numParams() > 0) {
                out.add(b);
            }
        }
        return out;
    }
}
