package org.xraydl.model.io;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The decision rule chosen after training is written into an existing best.zip and read back with the model. */
class DecisionStorageTest {

    @Test
    void storedRuleIsReadBackAndTheNetworkIsUnchanged(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Path zip = dir.resolve("best.zip");
        new ModelBundle(net, Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of()).save(zip, false);
        assertNull(ModelBundle.load(zip).decision(), "a zip written without a rule (like older ones) has none");

        DecisionRule rule = new DecisionRule("PNEUMONIA", 0.3125, "sensitivity", 0.97, 1.75);
        ModelBundle.storeDecision(zip, rule);
        ModelBundle back = ModelBundle.load(zip);
        assertEquals(rule, back.decision());
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 3, 32, 32);
        assertEquals(net.outputSingle(x), back.network().outputSingle(x));

        // Replacing it keeps one entry with the new values, and no temp file is left behind.
        DecisionRule youden = new DecisionRule("PNEUMONIA", 0.5625, "youden", 0.97, 1.0);
        ModelBundle.storeDecision(zip, youden);
        assertEquals(youden, ModelBundle.load(zip).decision());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(zip), files.toList());
        }
        assertNull(ModelBundle.load(zip).decisionFor(true), "a plain-only rule has no TTA rule");

        // With a TTA rule: both read back, each for its own kind of probabilities.
        DecisionRule both = rule.withTta(new DecisionRule("PNEUMONIA", 0.25, "sensitivity", 0.97, 0.5), 6);
        ModelBundle.storeDecision(zip, both);
        ModelBundle withTta = ModelBundle.load(zip);
        assertEquals(both, withTta.decision());
        assertEquals(rule, withTta.decisionFor(false));
        assertEquals(new DecisionRule("PNEUMONIA", 0.25, "sensitivity", 0.97, 0.5), withTta.decisionFor(true));
        assertEquals(1.75, withTta.temperatureFor(false), 0);
        assertEquals(0.5, withTta.temperatureFor(true), 0);
    }
}
