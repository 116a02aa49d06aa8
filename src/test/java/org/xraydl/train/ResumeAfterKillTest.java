package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A training killed between its end-of-epoch writes (simulated by a hook that throws after last.zip
 * is saved and before the history row is appended) is resumed from the right weights, trains the
 * right number of epochs, and ends with exactly one history row per epoch.
 */
class ResumeAfterKillTest {

    /** Tiny net on 32 px, two batches an epoch: a few seconds per epoch. */
    private static RunConfig config(Path run, int epochs) {
        return TestData.tinyConfig(Map.of("data", TestData.sample().toString(), "out", run.toString(), "epochs", epochs,
                "maxBatchesPerEpoch", 2, "maxImagesPerClass", 40, "seed", 11));
    }

    /** Records the parameters the network has when each training epoch starts. */
    static final class EpochStarts extends BaseTrainingListener {
        final List<INDArray> params = new ArrayList<>();

        @Override
        public void onEpochStart(Model model) {
            params.add(model.params().dup());
        }
    }

    @AfterEach
    void removeHook() {
        Trainer.afterLastZip = r -> { };
    }

    @Test
    void killAfterLastZipBeforeBestZipAndHistoryRowIsRepairedOnResume(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        EpochRecord[] killedAt = new EpochRecord[1];
        // Epoch 1 is always the best so far: the kill leaves last.zip (epoch 1), no best.zip, no history row.
        Trainer.afterLastZip = r -> {
            killedAt[0] = r;
            throw new IllegalStateException("simulated kill after last.zip of epoch " + r.epoch());
        };
        assertThrows(IllegalStateException.class, () -> Trainer.train(config(run, 3), Trainer.Options.quiet()));
        Trainer.afterLastZip = r -> { };
        assertEquals(1, killedAt[0].epoch());
        assertEquals(1, Files.readAllLines(run.resolve(RunDirectory.HISTORY)).size(), "header only: the kill came before row 1");
        assertFalse(Files.exists(run.resolve(RunDirectory.BEST)));
        // What a kill -9 in the middle of a save leaves behind (names as AtomicFiles and the zip file system make them).
        Files.writeString(run.resolve(".last.zip4711.tmp"), "half a zip");
        Files.writeString(run.resolve("zipfstmp815.tmp"), "half an entry");

        ModelBundle lastZip = ModelBundle.load(run.resolve(RunDirectory.LAST));
        assertEquals(1, ((Number) lastZip.provenance().get("epochsCompleted")).intValue());
        INDArray epoch1Weights = lastZip.network().params().dup();

        // Opening the run repairs it: best.zip is last.zip's network again, the history row is back.
        String repairOut = captureStdout(() -> {
            Resumption r = Resumption.open(run.resolve(RunDirectory.LAST), config(run, 3), System.out);
            r.dir().close();
            return r;
        });
        assertEquals(epoch1Weights, ModelBundle.load(run.resolve(RunDirectory.BEST)).network().params());
        assertEquals(List.of(EpochRecord.HEADER, killedAt[0].csv()), Files.readAllLines(run.resolve(RunDirectory.HISTORY)),
                "epoch 1's row is the one the killed run computed");
        assertEquals(1, repairOut.lines().filter(l -> l.startsWith("history.csv lacked epoch 1, which last.zip holds")).count(), repairOut);
        assertEquals(1, repairOut.lines().filter(l -> l.equals("removed 2 temp files left by an interrupted run: .last.zip4711.tmp, zipfstmp815.tmp")).count(), repairOut);
        assertFalse(Files.exists(run.resolve(".last.zip4711.tmp")) || Files.exists(run.resolve("zipfstmp815.tmp")));

        EpochStarts starts = new EpochStarts();
        Trainer.train(config(run, 3), new Trainer.Options(false, List.of(starts), List.of(), run.resolve(RunDirectory.LAST)));

        assertEquals(2, starts.params.size(), "epochs 2 and 3 are left to train");
        assertEquals(epoch1Weights, starts.params.get(0), "epoch 2 starts from last.zip's epoch-1 weights");
        List<String> history = Files.readAllLines(run.resolve(RunDirectory.HISTORY));
        assertEquals(4, history.size(), "header + one row per epoch: " + history);
        for (int e = 1; e <= 3; e++) {
            assertEquals(String.valueOf(e), history.get(e).split(",")[0], history.toString());
        }
        assertEquals(killedAt[0].csv(), history.get(1));

        // best.zip holds the best epoch of the history (highest AUC, then lowest loss).
        int best = 0;
        double bestAuc = Double.NEGATIVE_INFINITY;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (String row : history.subList(1, history.size())) {
            String[] f = row.split(",");
            double auc = Double.parseDouble(f[4]);
            double loss = Double.parseDouble(f[2]);
            if (auc > bestAuc || (auc == bestAuc && loss < bestLoss)) {
                best = Integer.parseInt(f[0]);
                bestAuc = auc;
                bestLoss = loss;
            }
        }
        ModelBundle bestZip = ModelBundle.load(run.resolve(RunDirectory.BEST));
        assertEquals(best, ((Number) bestZip.provenance().get("bestEpoch")).intValue());
        assertEquals(best, ((Number) bestZip.provenance().get("epochsCompleted")).intValue());
    }

    @Test
    void historyAheadOfLastZipIsCutBackAndTrainingContinuesFromLastZip(@TempDir Path tmp) throws Exception {
        // The state the old write order left (history appended, then killed before last.zip): 2 rows, a 1-epoch zip.
        Path run = tmp.resolve("run");
        Trainer.train(config(run, 1), Trainer.Options.quiet());
        String row1 = Files.readAllLines(run.resolve(RunDirectory.HISTORY)).get(1);
        String phantom = "2" + row1.substring(1);
        Files.writeString(run.resolve(RunDirectory.HISTORY), phantom + "\n", StandardOpenOption.APPEND);
        INDArray epoch1Weights = ModelBundle.load(run.resolve(RunDirectory.LAST)).network().params().dup();

        EpochStarts starts = new EpochStarts();
        String out = captureStdout(() -> Trainer.train(config(run, 2),
                new Trainer.Options(false, List.of(starts), List.of(), run.resolve(RunDirectory.LAST))));

        assertEquals(1, out.lines().filter(l -> l.startsWith("history.csv listed 2 epochs, last.zip holds 1: dropped epoch 2")).count(), out);
        assertEquals(1, starts.params.size(), "epoch 2 is trained again");
        assertEquals(epoch1Weights, starts.params.get(0), "from last.zip's epoch-1 weights");
        List<String> history = Files.readAllLines(run.resolve(RunDirectory.HISTORY));
        assertEquals(3, history.size(), history.toString());
        assertEquals(row1, history.get(1));
        assertTrue(history.get(2).startsWith("2,"), history.toString());
        assertNotEquals(phantom, history.get(2), "the phantom row was replaced by the real epoch 2");
    }

    private static String captureStdout(Supplier<?> body) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            body.get();
        } finally {
            System.setOut(old);
            old.print(buf.toString(StandardCharsets.UTF_8));
        }
        return buf.toString(StandardCharsets.UTF_8);
    }
}
