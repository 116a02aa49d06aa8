package org.xraydl.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
import org.xraydl.data.TestTimeAugmentation;
import org.xraydl.evaluate.OperatingPoint;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The end of a run stores two operating points in best.zip: one chosen on the plain validation
 * probabilities and one chosen the same way on the probabilities averaged over the --tta views, which
 * this test averages itself from each view's iterator over the validation images of split.csv.
 */
class TtaOperatingPointTest {

    @Test
    void theStoredTtaRuleIsChosenOnTtaAveragedValidationProbabilities(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 12, "NORMAL", "PNEUMONIA");
        Path out = tmp.resolve("run");
        RunConfig c = TestData.tinyConfig(Map.of("data", data.toString(), "out", out.toString(), "batchSize", 4, "valFraction", 0.3));
        Trainer.train(c, Trainer.Options.quiet());

        ModelBundle best = ModelBundle.load(out.resolve(RunDirectory.BEST));
        DecisionRule stored = best.decision();
        assertNotNull(stored.tta(), "best.zip has a TTA rule");
        Preprocessing pre = best.preprocessing();
        List<LabeledImage> validation = RunDirectory.readSplit(out.resolve("split.csv")).validation();
        Predictions tta = TestData.averagedOverViews(best.network(), validation, pre, TestTimeAugmentation.views(pre));
        Predictions plain = TestData.averagedOverViews(best.network(), validation, pre, TestTimeAugmentation.views(pre).subList(0, 1));
        DecisionRule expectedTta = OperatingPoint.choose(tta, c, "PNEUMONIA");
        DecisionRule expectedPlain = OperatingPoint.choose(plain, c, "PNEUMONIA");
        // Otherwise a TTA rule chosen on the plain probabilities would pass too.
        assertNotEquals(expectedPlain.threshold(), expectedTta.threshold(), 1e-6, "TTA moves the chosen threshold on this split");

        assertEquals(6, stored.tta().views(), "the six views of README's --tta");
        assertEquals(expectedTta.threshold(), stored.tta().threshold(), 1e-6);
        assertEquals(expectedTta.temperature(), stored.tta().temperature(), 1e-6);
        assertEquals(expectedPlain.threshold(), stored.threshold(), 1e-6);
        assertEquals(expectedPlain.temperature(), stored.temperature(), 1e-6);
        assertEquals(c.thresholdMethod(), stored.method());

        // metrics.json records both operating points, each with its validation metrics.
        JsonNode metrics = ConfigLoader.JSON.readTree(out.resolve("metrics.json").toFile());
        assertEquals(stored.threshold(), metrics.get("operating_point").get("threshold").asDouble(), 0);
        JsonNode op = metrics.get("operating_point_tta");
        assertEquals(stored.tta().threshold(), op.get("threshold").asDouble(), 0);
        assertEquals(stored.tta().temperature(), op.get("temperature").asDouble(), 0);
        assertEquals(6, op.get("views").asInt());
        // Sensitivity target 0.97: at the TTA threshold every positive is caught by the TTA probabilities (< 34 positives).
        assertEquals(1.0, op.get("sensitivity").asDouble(), 0);
        JsonNode provenance = ConfigLoader.JSON.readTree(out.resolve("provenance.json").toFile());
        assertTrue(provenance.has("ttaValidationSeconds"), provenance.toString());
        // On by default (ttaOperatingPoint: true): the pass ran, and its estimate is 6 x the longest validation pass.
        JsonNode record = provenance.get("ttaOperatingPoint");
        assertTrue(record.get("ran").asBoolean(), record.toString());
        assertEquals(provenance.get("ttaValidationSeconds").asDouble(), record.get("seconds").asDouble(), 0);
        double longest = TtaPassBudgetTest.stageRows(out).stream().mapToDouble(r -> r.get("validation_s")).max().orElseThrow();
        assertEquals(6 * longest, record.get("estimatedSeconds").asDouble(), 6 * 0.0006);
    }
}
