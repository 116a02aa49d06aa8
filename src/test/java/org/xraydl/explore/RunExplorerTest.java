package org.xraydl.explore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
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

        XYChart chart = r.lossAccuracyChart();
        assertEquals(List.of("train loss", "validation loss", "validation accuracy", "validation AUC"), List.copyOf(chart.getSeriesMap().keySet()));
        chart.getSeriesMap().values().forEach(s -> assertEquals(3, s.getXData().length, s.getName()));
        assertArrayEquals(new double[]{0.9, 0.7, 0.5}, chart.getSeriesMap().get("train loss").getYData(), 1e-9);

        Metrics m = MetricsCalculator.compute(predictions(), "PNEUMONIA");
        assertEquals(Table.num(m.accuracy(), 4), r.metricsTable().get(1, "value"));
        assertArrayEquals(new int[][]{{3, 1}, {1, 3}}, r.confusion());
        assertArrayEquals(m.confusion(), r.confusion());
        assertEquals("PNEUMONIA", r.positive());
        assertEquals("densenet", r.config().get("model"));
        assertTrue(r.summary().column("key").contains("imageSize"));

        XYChart roc = r.rocChart();
        double[][] curve = MetricsCalculator.rocCurve(predictions(), "PNEUMONIA");
        assertEquals(curve[0].length, roc.getSeriesMap().get("ROC (n = 8)").getXData().length);
        assertTrue(roc.getTitle().contains("AUC = " + Table.num(m.auc(), 3)), roc.getTitle());
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
        BufferedImage drawn = r.roc();
        assertEquals(600, drawn.getWidth());
        assertEquals(560, drawn.getHeight());
        assertEquals(900, r.lossAccuracy().getWidth());
        assertTrue(r.confusionMatrix().getWidth() > 300);

        Path png = dir.resolve(RunExplorer.ROC_PNG);
        ImageIO.write(new BufferedImage(10, 12, BufferedImage.TYPE_INT_RGB), "png", png.toFile());
        Files.setLastModifiedTime(png, FileTime.fromMillis(Files.getLastModifiedTime(dir.resolve(RunDirectory.PREDICTIONS)).toMillis() + 1000));
        assertEquals(10, r.roc().getWidth(), "the run's own roc.png");
        assertTrue(r.notes().contains("roc.png: the run's own file"), r.notes().toString());

        Files.setLastModifiedTime(png, FileTime.fromMillis(Files.getLastModifiedTime(dir.resolve(RunDirectory.PREDICTIONS)).toMillis() - 60_000));
        assertEquals(600, r.roc().getWidth(), "a roc.png older than the predictions is not shown");
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
