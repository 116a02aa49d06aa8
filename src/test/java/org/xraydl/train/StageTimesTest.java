package org.xraydl.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LoaderThread;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

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
        // the run's one loader thread, seen between epochs (after each epoch's record is written)
        List<Set<String>> loaderThreadsAfterEpoch = new ArrayList<>();
        Trainer.Options o = new Trainer.Options(false, List.of(), List.of(rec -> loaderThreadsAfterEpoch.add(liveLoaderThreads())), null);
        Trainer.Result r = Trainer.train(c, o);
        assertEquals(2, loaderThreadsAfterEpoch.size());
        assertEquals(1, loaderThreadsAfterEpoch.get(0).size(), "loader threads after epoch 1: " + loaderThreadsAfterEpoch.get(0));
        assertEquals(loaderThreadsAfterEpoch.get(0), loaderThreadsAfterEpoch.get(1), "epoch 2 read on another thread");

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
        assertEquals(Set.of(), liveLoaderThreads(), "the run did not close its loader thread");
    }

    private static Set<String> liveLoaderThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(LoaderThread.THREAD_PREFIX))
                .map(Thread::getName).collect(Collectors.toSet());
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
