package org.xraydl.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.data.ClassLabels;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.report.Charts;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one positive-class rule ({@link ClassLabels}) as metrics, charts and training apply it. */
class PositiveClassTest {

    /** Labels where PNEUMONIA sorts first: the positive class is index 0, not the last label. */
    static Predictions pneumoniaFirst() {
        // truth 0 = PNEUMONIA, 1 = VIRAL; column 0 holds P(PNEUMONIA).
        int[] truth = {0, 0, 0, 1, 1};
        double[] pPneumonia = {0.9, 0.8, 0.3, 0.6, 0.2};
        double[][] probs = new double[truth.length][];
        for (int i = 0; i < truth.length; i++) {
            probs[i] = new double[]{pPneumonia[i], 1 - pPneumonia[i]};
        }
        return new Predictions(List.of("PNEUMONIA", "VIRAL"), List.of("a", "b", "c", "d", "e"), truth, probs);
    }

    @Test
    void metricsAreAboutPneumoniaWhereverItSorts() {
        Metrics m = MetricsCalculator.compute(pneumoniaFirst(), ClassLabels.POSITIVE);
        // By hand, argmax: PNEUMONIA images 0.9, 0.8 caught, 0.3 missed; VIRAL 0.6 a false alarm, 0.2 right.
        assertEquals("PNEUMONIA", m.positive());
        assertEquals(2.0 / 3, m.sensitivity(), 1e-12);
        assertEquals(1.0 / 2, m.specificity(), 1e-12);
        assertEquals(2.0 / 3, m.precision(), 1e-12);
        // 6 (pneumonia, viral) pairs ranked by P(PNEUMONIA): 0.3 < 0.6 is the one inversion.
        assertEquals(5.0 / 6, m.auc(), 1e-9);
        double[][] roc = MetricsCalculator.rocCurve(pneumoniaFirst(), ClassLabels.POSITIVE);
        assertEquals(1.0, roc[1][roc[1].length - 1], 1e-12);
    }

    @Test
    void predictionsWithoutPneumoniaAreRefusedNotScoredForTheLastLabel() {
        Predictions p = new Predictions(List.of("NORMAL", "VIRAL"), List.of("a", "b"), new int[]{0, 1},
                new double[][]{{0.7, 0.3}, {0.4, 0.6}});
        assertThrows(UserError.class, () -> MetricsCalculator.compute(p, ClassLabels.POSITIVE));
        assertThrows(UserError.class, () -> MetricsCalculator.rocCurve(p, ClassLabels.POSITIVE));
        assertThrows(UserError.class, () -> Charts.rocChart(p, ClassLabels.POSITIVE));
    }

    @Test
    void trainingRefusesTwoClassesWithoutPneumoniaBeforeMakingARunFolder(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 3, "NORMAL");
        Path viral = Files.createDirectories(data.resolve("VIRAL"));
        try (Stream<Path> s = Files.list(TestData.sample().resolve("train/PNEUMONIA"))) {
            for (Path f : s.sorted().limit(3).toList()) {
                Files.copy(f, viral.resolve(f.getFileName()));
            }
        }
        Path out = tmp.resolve("run");
        UserError e = assertThrows(UserError.class, () -> Trainer.train(
                TestData.tinyConfig(Map.of("data", data.toString(), "out", out.toString())), Trainer.Options.quiet()));
        assertTrue(e.getMessage().contains("[NORMAL, VIRAL]") && e.getMessage().contains(data.toString()), e.getMessage());
        assertFalse(Files.exists(out), "no run folder for a run that never started");
    }
}
