package org.xraydl.kernels;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A DL4J whose private fields differ from 1.0.0-M2.1's, simulated by a field lookup that renames
 * them: {@link FastLayers} must not throw, must warn once per unusable field, must leave DL4J's own
 * layers in place (which then train exactly like an untouched network), and the
 * {@code xraydl.fast*} switches must still work. The tiny net has one batch norm, one ReLU activation
 * layer, one max pool and one identity-activation convolution fed by the network input (so it also
 * skips its input gradient), so the hand-known counts are 1, 1, 1, 1 (and 1).
 */
@ExtendWith(NativeHelpersOn.class)
class FastLayersDegradationTest {
    private static final List<String> SWITCHES = List.of(FastLayers.FAST_BATCH_NORM_PROPERTY,
            FastLayers.FAST_RELU_PROPERTY, FastLayers.FAST_POOLING_PROPERTY, FastLayers.FAST_CONV_PROPERTY);


    @AfterEach
    void clearSwitches() {
        SWITCHES.forEach(System::clearProperty);
    }

    /** A lookup as in a DL4J where the named fields were renamed: the JVM's own NoSuchFieldException. */
    private static Dl4jHooks renaming(String... fields) {
        Set<String> renamed = Set.of(fields);
        return new Dl4jHooks((owner, name) -> owner.getDeclaredField(renamed.contains(name) ? name + "Renamed" : name));
    }

    private static ComputationGraph tinyNet() {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(4).updater(new Sgd(0.1)).dataType(DataType.FLOAT)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(12, 12, 3))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv")
                .addLayer("relu", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn")
                .addLayer("pool", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build(), "relu")
                .addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "pool")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "gap")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    private static DataSet batch() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 3, 12, 12);
        INDArray y = Nd4j.createFromArray(new float[][]{{1, 0}, {0, 1}, {1, 0}, {0, 1}});
        return new DataSet(x, y);
    }

    private static String layerClasses(ComputationGraph net) {
        return String.join(",", Arrays.stream(net.getLayers()).map(l -> l.getClass().getSimpleName()).toList());
    }

    private static Layer bn(ComputationGraph net) {
        return net.getLayer("bn");
    }

    @Test
    void theRealDl4jHasEveryHook() {
        Dl4jHooks hooks = new Dl4jHooks(Class::getDeclaredField);
        ComputationGraph net = tinyNet();
        assertEquals(new FastLayers.Engaged(1, 1, 1, 1, 1, 1), FastLayers.engage(net, hooks));
        assertEquals(List.of(), hooks.warnings());
        assertEquals("FastConvolutionLayer,FastBatchNormalizationLayer,FastReluLayer,FastPoolingLayer,GlobalPoolingLayer,OutputLayer",
                layerClasses(net));
        assertEquals(FastBatchNormHelper.class, bn(net).getHelper().getClass());
    }

    @Test
    void missingHooksLeaveDl4jLayersThatTrainLikeAnUntouchedNetwork() {
        ComputationGraph plain = tinyNet();
        ComputationGraph degraded = plain.clone();
        Dl4jHooks hooks = renaming("helper", "layers");

        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(degraded, hooks));
        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(tinyNet(), hooks), "second network: no new warning");
        List<String> warnings = hooks.warnings();
        assertEquals(2, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("BatchNormalization.helper") && warnings.get(0).contains("FastBatchNormHelper is off"),
                warnings.get(0));
        assertTrue(warnings.get(1).contains("ComputationGraph.layers") && warnings.get(1).contains("FastReluLayer, FastPoolingLayer, FastConvolutionLayer and FastBatchNormalizationLayer are off"),
                warnings.get(1));

        assertEquals("ConvolutionLayer,BatchNormalization,ActivationLayer,SubsamplingLayer,GlobalPoolingLayer,OutputLayer",
                layerClasses(degraded));
        assertEquals(MKLDNNBatchNormHelper.class, bn(degraded).getHelper().getClass());
        Map<String, String> report = HelperReport.summary(degraded);
        assertEquals("MKLDNNBatchNormHelper x1", report.get("BatchNormalization"));
        assertEquals("none x1", report.get("ActivationLayer"));
        assertTrue(report.get("SubsamplingLayer").startsWith("MKLDNNSubsamplingHelper"), report.toString());

        DataSet data = batch();
        for (int i = 0; i < 3; i++) {
            plain.fit(data);
            degraded.fit(data);
        }
        assertEquals(plain.params(), degraded.params());
        assertEquals(plain.outputSingle(data.getFeatures()), degraded.outputSingle(data.getFeatures()));
    }

    @Test
    void eachLeverDegradesOnItsOwn() {
        Dl4jHooks hooks = renaming("helper");
        ComputationGraph net = tinyNet();
        assertEquals(new FastLayers.Engaged(0, 1, 1, 1, 0, 1), FastLayers.engage(net, hooks));
        assertEquals(1, hooks.warnings().size(), hooks.warnings().toString());
        assertEquals("FastConvolutionLayer,BatchNormalization,FastReluLayer,FastPoolingLayer,GlobalPoolingLayer,OutputLayer",
                layerClasses(net));
        assertEquals(MKLDNNBatchNormHelper.class, bn(net).getHelper().getClass());
    }

    @Test
    void aFieldOfAnotherTypeIsUnusableToo() {
        // as if DL4J had turned the layer array into another type: the graph's vertex array stands in for it
        Dl4jHooks hooks = new Dl4jHooks((owner, name) -> owner.getDeclaredField(name.equals("layers") ? "vertices" : name));
        ComputationGraph net = tinyNet();
        assertEquals(new FastLayers.Engaged(1, 0, 0, 0, 0, 0), FastLayers.engage(net, hooks));
        assertEquals(1, hooks.warnings().size());
        assertTrue(hooks.warnings().get(0).contains("ComputationGraph.layers is a GraphVertex[], not a Layer[]"),
                hooks.warnings().get(0));
    }

    @Test
    void switchesWorkWithMissingHooks() {
        Dl4jHooks hooks = renaming("helper", "layers");
        SWITCHES.forEach(p -> System.setProperty(p, "false"));
        ComputationGraph off = tinyNet();
        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(off, hooks));
        assertEquals(List.of(), hooks.warnings(), "a lever that is off does not look its hook up");

        System.setProperty(FastLayers.FAST_RELU_PROPERTY, "true");
        assertEquals(new FastLayers.Engaged(0, 0, 0, 0, 0, 0), FastLayers.engage(tinyNet(), hooks));
        assertEquals(1, hooks.warnings().size(), "only the switched-on lever's hook: " + hooks.warnings());
        assertTrue(hooks.warnings().get(0).contains("ComputationGraph.layers"));

        // and with every hook present, each switch still decides its own lever
        Dl4jHooks real = new Dl4jHooks(Class::getDeclaredField);
        System.setProperty(FastLayers.FAST_RELU_PROPERTY, "false");
        System.setProperty(FastLayers.FAST_POOLING_PROPERTY, "true");
        ComputationGraph poolingOnly = tinyNet();
        assertEquals(new FastLayers.Engaged(0, 0, 1, 0, 0, 0), FastLayers.engage(poolingOnly, real));
        assertEquals("ConvolutionLayer,BatchNormalization,ActivationLayer,FastPoolingLayer,GlobalPoolingLayer,OutputLayer",
                layerClasses(poolingOnly));
        assertEquals(MKLDNNBatchNormHelper.class, bn(poolingOnly).getHelper().getClass());
    }
}
