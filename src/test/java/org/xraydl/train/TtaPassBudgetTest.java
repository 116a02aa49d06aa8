package org.xraydl.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The end-of-run TTA operating-point pass (6 validation passes) under the time budget and the
 * ttaOperatingPoint key. The estimate is checked against the validation times in stage_times.csv.
 */
class TtaPassBudgetTest {
    /** The views of evaluate --tta (README). */
    static final int VIEWS = 6;

    @Test
    void theBudgetArithmetic() {
        // 6 min used, epochs of 3 min, budget 10: another epoch fits (9 <= 10) unless 1.5 min are kept for the pass.
        assertTrue(TimeBudget.anotherEpochFits(10, 6, 3, 0));
        assertTrue(TimeBudget.anotherEpochFits(10, 6, 3, 1.0));
        assertFalse(TimeBudget.anotherEpochFits(10, 6, 3, 1.5));
        assertTrue(TimeBudget.ttaPassFits(30, 29.5));
        assertFalse(TimeBudget.ttaPassFits(30, 30.5));
        assertFalse(TimeBudget.ttaPassFits(-2, 0.1));
    }

    @Test
    void aBudgetThatCannotFitThePassSkipsItRecordsItAndWarns(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 12, "NORMAL", "PNEUMONIA");
        Path out = tmp.resolve("run");
        double budgetMin = 0.0001; // 6 ms: the first epoch alone overruns it
        RunConfig c = TestData.tinyConfig(Map.of("data", data.toString(), "out", out.toString(), "batchSize", 4, "valFraction", 0.3,
                "epochs", 3, "timeBudgetMinutes", budgetMin));
        String err = stderrOf(() -> Trainer.train(c, Trainer.Options.quiet()));

        List<String> warnings = err.lines().filter(l -> l.startsWith("warning: TTA operating point skipped")).toList();
        assertEquals(1, warnings.size(), err);
        assertTrue(warnings.get(0).contains("--threshold VALUE") && warnings.get(0).contains("time budget"), warnings.get(0));

        DecisionRule stored = ModelBundle.load(out.resolve(RunDirectory.BEST)).decision();
        assertNotNull(stored, "the plain rule is still stored");
        assertNull(stored.tta(), "no TTA rule when the pass was skipped");

        List<Map<String, Double>> stages = stageRows(out);
        assertEquals(1, stages.size(), "stopped by the budget after epoch 1");
        double validation = stages.get(0).get("validation_s");
        JsonNode p = ConfigLoader.JSON.readTree(out.resolve(RunDirectory.PROVENANCE).toFile());
        assertTrue(p.get("stoppedByTimeBudget").asBoolean());
        assertEquals(VIEWS * validation, p.get("timeBudgetReservedForTtaSeconds").asDouble(), VIEWS * 0.0006);
        JsonNode tta = p.get("ttaOperatingPoint");
        assertFalse(tta.get("ran").asBoolean(), tta.toString());
        assertTrue(tta.get("skipped").asText().startsWith("time budget"), tta.toString());
        assertEquals(VIEWS, tta.get("views").asInt());
        assertEquals(VIEWS * validation, tta.get("estimatedSeconds").asDouble(), VIEWS * 0.0006);
        // What was left: the budget minus at least the epoch's own wall time.
        assertTrue(tta.get("budgetLeftSeconds").asDouble() <= budgetMin * 60 - stages.get(0).get("epoch_wall_s") + 0.001, tta.toString());
        assertFalse(p.has("ttaValidationSeconds"), "the pass did not run: " + p);

        JsonNode metrics = ConfigLoader.JSON.readTree(out.resolve("metrics.json").toFile());
        assertFalse(metrics.has("operating_point_tta"), metrics.toString());
        assertEquals(tta.get("skipped").asText(), metrics.get("operating_point_tta_skipped").asText());
        assertTrue(metrics.has("operating_point"));
    }

    @Test
    void ttaOperatingPointFalseSkipsThePassWithoutWarning(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 12, "NORMAL", "PNEUMONIA");
        Path out = tmp.resolve("run");
        RunConfig c = TestData.tinyConfig(Map.of("data", data.toString(), "out", out.toString(), "batchSize", 4, "valFraction", 0.3,
                "ttaOperatingPoint", false, "timeBudgetMinutes", 60));
        String err = stderrOf(() -> Trainer.train(c, Trainer.Options.quiet()));
        assertFalse(err.contains("warning: TTA"), err);

        assertNull(ModelBundle.load(out.resolve(RunDirectory.BEST)).decision().tta());
        JsonNode tta = ConfigLoader.JSON.readTree(out.resolve(RunDirectory.PROVENANCE).toFile()).get("ttaOperatingPoint");
        assertFalse(tta.get("ran").asBoolean());
        assertEquals("ttaOperatingPoint: false", tta.get("skipped").asText());
        assertFalse(tta.has("estimatedSeconds"), tta.toString());
    }

    /** stage_times.csv rows as stage → seconds. */
    static List<Map<String, Double>> stageRows(Path run) throws Exception {
        List<String> lines = Files.readAllLines(run.resolve(StageTimes.CSV));
        return lines.subList(1, lines.size()).stream().map(r -> StageTimes.parseRow(lines.get(0), r)).toList();
    }

    private static String stderrOf(Runnable r) {
        PrintStream old = System.err;
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        System.setErr(new PrintStream(b, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setErr(old);
        }
        String s = b.toString(StandardCharsets.UTF_8);
        old.print(s);
        return s;
    }
}
