package org.xraydl.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.xraydl.evaluate.Predictions;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.TestData.predictions;

class ReliabilityAndRocChartTest {
    @Test
    void reliabilityChartPlotsTheNonEmptyBinsAndNamesTheEce() {
        // Bins [0.1, 0.2): 0.15, 0.15 (one positive) -> (0.15, 0.5); [0.9, 1.0]: 0.95, 1.0 (two positives) -> (0.975, 1).
        // ECE = (2 x 0.35 + 2 x 0.025) / 4 = 0.1875.
        Predictions p = predictions(new int[]{1, 0, 1, 1}, new double[]{0.15, 0.15, 0.95, 1.0});
        XYChart c = Charts.reliabilityChart(p, "PNEUMONIA", 1.0);
        XYSeries model = c.getSeriesMap().get("Model (ECE = 0.188)");
        assertTrue(model != null, c.getSeriesMap().keySet().toString());
        assertArrayEquals(new double[]{0.15, 0.975}, model.getXData(), 1e-12);
        assertArrayEquals(new double[]{0.5, 1.0}, model.getYData(), 1e-12);
        assertEquals(2, c.getSeriesMap().size(), "no temperature series at T = 1");
        assertEquals(3, Charts.reliabilityChart(p, "PNEUMONIA", 2.0).getSeriesMap().size());
    }

    @Test
    void rocChartOfARunShowsTheAucOfMetricsJson(@TempDir Path dir) {
        // Scores with 7 decimals: a 6-decimal CSV would tie 0.5000001 and 0.5000004 (AUC 0.875 instead of 1).
        Predictions p = predictions(new int[]{0, 1, 0, 1}, new double[]{0.5000001, 0.5000004, 0.1, 0.9});
        RunDirectory d = RunDirectory.existing(dir);
        d.writePredictions(p);
        d.writeMetrics(org.xraydl.evaluate.MetricsCalculator.compute(p, "PNEUMONIA"), Map.of());
        assertEquals(1.0, RunDirectoryAuc.of(dir), 0);
        assertEquals(1.0, org.xraydl.evaluate.MetricsCalculator.compute(RunDirectory.readPredictions(dir.resolve(RunDirectory.PREDICTIONS)), "PNEUMONIA").auc(), 0,
                "val_predictions.csv keeps full precision");
        XYChart roc = Charts.rocChart(p, "PNEUMONIA", 1.0);
        assertTrue(roc.getSeriesMap().containsKey("Model (AUC = 1.000)"), roc.getSeriesMap().keySet().toString());
    }

    /** metrics.json's AUC. */
    static final class RunDirectoryAuc {
        static double of(Path dir) {
            try {
                return org.xraydl.config.ConfigLoader.JSON.readTree(dir.resolve(RunDirectory.METRICS).toFile()).get("auc").asDouble();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }
}
