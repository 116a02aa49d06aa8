package org.xraydl.report;

import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.xraydl.UserError;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChartsTest {

    static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");

    /** 4 NORMAL, 4 PNEUMONIA; one of each misclassified; AUC known by hand. */
    static Predictions predictions() {
        int[] truth = {0, 0, 0, 0, 1, 1, 1, 1};
        double[] pPneumonia = {0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.9, 0.95};
        double[][] probs = new double[truth.length][];
        List<String> files = new ArrayList<>();
        for (int i = 0; i < truth.length; i++) {
            probs[i] = new double[]{1 - pPneumonia[i], pPneumonia[i]};
            files.add("data/x/" + (truth[i] == 0 ? "NORMAL" : "PNEUMONIA") + "/im,age" + i + ".jpeg");
        }
        return new Predictions(LABELS, files, truth, probs);
    }

    static List<EpochRecord> history() {
        return List.of(
                new EpochRecord(1, 0.69, 0.65, 0.55, 0.60, 0.5, 0.6, 10, 5),
                new EpochRecord(2, 0.50, 0.55, 0.70, 0.75, 0.7, 0.7, 10, 5),
                new EpochRecord(3, 0.40, 0.52, 0.75, 0.81, 0.8, 0.7, 10, 5));
    }

    /** Writes a run folder the way Trainer does, with the RunDirectory writers. */
    static Path runFolder(Path dir) {
        RunDirectory d = RunDirectory.existing(dir);
        d.startHistory();
        history().forEach(d::appendHistory);
        Predictions p = predictions();
        d.writePredictions(p);
        d.writeMetrics(MetricsCalculator.compute(p, "PNEUMONIA"), Map.of("split", "validation"));
        return dir;
    }

    @Test
    void writeAllDrawsTheThreeChartsFromAFinishedRunsFiles(@TempDir Path dir) throws IOException {
        runFolder(dir);
        List<Path> written = Charts.writeAll(dir);
        assertEquals(List.of(dir.resolve("loss_accuracy.png"), dir.resolve("roc.png"), dir.resolve("confusion_matrix.png"),
                dir.resolve("reliability.png")), written);
        for (Path png : written) {
            BufferedImage img = ImageIO.read(png.toFile());
            assertTrue(img != null, png + " is not a readable PNG");
            assertTrue(img.getWidth() >= 700 && img.getHeight() >= 500, png + " is " + img.getWidth() + "x" + img.getHeight());
            assertTrue(distinctColours(img) > 20, png + " looks blank");
        }
    }

    @Test
    void confusionComesFromMetricsJsonElseFromThePredictions() throws IOException {
        Charts.Confusion c = Charts.confusionOf(org.xraydl.config.ConfigLoader.JSON.readTree(
                "{\"labels\": [\"NORMAL\", \"PNEUMONIA\"], \"confusion\": [[5, 2], [1, 7]]}"));
        assertEquals(LABELS, c.labels());
        assertArrayEquals(new int[][]{{5, 2}, {1, 7}}, c.counts());
        assertEquals(null, Charts.confusionOf(org.xraydl.config.ConfigLoader.JSON.readTree("{\"confusion\": [[5, 2], [1, 7]]}")),
                "no labels: no confusion matrix from metrics.json");
        assertEquals(null, Charts.confusionOf((com.fasterxml.jackson.databind.JsonNode) null));
        // predictions(): NORMAL 0.7 called PNEUMONIA, PNEUMONIA 0.4 called NORMAL.
        Charts.Confusion p = Charts.confusionOf(predictions());
        assertEquals(LABELS, p.labels());
        assertArrayEquals(new int[][]{{3, 1}, {1, 3}}, p.counts());
    }

    @Test
    void lossAccuracyChartHasBothLossesAndAccuracyInPercentOnItsOwnAxis() {
        XYChart c = Charts.lossAccuracyChart(history());
        assertEquals(Set.of("Training loss", "Validation loss", "Validation accuracy (%)"), c.getSeriesMap().keySet());
        XYSeries acc = c.getSeriesMap().get("Validation accuracy (%)");
        assertArrayEquals(new double[]{55, 70, 75}, acc.getYData(), 1e-9);
        assertEquals(1, acc.getYAxisGroup());
        assertArrayEquals(new double[]{0.69, 0.50, 0.40}, c.getSeriesMap().get("Training loss").getYData(), 1e-9);
        assertArrayEquals(new double[]{1, 2, 3}, c.getSeriesMap().get("Validation loss").getXData(), 1e-9);
        assertEquals("Epoch", c.getXAxisTitle());
        assertTrue(c.getYAxisGroupTitle(0).startsWith("Loss"));
        assertTrue(c.getYAxisGroupTitle(1).contains("%"));
        assertFalse(c.getTitle().isBlank());
    }

    @Test
    void rocChartCarriesTheAucOfThePredictions() {
        // Pairs (pos > neg): 0.4 beats 0.1,0.2,0.3 (3 of 4), the others beat all 4: 15/16.
        XYChart c = Charts.rocChart(predictions(), "PNEUMONIA");
        assertTrue(c.getSeriesMap().containsKey("Model (AUC = 0.938)"), c.getSeriesMap().keySet().toString());
        XYSeries model = c.getSeriesMap().get("Model (AUC = 0.938)");
        double[] x = model.getXData();
        double[] y = model.getYData();
        for (int i = 0; i < x.length; i++) {
            assertTrue(x[i] >= 0 && x[i] <= 1 && y[i] >= 0 && y[i] <= 1, "point " + i + " outside the unit square");
        }
        assertTrue(c.getXAxisTitle().startsWith("False positive rate"));
        assertTrue(c.getYAxisTitle().startsWith("True positive rate"));
    }

    @Test
    void confusionChartShowsTheMetricsCountsWithTrueClassesTopDown() {
        Metrics m = MetricsCalculator.compute(predictions(), "PNEUMONIA");
        HeatMapChart c = Charts.confusionChart(m.labels(), m.confusion());
        var series = c.getHeatMapSeries();
        // NORMAL row on top (y index 1), PNEUMONIA row at the bottom (y index 0).
        Set<String> cells = new HashSet<>();
        for (Number[] cell : series.getHeatData()) {
            cells.add(cell[0] + "," + cell[1] + "=" + cell[2]);
        }
        assertEquals(Set.of("0,1=3", "1,1=1", "0,0=1", "1,0=3"), cells);
        assertTrue(c.getXAxisTitle().startsWith("Predicted class"), c.getXAxisTitle());
        assertEquals("True class", c.getYAxisTitle());
        assertTrue(c.getTitle().contains("n = 8"));
    }

    @Test
    void chartsAreRedrawnFromPredictionsAloneWhenMetricsJsonIsMissing(@TempDir Path dir) throws IOException {
        runFolder(dir);
        Files.delete(dir.resolve(RunDirectory.METRICS));
        Files.delete(dir.resolve(RunDirectory.HISTORY));
        assertEquals(List.of(dir.resolve("roc.png"), dir.resolve("confusion_matrix.png"), dir.resolve("reliability.png")), Charts.writeAll(dir));
        assertFalse(Files.exists(dir.resolve("loss_accuracy.png")));
    }

    @Test
    void readPredictionsRoundTripsRunDirectoryCsvIncludingQuotedFileNames(@TempDir Path dir) {
        runFolder(dir);
        Predictions back = RunDirectory.readPredictions(dir.resolve(RunDirectory.PREDICTIONS));
        Predictions orig = predictions();
        assertEquals(orig.labels(), back.labels());
        assertEquals(orig.files(), back.files());
        assertArrayEquals(orig.trueClass(), back.trueClass());
        for (int i = 0; i < orig.size(); i++) {
            assertArrayEquals(orig.probabilities()[i], back.probabilities()[i], 1e-6);
        }
    }

    @Test
    void aFolderWithoutRunFilesIsOneClearError(@TempDir Path dir) {
        UserError e = assertThrows(UserError.class, () -> Charts.writeAll(dir));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("history.csv"), e.getMessage());
        UserError missing = assertThrows(UserError.class, () -> Charts.writeAll(dir.resolve("nope")));
        assertTrue(missing.getMessage().contains("nope"), missing.getMessage());
    }

    @Test
    void singleEpochAndNaNValuesStillDraw(@TempDir Path dir) throws IOException {
        Path png = Charts.write(Charts.lossAccuracyChart(List.of(new EpochRecord(1, Double.NaN, 0.7, 0.5, Double.NaN, 0, 0, 1, 1))),
                dir.resolve("one.png"));
        assertTrue(ImageIO.read(png.toFile()) != null);
    }

    @Test
    void shortAndLongHistoriesDraw(@TempDir Path out) throws IOException {
        for (int n : new int[]{1, 30}) {
            List<EpochRecord> h = new ArrayList<>();
            for (int e = 1; e <= n; e++) {
                h.add(new EpochRecord(e, 0.7 / e, 0.6 / Math.sqrt(e), 0.5 + 0.4 * e / n, 0.8, 0.7, 0.7, 1, 1));
            }
            Path png = Charts.write(Charts.lossAccuracyChart(h), out.resolve("loss_" + n + "_epochs.png"));
            assertTrue(distinctColours(ImageIO.read(png.toFile())) > 20, png.toString());
        }
    }

    static int distinctColours(BufferedImage img) {
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3) {
            for (int x = 0; x < img.getWidth(); x += 3) {
                colours.add(img.getRGB(x, y));
            }
        }
        return colours.size();
    }
}
