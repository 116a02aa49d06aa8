package org.xraydl.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.PrefetchingIterator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A tiny real training run records where each epoch's time went, and leaves no loader thread behind. */
class StageTimesTest {
    @TempDir
    Path tmp;

    @Test
    void stageTimesPerEpochAreNonNegativeAndFitInTheEpoch() throws IOException {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 8, "NORMAL", "PNEUMONIA");
        RunConfig c = TestData.tinyConfig(Map.of("data", data.toString(), "out", tmp.resolve("run").toString(),
                "epochs", 2, "batchSize", 4, "loaderThreads", 1, "valFraction", 0.3));
        Trainer.Result r = Trainer.train(c, Trainer.Options.quiet());

        List<String> lines = Files.readAllLines(r.runDirectory().resolve(StageTimes.CSV));
        assertEquals(StageTimes.CSV_HEADER, lines.get(0));
        assertEquals(3, lines.size(), "header and one row per epoch");
        for (int e = 1; e <= 2; e++) {
            Map<String, Double> row = StageTimes.parseRow(lines.get(0), lines.get(e));
            assertEquals(e, row.get("epoch").intValue());
            double sum = 0;
            for (StageTimes.Stage s : StageTimes.Stage.values()) {
                double v = row.get(s.id() + "_s");
                assertTrue(v >= 0, s.id() + " = " + v);
                sum += v;
            }
            // 6 stages rounded to 1 ms each in the CSV
            assertTrue(sum <= row.get("epoch_wall_s") + 0.003, "stages " + sum + " s > epoch " + row.get("epoch_wall_s") + " s");
            assertTrue(row.get("data_wait_s") > 0, "decoding was never waited for?");
            assertTrue(row.get("fit_s") > 0);
            assertTrue(row.get("validation_s") > 0);
            assertTrue(row.get("checkpoint_s") > 0, "last.zip is written every epoch");
        }
        assertEquals(0, Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(PrefetchingIterator.THREAD_PREFIX)).count());
    }

    @Test
    void timesAddUpAndFitIsTheRestOfTheFitCall() {
        StageTimes t = new StageTimes();
        t.add(StageTimes.Stage.DATA_WAIT, 2_000_000_000L);
        t.add(StageTimes.Stage.LISTENERS, 500_000_000L);
        t.fitCall(10_000_000_000L);
        assertEquals(7.5, t.seconds(StageTimes.Stage.FIT), 1e-12);
        assertEquals("1,2.000,7.500,0.500,0.000,0.000,0.000,12.000", t.csvRow(1, 12.0));
        t.reset();
        assertEquals(0.0, t.seconds(StageTimes.Stage.DATA_WAIT));
    }
}
