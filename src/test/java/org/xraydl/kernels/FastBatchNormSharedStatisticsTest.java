package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.xraydl.model.DenseNetBuilder;
import org.xraydl.model.DenseNetSpec;
import org.xraydl.model.HeadSpec;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batch norm fed by a DenseNet concatenation takes its first channels' sum(x) and sum(x^2) from the batch norm of
 * the concatenation's first input ({@link FastBatchNormalizationLayer#sharePrefixStatistics}): which layers
 * {@link FastLayers} links, training that agrees with every layer reducing all its channels, and the per-call
 * checks that fall back to reducing everything.
 */
@ExtendWith(NativeHelpersOn.class)
class FastBatchNormSharedStatisticsTest {
    private static final LayerWorkspaceMgr NO_WS = LayerWorkspaceMgr.noWorkspaces();


    @AfterEach
    void clearProperty() {
        System.clearProperty(FastBatchNormalizationLayer.SHARED_STATISTICS_PROPERTY);
    }

    /** A small DenseNet: blocks of 3 and 2 layers (growth 4), a transition, the final batch norm. */
    private static ComputationGraph denseNet() {
        return DenseNetBuilder.build(DenseNetSpec.compact(4, List.of(3, 2), 8), 16, 3, 13, 1e-2,
                new HeadSpec(List.of(), List.of(), 2, null));
    }

    private static DataSet batch() {
        Nd4j.getRandom().setSeed(3);
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 3, 16, 16).subi(0.5).muli(3);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 4, 2);
        for (int i = 0; i < 4; i++) {
            y.putScalar(i, i % 2, 1.0);
        }
        return new DataSet(x, y);
    }

    private static List<String> linked(ComputationGraph net) {
        return java.util.Arrays.stream(net.getLayers())
                .filter(l -> l instanceof FastBatchNormalizationLayer b && b.sharesPrefixStatistics())
                .map(l -> l.conf().getLayer().getLayerName()).sorted().toList();
    }

    /** max |a - b| / max |a| */
    private static double relativeDiff(INDArray a, INDArray b) {
        INDArray d = a.castTo(DataType.DOUBLE).sub(b.castTo(DataType.DOUBLE));
        return d.amaxNumber().doubleValue() / a.amaxNumber().doubleValue();
    }

    @Test
    void blockLayersTheTransitionAndTheFinalBatchNormAreLinkedAndTrainAsWithoutSharing() {
        ComputationGraph shared = denseNet();
        ComputationGraph alone = shared.clone();
        FastLayers.engage(shared);
        FastLayers.engage(alone);
        // each batch norm fed by a concatenation whose first input the previous layer's batch norm reads
        assertEquals(List.of("bn", "conv2_block2_0_bn", "conv2_block3_0_bn", "conv3_block2_0_bn", "pool2_bn"), linked(shared));
        DataSet data = batch();
        for (int step = 0; step < 3; step++) {
            // training-mode output (batch statistics) and every gradient, on the same parameters
            long before = FastBatchNormalizationLayer.sharedStatistics();
            INDArray outShared = shared.outputSingle(true, data.getFeatures());
            long afterOutput = FastBatchNormalizationLayer.sharedStatistics();
            shared.setInputs(data.getFeatures());
            shared.setLabels(data.getLabels());
            shared.computeGradientAndScore();
            INDArray gradShared = shared.getGradientsViewArray().dup();
            // output() feeds the layers copies of the merge's inputs (detached arrays): no sharing there, the check sees it
            assertEquals(0, afterOutput - before, "step " + step + ": output()");
            assertEquals(5, FastBatchNormalizationLayer.sharedStatistics() - afterOutput, "step " + step + ": every linked layer in the training pass");
            System.setProperty(FastBatchNormalizationLayer.SHARED_STATISTICS_PROPERTY, "false");
            before = FastBatchNormalizationLayer.sharedStatistics();
            INDArray outAlone = alone.outputSingle(true, data.getFeatures());
            alone.setInputs(data.getFeatures());
            alone.setLabels(data.getLabels());
            alone.computeGradientAndScore();
            INDArray gradAlone = alone.getGradientsViewArray().dup();
            assertEquals(0, FastBatchNormalizationLayer.sharedStatistics() - before, "switched off");
            System.clearProperty(FastBatchNormalizationLayer.SHARED_STATISTICS_PROPERTY);
            // the linked layers compute the same row sums on the merge inputs (0 difference measured)
            double outDiff = relativeDiff(outAlone, outShared);
            double gradDiff = relativeDiff(gradAlone, gradShared);
            System.out.printf("[shared batch-norm statistics] step %d: output max rel. diff %.2e, gradient %.2e%n", step, outDiff, gradDiff);
            assertTrue(outDiff < 1e-5, "step " + step + ": output " + outDiff);
            assertTrue(gradDiff < 1e-6, "step " + step + ": gradient " + gradDiff); // 0 measured: the same row sums
            // the same plain SGD-like update on both (Adam's first steps magnify float noise in near-zero gradients)
            shared.params().subi(gradShared.reshape(shared.params().shape()).mul(1e-2));
            alone.params().assign(shared.params());
        }
    }

    /**
     * A linked layer run on its own (no merge inputs in place: the graph clears them after a step) reduces every
     * channel itself: the same bits as a layer that is not linked.
     */
    @Test
    void aLinkedLayerOutsideItsGraphsForwardReducesEverything() {
        ComputationGraph shared = denseNet();
        FastLayers.engage(shared);
        DataSet data = batch();
        shared.fit(data);
        FastBatchNormalizationLayer linked = (FastBatchNormalizationLayer) shared.getLayer("conv2_block3_0_bn");
        assertTrue(linked.sharesPrefixStatistics());
        Nd4j.getRandom().setSeed(9);
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 16, 4, 4);
        long before = FastBatchNormalizationLayer.sharedStatistics();
        linked.setInput(x, NO_WS);
        INDArray out = linked.activate(true, NO_WS).dup();
        assertEquals(before, FastBatchNormalizationLayer.sharedStatistics(), "nothing shared");
        linked.sharePrefixStatistics(null, null);
        linked.setInput(x, NO_WS);
        assertEquals(out, linked.activate(true, NO_WS), "the same bits as an unlinked layer");
    }

    /** A concatenation whose first input feeds a third vertex (which could change it in between) is not linked. */
    @Test
    void aFirstInputWithAnotherConsumerIsNotLinked() {
        for (boolean thirdConsumer : new boolean[]{false, true}) {
            ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                    .seed(7).updater(new Adam(0.01)).dataType(DataType.FLOAT).convolutionMode(ConvolutionMode.Same)
                    .graphBuilder()
                    .addInputs("in")
                    .setInputTypes(InputType.convolutional(8, 8, 2))
                    .addLayer("stem", new ConvolutionLayer.Builder(3, 3).nOut(4).hasBias(false).activation(Activation.IDENTITY).build(), "in")
                    .addLayer("bn1", new BatchNormalization.Builder().build(), "stem")
                    .addLayer("c1", new ConvolutionLayer.Builder(3, 3).nOut(3).hasBias(false).activation(Activation.IDENTITY).build(), "bn1")
                    .addVertex("cat", new MergeVertex(), "stem", "c1")
                    .addLayer("bn2", new BatchNormalization.Builder().build(), "cat")
                    .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "bn2");
            String out = "gap";
            if (thirdConsumer) {
                g.addLayer("gap2", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "stem");
                g.addVertex("heads", new MergeVertex(), "gap", "gap2");
                out = "heads";
            }
            g.addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build(), out)
                    .setOutputs("out");
            ComputationGraph net = new ComputationGraph(g.build());
            net.init();
            FastLayers.engage(net);
            assertEquals(thirdConsumer ? List.of() : List.of("bn2"), linked(net), "third consumer " + thirdConsumer);
            assertFalse(((FastBatchNormalizationLayer) net.getLayer("bn1")).sharesPrefixStatistics());
        }
    }
}
