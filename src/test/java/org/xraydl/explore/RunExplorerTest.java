package org.xraydl.explore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.report.Charts;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RunExplorer on a run folder written with the project's own RunDirectory, predictions on real sample files. */
class RunExplorerTest {

    /** 8 validation images, 4 per class; two mistakes: a NORMAL called PNEUMONIA at 0.9, a PNEUMONIA called NORMAL at 0.7. */
    static Predictions predictions() throws Exception {
        List<String> files = new ArrayList<>();
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            try (Stream<Path> s = Files.list(TestData.sample().resolve("test").resolve(cls))) {
                s.sorted().limit(4).forEach(p -> files.add(p.toString()));
            }
        }
        int[] truth = {0, 0, 0, 0, 1, 1, 1, 1};
        double[][] probs = {{0.8, 0.2}, {0.1, 0.9}, {0.6, 0.4}, {0.95, 0.05}, {0.3, 0.7}, {0.7, 0.3}, {0.2, 0.8}, {0.4, 0.6}};
        return new Predictions(List.of("NORMAL", "PNEUMONIA"), files, truth, probs);
    }

    static Path writeRun(Path dir) throws Exception {
        Files.createDirectories(dir);
        RunDirectory run = RunDirectory.existing(dir);
        run.writeConfig(TestData.tinyConfig(Map.of("epochs", 3)));
        run.writeLabels(List.of("NORMAL", "PNEUMONIA"));
        run.startHistory();
        run.appendHistory(new EpochRecord(1, 0.9, 0.8, 0.5, 0.6, 0.5, 0.5, 10, 20));
        run.appendHistory(new EpochRecord(2, 0.7, 0.6, 0.625, 0.7, 0.75, 0.5, 9, 22));
        run.appendHistory(new EpochRecord(3, 0.5, 0.55, 0.75, 0.81, 0.75, 0.75, 9.5, 21));
        Predictions p = predictions();
        run.writePredictions(p);
        run.writeMetrics(MetricsCalculator.compute(p, "PNEUMONIA"), null);
        return dir;
    }

    @Test
    void historyMetricsAndCurves(@TempDir Path tmp) throws Exception {
        RunExplorer r = RunExplorer.open(writeRun(tmp.resolve("run")));
        assertEquals(3, r.history().size());
        assertEquals(List.of("1", "2", "3"), r.historyTable().column("epoch"));
        assertEquals("0.7500", r.historyTable().get(2, "val accuracy"));

        // Charts' loss chart: accuracy in percent on its own axis.
        XYChart chart = r.lossAccuracyChart();
        assertEquals(Set.of("Training loss", "Validation loss", "Validation accuracy (%)"), chart.getSeriesMap().keySet());
        assertArrayEquals(new double[]{0.9, 0.7, 0.5}, chart.getSeriesMap().get("Training loss").getYData(), 1e-9);
        assertArrayEquals(new double[]{50, 62.5, 75}, chart.getSeriesMap().get("Validation accuracy (%)").getYData(), 1e-9);

        // By hand: predicted N,P,N,N | P,N,P,P -> 3 of 4 right in each class.
        assertEquals(List.of("n", "accuracy", "sensitivity", "specificity", "precision", "f1", "auc"),
                r.metricsTable().column("metric").subList(0, 7));
        assertEquals(List.of("8", "0.7500", "0.7500", "0.7500", "0.7500", "0.7500", "0.6875"),
                r.metricsTable().column("value").subList(0, 7));
        assertEquals(List.of("NORMAL", "PNEUMONIA"), r.confusion().labels());
        assertArrayEquals(new int[][]{{3, 1}, {1, 3}}, r.confusion().counts());
        assertEquals("PNEUMONIA", r.positive());
        assertEquals("densenet", r.config().get("model"));
        assertTrue(r.summary().column("key").contains("imageSize"));

        // AUC by hand: P(PNEUMONIA) of the positives 0.7, 0.3, 0.8, 0.6 against the negatives 0.2, 0.9, 0.4, 0.05:
        // 0.7, 0.8 and 0.6 each beat 3 negatives, 0.3 beats 2: 11 / 16 = 0.6875.
        XYChart roc = r.rocChart();
        XYSeries model = roc.getSeriesMap().get("Model (AUC = 0.688)");
        assertTrue(model != null, roc.getSeriesMap().keySet().toString());
        // The curve's corners, thresholds from the top: 0.9 (N), 0.8 0.7 0.6 (P), 0.4 (N), 0.3 (P), 0.2 0.05 (N).
        Set<String> corners = new TreeSet<>();
        for (int i = 0; i < model.getXData().length; i++) {
            corners.add(model.getXData()[i] + "," + model.getYData()[i]);
        }
        assertTrue(corners.containsAll(Set.of("0.0,0.0", "0.25,0.0", "0.25,0.75", "0.5,0.75", "0.5,1.0", "1.0,1.0")), corners.toString());
        for (int i = 0; i < model.getXData().length; i++) {
            double x = model.getXData()[i];
            double y = model.getYData()[i];
            assertTrue(x == 0 && y == 0 || x == 0.25 && y <= 0.75 || x > 0.25 && x < 0.5 && y == 0.75 || x == 0.5 && y >= 0.75
                    || x > 0.5 && y == 1, "point off the hand-drawn curve: " + x + "," + y);
        }
        HeatMapChart confusion = r.confusionChart();
        assertTrue(confusion.getTitle().contains("n = 8"), confusion.getTitle());
    }

    @Test
    void misclassifiedMostConfidentFirst(@TempDir Path tmp) throws Exception {
        RunExplorer r = RunExplorer.open(writeRun(tmp.resolve("run")));
        List<RunExplorer.Misclassified> wrong = r.misclassified();
        assertEquals(2, wrong.size());
        assertEquals("NORMAL", wrong.get(0).trueLabel());
        assertEquals("PNEUMONIA", wrong.get(0).predicted());
        assertEquals(0.9, wrong.get(0).confidence(), 1e-6);
        assertEquals("PNEUMONIA", wrong.get(1).trueLabel());
        assertEquals(0.7, wrong.get(1).confidence(), 1e-6);
        assertEquals(Path.of(predictions().files().get(1)), wrong.get(0).file());
        assertEquals(List.of("0.900", "0.700"), r.misclassifiedTable(10).column("confidence"));
        assertEquals(1, r.misclassifiedTable(1).size());

        int tile = 80;
        BufferedImage grid = r.misclassifiedGrid(10, 4, tile);
        assertEquals(Images.GAP + tile + 3 * Images.LINE_HEIGHT + Images.GAP + Images.GAP, grid.getHeight());
        assertEquals(Images.GAP + 2 * (tile + Images.GAP), grid.getWidth());
    }

    @Test
    void runPngsAreUsedWhenCurrentAndDrawnOtherwise(@TempDir Path tmp) throws Exception {
        Path dir = writeRun(tmp.resolve("run"));
        RunExplorer r = RunExplorer.open(dir);
        // No PNGs in the run folder: Charts draws them at its sizes.
        BufferedImage drawn = r.roc();
        assertEquals(Charts.WIDTH, drawn.getWidth());
        assertEquals(Charts.HEIGHT, drawn.getHeight());
        assertEquals(Charts.WIDTH, r.lossAccuracy().getWidth());
        assertEquals(Charts.HEIGHT, r.confusionMatrix().getHeight());
        assertEquals(List.of("roc.png: drawn from val_predictions.csv", "loss_accuracy.png: drawn from history.csv",
                "confusion_matrix.png: drawn from metrics.json"), r.notes());

        Path png = dir.resolve(Charts.ROC);
        ImageIO.write(new BufferedImage(10, 12, BufferedImage.TYPE_INT_RGB), "png", png.toFile());
        Files.setLastModifiedTime(png, FileTime.fromMillis(Files.getLastModifiedTime(dir.resolve(RunDirectory.PREDICTIONS)).toMillis() + 1000));
        assertEquals(10, r.roc().getWidth(), "the run's own roc.png");
        assertTrue(r.notes().contains("roc.png: the run's own file"), r.notes().toString());

        Files.setLastModifiedTime(png, FileTime.fromMillis(Files.getLastModifiedTime(dir.resolve(RunDirectory.PREDICTIONS)).toMillis() - 60_000));
        assertEquals(Charts.WIDTH, r.roc().getWidth(), "a roc.png older than the predictions is not shown");
    }

    @Test
    void predictionsCsvRoundTripsWithCommasInNames(@TempDir Path tmp) throws Exception {
        Predictions p = new Predictions(List.of("NORMAL", "PNEUMONIA"), List.of("/a/b,c.jpeg", "/x/\"y\".png"),
                new int[]{0, 1}, new double[][]{{0.25, 0.75}, {0.5, 0.5}});
        Path csv = Files.writeString(tmp.resolve("p.csv"), RunDirectory.predictionsCsv(p));
        Predictions back = RunDirectory.readPredictions(csv);
        assertEquals(p.files(), back.files());
        assertEquals(p.labels(), back.labels());
        assertArrayEquals(p.trueClass(), back.trueClass());
        assertArrayEquals(p.probabilities()[0], back.probabilities()[0], 1e-6);
    }

    @Test
    void aRunFolderIsFoundAndConfigReadable(@TempDir Path tmp) throws Exception {
        Path older = writeRun(tmp.resolve("a"));
        Path newer = writeRun(tmp.resolve("b"));
        Files.setLastModifiedTime(older.resolve(RunDirectory.HISTORY), FileTime.fromMillis(1_000_000));
        Files.createDirectories(tmp.resolve("not-a-run"));
        assertEquals(List.of(older, newer), Explore.runDirs(tmp));
        assertEquals(3, ConfigLoader.load(newer.resolve(RunDirectory.CONFIG), Map.of()).epochs());
    }
}
