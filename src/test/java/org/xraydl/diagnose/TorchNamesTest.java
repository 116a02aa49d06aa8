package org.xraydl.diagnose;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.model.ModelFactory;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The torchvision names of the cross-engine check map one to one onto the compact DenseNet that {@code train} builds. */
class TorchNamesTest {

    /** torchvision's DenseNet(growth 12, blocks 2-4-6, 24 initial features) state_dict names and sizes, without torch. */
    private static Map<String, Long> torchvisionCompact() {
        Map<String, Long> out = new LinkedHashMap<>();
        int growth = 12;
        int[] blocks = {2, 4, 6};
        int c = 24;
        out.put("features.conv0.weight", 24L * 3 * 7 * 7);
        bn(out, "features.norm0", c);
        for (int b = 0; b < blocks.length; b++) {
            for (int l = 1; l <= blocks[b]; l++) {
                String p = "features.denseblock" + (b + 1) + ".denselayer" + l;
                int in = c + (l - 1) * growth;
                bn(out, p + ".norm1", in);
                out.put(p + ".conv1.weight", 4L * growth * in);
                bn(out, p + ".norm2", 4 * growth);
                out.put(p + ".conv2.weight", (long) growth * 4 * growth * 9);
            }
            c += blocks[b] * growth;
            if (b < blocks.length - 1) {
                String p = "features.transition" + (b + 1);
                bn(out, p + ".norm", c);
                out.put(p + ".conv.weight", (long) (c / 2) * c);
                c /= 2;
            }
        }
        bn(out, "features.norm5", c);
        out.put("classifier.weight", 2L * c);
        out.put("classifier.bias", 2L);
        return out;
    }

    private static void bn(Map<String, Long> out, String p, long c) {
        for (String s : new String[]{"weight", "bias", "running_mean", "running_var"}) {
            out.put(p + "." + s, c);
        }
    }

    @Test
    void everyTorchvisionTensorHasExactlyOneParameterOfTheSameSizeInTheProjectsNet() {
        RunConfig c = ConfigLoader.load(Path.of("config/full-cpu.yaml"), Map.of("imageSize", 96, "lrSchedule", "constant"));
        ComputationGraph net = ModelFactory.create(c, 2, new double[]{1.9, 0.7});
        Map<String, Long> torch = torchvisionCompact();
        assertEquals(105_458L, torch.values().stream().mapToLong(Long::longValue).sum(), "torchvision's count incl. BN running stats");
        Set<String> seen = new HashSet<>();
        for (Map.Entry<String, Long> e : torch.entrySet()) {
            String[] vp = TorchNames.parameter(e.getKey()).orElseThrow(() -> new AssertionError("unmapped " + e.getKey()));
            Layer layer = net.getLayer(vp[0]);
            String p = vp[1].equals("var") && layer.getParam("var") == null ? "log10stdev" : vp[1];
            INDArray a = layer.getParam(p);
            assertTrue(a != null, e.getKey() + " -> " + vp[0] + "_" + p + " does not exist");
            assertEquals(e.getValue(), a.length(), e.getKey() + " -> " + vp[0] + "_" + p);
            assertTrue(seen.add(vp[0] + "_" + p), "two torchvision tensors map to " + vp[0] + "_" + p);
        }
        int arrays = 0;
        for (Layer l : net.getLayers()) {
            arrays += l.paramTable().size();
        }
        assertEquals(arrays, seen.size(), "every parameter array of the project's net is covered");
        assertEquals(net.numParams(), torch.values().stream().mapToLong(Long::longValue).sum());
    }

    @Test
    void modulesMapToVerticesAndTheirSingleInputs() {
        assertEquals(Optional.of("conv3_block4_1_bn"), TorchNames.vertex("denseblock2.denselayer4.norm2"));
        assertEquals(Optional.of("pool3_bn"), TorchNames.vertex("transition2.norm"));
        assertEquals(Optional.of("pool1"), TorchNames.vertex("pool0"));
        assertEquals(Optional.of("denseblock2.denselayer4.relu2"), TorchNames.inputModule("denseblock2.denselayer4.conv2"));
        assertEquals(Optional.of("transition1.conv"), TorchNames.inputModule("transition1.pool"));
        assertEquals(Optional.empty(), TorchNames.inputModule("denseblock1.denselayer1.norm1"), "a concatenation");
        assertEquals(Optional.empty(), TorchNames.inputModule("conv0"), "the network input");
    }
}
