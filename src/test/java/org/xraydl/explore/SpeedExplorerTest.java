package org.xraydl.explore;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.XYChart;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SpeedExplorer on benchmark JSON in the benchmark goal's layout, and on run folders' recorded speed. */
class SpeedExplorerTest {
    static final String BENCHMARK = """
            {"created": "2026-01-01T00:00:00Z", "cores": 2,
             "matrix": {"models": ["densenet"], "sizes": [32, 64], "steps": ["forward", "full"]},
             "results": [
               {"model": "densenet", "size": 32, "batch": 8, "step": "forward", "img_per_s": 120.5, "ms_per_batch": 66.4, "settings": {"x": 1}},
               {"model": "densenet", "size": 32, "batch": 8, "step": "full", "img_per_s": 40.25, "ms_per_batch": 198.8},
               {"model": "densenet", "size": 64, "batch": 8, "step": "forward", "img_per_s": 31.0, "ms_per_batch": 258.1},
               {"model": "densenet", "size": 64, "batch": 8, "step": "full", "img_per_s": 0, "error": "out of memory"}
             ]}
            """;
    static final String WORKERS = """
            {"workers_benchmark": {"model": "densenet", "size": 32, "batch": 8, "max_workers": 3},
             "points": [
               {"workers": 1, "engine": "local", "seconds_per_epoch": 4.0, "img_per_s": 16.0, "speedup": 1.0},
               {"workers": 2, "engine": "parallel-wrapper(2)", "seconds_per_epoch": 3.2, "img_per_s": 20.0, "speedup": 1.25},
               {"workers": 3, "engine": "parallel-wrapper(3)", "seconds_per_epoch": 3.5, "img_per_s": 18.3, "speedup": 1.14}
             ]}
            """;

    @Test
    void benchmarkJsonBecomesATableAndAChart(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve(SpeedExplorer.BENCHMARK_JSON), BENCHMARK);
        SpeedExplorer s = SpeedExplorer.open(tmp, List.of());
        assertTrue(s.hasBenchmark());
        assertFalse(s.hasWorkers());
        assertEquals(4, s.benchmarkRows().size());
        Table t = s.benchmarkTable();
        assertEquals(List.of("model", "size", "batch", "step", "img_per_s", "ms_per_batch", "error"), t.header());
        assertEquals(List.of("120.50", "40.25", "31", "0"), t.column("img_per_s"));
        assertEquals("out of memory", t.get(3, "error"));

        CategoryChart chart = s.benchmarkChart();
        assertEquals(List.of("forward", "full"), List.copyOf(chart.getSeriesMap().keySet()));
        assertEquals(2, chart.getSeriesMap().get("forward").getXData().size(), "two model/size groups");
        assertEquals(List.of(120.5, 31.0), chart.getSeriesMap().get("forward").getYData());
        assertEquals(900, s.benchmarkImage().getWidth());
        assertTrue(s.status().contains("has no " + SpeedExplorer.WORKERS_JSON), s.status());
        assertThrows(org.xraydl.UserError.class, s::workersRows);
    }

    @Test
    void workersJsonBecomesTimeVsWorkersAndItsPngWins(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve(SpeedExplorer.WORKERS_JSON), WORKERS);
        SpeedExplorer s = SpeedExplorer.open(tmp, List.of());
        assertTrue(s.hasWorkers());
        Table t = s.workersTable();
        assertEquals(List.of("workers", "seconds_per_epoch", "img_per_s", "speedup", "engine"), t.header());
        assertEquals(3, t.size());
        XYChart chart = s.workersChart();
        assertArrayEquals(new double[]{1, 2, 3}, chart.getSeriesMap().get("seconds per epoch").getXData(), 1e-9);
        assertArrayEquals(new double[]{4.0, 3.2, 3.5}, chart.getSeriesMap().get("seconds per epoch").getYData(), 1e-9);
        assertEquals(3, chart.getSeriesMap().get("images / s").getYData().length);
        assertEquals(800, s.workersImage().getWidth(), "drawn: no workers.png yet");

        ImageIO.write(new BufferedImage(21, 13, BufferedImage.TYPE_INT_RGB), "png", tmp.resolve(SpeedExplorer.WORKERS_PNG).toFile());
        assertEquals(21, s.workersImage().getWidth(), "the benchmark's own workers.png");
        assertTrue(s.notes().contains("workers.png: the benchmark's own file"), s.notes().toString());
    }

    @Test
    void withoutBenchmarkOutputTheStatusSaysWhatToRun() {
        SpeedExplorer s = SpeedExplorer.open(null, List.of());
        assertFalse(s.hasBenchmark());
        assertFalse(s.hasWorkers());
        String status = s.status();
        assertTrue(status.contains("No benchmark output found"), status);
        assertTrue(status.contains("Run the benchmark goal first, e.g. `mvn -q compile exec:java@benchmark"), status);
        assertThrows(org.xraydl.UserError.class, s::benchmarkRows);
    }

    @Test
    void runsRecordTheirSpeed(@TempDir Path tmp) throws Exception {
        Path one = run(tmp.resolve("one"), 1, new double[]{10, 12}, new double[]{20, 18});
        Path two = run(tmp.resolve("two"), 2, new double[]{30, 8, 9}, new double[]{2, 25, 24});
        SpeedExplorer s = SpeedExplorer.open(null, List.of(one, two));
        List<SpeedExplorer.RunSpeed> speeds = s.runSpeeds();
        assertEquals(2, speeds.size());
        assertEquals(1, speeds.get(0).workers());
        assertEquals(2, speeds.get(1).workers());
        assertEquals(11.0, speeds.get(0).secondsPerEpoch(), 1e-9);
        assertEquals(19.0, speeds.get(0).imagesPerSecond(), 1e-9);
        assertEquals("parallel-wrapper(2)", speeds.get(1).engine());
        Table t = s.runSpeedTable();
        assertEquals(List.of("one", "two"), t.column("run"));
        assertEquals(List.of("32", "32"), t.column("size"));
        assertEquals(List.of("2", "3"), t.column("epochs"));
        assertEquals(9.0, speeds.get(1).secondsPerEpoch(), 1e-9, "median: the slow first epoch weighs little");
        CategoryChart chart = s.runSpeedChart();
        assertEquals(List.of("one (1 worker)", "two (2 workers)"), chart.getSeriesMap().get("images / s").getXData());
        assertEquals(List.of(19.0, 24.0), chart.getSeriesMap().get("images / s").getYData());
    }

    static Path run(Path dir, int workers, double[] seconds, double[] imgPerS) throws Exception {
        Files.createDirectories(dir);
        RunDirectory r = RunDirectory.existing(dir);
        r.writeConfig(TestData.tinyConfig(Map.of("workers", workers)));
        r.startHistory();
        for (int e = 0; e < seconds.length; e++) {
            r.appendHistory(new EpochRecord(e + 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, seconds[e], imgPerS[e]));
        }
        Files.writeString(dir.resolve(RunDirectory.PROVENANCE), ConfigLoader.JSON.writeValueAsString(
                Map.of("engine", workers == 1 ? "local" : "parallel-wrapper(" + workers + ")")));
        return dir;
    }
}
