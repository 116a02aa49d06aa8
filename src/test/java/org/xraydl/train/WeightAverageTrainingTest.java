package org.xraydl.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.cli.CliRunner;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.io.ModelZip;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * emaDecay in a real (tiny) training: the average follows every update as computed here from the recorded weights,
 * validation and best.zip use it, last.zip keeps the raw weights and the average, --resume continues it as an
 * uninterrupted run does, a kill before best.zip is repaired with it, and the engines that cannot feed it are refused.
 */
class WeightAverageTrainingTest {
    private static final double DECAY = 0.9;

    /** Tiny net on 32 px, two batches an epoch, no dropout (nothing random differs between a run and its resume). */
    private static RunConfig config(Path run, int epochs, double emaDecay) {
        Map<String, Object> o = new HashMap<>(Map.of("data", TestData.sample().toString(), "out", run.toString(), "epochs", epochs,
                "maxBatchesPerEpoch", 2, "maxImagesPerClass", 40, "seed", 11, "headDropout", List.of(0.0), "ttaOperatingPoint", false));
        o.put("emaDecay", emaDecay);
        return TestData.tinyConfig(o);
    }

    /** The network's weights when training starts and after every update, with the iteration each update was. */
    static final class Updates extends BaseTrainingListener {
        float[] initial;
        final List<float[]> params = new ArrayList<>();
        final List<Integer> iterations = new ArrayList<>();

        @Override
        public void onEpochStart(Model model) {
            if (initial == null) {
                initial = model.params().toFloatVector();
            }
        }

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            params.add(model.params().toFloatVector());
            iterations.add(iteration);
        }
    }

    /** What last.zip holds after each epoch: the raw weights and the average. */
    static final class LastZips implements Consumer<EpochRecord> {
        final Path run;
        final List<float[]> raw = new ArrayList<>();
        final List<float[]> average = new ArrayList<>();

        LastZips(Path run) {
            this.run = run;
        }

        @Override
        public void accept(EpochRecord r) {
            ModelBundle last = ModelBundle.load(run.resolve(RunDirectory.LAST));
            raw.add(last.network().params().toFloatVector());
            average.add(last.weightAverage().toFloatVector());
        }
    }

    @AfterEach
    void removeHook() {
        Trainer.afterLastZip = r -> { };
    }

    @Test
    void theAverageIsValidatedAndSavedAsBestWhileLastZipKeepsTheRawWeightsAndTheAverage(@TempDir Path tmp) throws Exception {
        Path offRun = tmp.resolve("off");
        Trainer.Result off = Trainer.train(config(offRun, 2, 0), Trainer.Options.quiet());
        Path onRun = tmp.resolve("on");
        Updates updates = new Updates();
        LastZips lastZips = new LastZips(onRun);
        Trainer.Result on = Trainer.train(config(onRun, 2, DECAY), new Trainer.Options(false, List.of(updates), List.of(lastZips), null));

        // The average, computed here in double from the recorded weights: avg = p + d (avg - p), d = min(0.9, (1 + n) / (10 + n)).
        assertEquals(List.of(0, 1, 2, 3), updates.iterations, "two batches an epoch, two epochs");
        double[] avg = new double[updates.initial.length];
        for (int i = 0; i < avg.length; i++) {
            avg[i] = updates.initial[i];
        }
        List<double[]> expectedAfterEpoch = new ArrayList<>();
        for (int k = 0; k < updates.params.size(); k++) {
            int n = updates.iterations.get(k);
            double d = Math.min(DECAY, (1.0 + n) / (10.0 + n));
            float[] p = updates.params.get(k);
            for (int i = 0; i < avg.length; i++) {
                avg[i] = p[i] + d * (avg[i] - p[i]);
            }
            if (k % 2 == 1) {
                expectedAfterEpoch.add(avg.clone());
            }
        }
        for (int e = 0; e < 2; e++) {
            assertClose(expectedAfterEpoch.get(e), lastZips.average.get(e), "the average in last.zip after epoch " + (e + 1));
            assertArrayEquals(updates.params.get(2 * e + 1), lastZips.raw.get(e), 0f, "last.zip holds the raw weights after epoch " + (e + 1));
            assertFalse(java.util.Arrays.equals(lastZips.raw.get(e), lastZips.average.get(e)), "the average is not the raw weights");
        }

        // The average changes nothing in training: the same raw weights and training losses as without it.
        ModelBundle offLast = ModelBundle.load(offRun.resolve(RunDirectory.LAST));
        assertArrayEquals(offLast.network().params().toFloatVector(), lastZips.raw.get(1), 0f);
        for (int e = 0; e < 2; e++) {
            assertEquals(off.history().get(e).trainLoss(), on.history().get(e).trainLoss(), "train loss of epoch " + (e + 1));
        }
        // emaDecay 0 writes no average; best.zip never holds one.
        assertNull(offLast.weightAverage());
        assertFalse(hasEntry(offRun.resolve(RunDirectory.LAST), ModelZip.WEIGHT_AVERAGE));
        assertFalse(hasEntry(onRun.resolve(RunDirectory.BEST), ModelZip.WEIGHT_AVERAGE));
        assertTrue(hasEntry(onRun.resolve(RunDirectory.LAST), ModelZip.WEIGHT_AVERAGE));

        // best.zip holds the average of the best epoch, and the epoch's validation was of those weights.
        int best = on.bestEpoch();
        ModelBundle bestZip = ModelBundle.load(onRun.resolve(RunDirectory.BEST));
        assertArrayEquals(lastZips.average.get(best - 1), bestZip.network().params().toFloatVector(), 0f, "best.zip = the average of epoch " + best);
        List<LabeledImage> validation = RunDirectory.readSplit(onRun.resolve(RunDirectory.SPLIT)).validation();
        Predictions again = Evaluator.predict(bestZip.network(), ImageIterators.evaluation(validation, bestZip.preprocessing(), 16),
                bestZip.preprocessing().labels());
        Predictions during = on.validationPredictions();
        assertEquals(new java.util.TreeSet<>(again.files()), new java.util.TreeSet<>(during.files()));
        for (int i = 0; i < again.files().size(); i++) {
            int j = during.files().indexOf(again.files().get(i));
            assertArrayEquals(again.probabilities()[i], during.probabilities()[j], 1e-6, again.files().get(i));
        }
        JsonNode provenance = ConfigLoader.JSON.readTree(onRun.resolve(RunDirectory.PROVENANCE).toFile());
        assertEquals(DECAY, provenance.get("emaDecay").asDouble());
        assertTrue(Files.readString(onRun.resolve(RunDirectory.CONFIG)).contains("emaDecay: 0.9"), "in the run's config snapshot");
    }

    @Test
    void resumeContinuesTheAverageAsAnUninterruptedRunAndRefusesAnotherDecay(@TempDir Path tmp) throws Exception {
        Path straight = tmp.resolve("straight");
        Trainer.train(config(straight, 3, DECAY), Trainer.Options.quiet());
        Path resumed = tmp.resolve("resumed");
        Trainer.train(config(resumed, 2, DECAY), Trainer.Options.quiet());
        Path last = resumed.resolve(RunDirectory.LAST);
        Path twoEpochs = Files.copy(last, tmp.resolve("last-after-2.zip"));
        Trainer.train(config(resumed, 3, DECAY), new Trainer.Options(false, List.of(), List.of(), last));

        ModelBundle a = ModelBundle.load(straight.resolve(RunDirectory.LAST));
        ModelBundle b = ModelBundle.load(last);
        assertEquals(6, b.network().getConfiguration().getIterationCount());
        assertArrayEquals(a.network().params().toFloatVector(), b.network().params().toFloatVector(), 0f, "raw weights");
        assertArrayEquals(a.weightAverage().toFloatVector(), b.weightAverage().toFloatVector(), 0f, "the average");
        assertArrayEquals(a.network().getUpdater().getStateViewArray().toFloatVector(),
                b.network().getUpdater().getStateViewArray().toFloatVector(), 0f, "updater state");
        assertArrayEquals(ModelBundle.load(straight.resolve(RunDirectory.BEST)).network().params().toFloatVector(),
                ModelBundle.load(resumed.resolve(RunDirectory.BEST)).network().params().toFloatVector(), 0f, "best.zip");
        assertEquals(Files.readAllLines(straight.resolve(RunDirectory.HISTORY)).stream().map(WeightAverageTrainingTest::withoutTimes).toList(),
                Files.readAllLines(resumed.resolve(RunDirectory.HISTORY)).stream().map(WeightAverageTrainingTest::withoutTimes).toList());

        // emaDecay is part of the recipe: a resume may not change it.
        UserError changed = assertThrows(UserError.class,
                () -> Trainer.train(config(resumed, 4, 0.5), new Trainer.Options(false, List.of(), List.of(), last)));
        assertTrue(changed.getMessage().contains("emaDecay (run 0.9, given 0.5)"), changed.getMessage());
        assertFalse(changed.getMessage().contains("\n"), changed.getMessage());

        // A last.zip of an emaDecay run without its average (edited by hand) is refused before anything is repaired.
        Files.copy(twoEpochs, last, StandardCopyOption.REPLACE_EXISTING);
        withoutEntry(last, ModelZip.WEIGHT_AVERAGE);
        UserError missing = assertThrows(UserError.class,
                () -> Trainer.train(config(resumed, 3, DECAY), new Trainer.Options(false, List.of(), List.of(), last)));
        assertTrue(missing.getMessage().contains("holds no weight average (" + ModelZip.WEIGHT_AVERAGE + ")"), missing.getMessage());
        assertFalse(missing.getMessage().contains("\n"), missing.getMessage());
    }

    @Test
    void aKillBetweenLastZipAndBestZipIsRepairedWithTheAveragedWeights(@TempDir Path tmp) {
        Path run = tmp.resolve("run");
        Trainer.afterLastZip = r -> {
            throw new IllegalStateException("simulated kill after last.zip of epoch " + r.epoch());
        };
        assertThrows(IllegalStateException.class, () -> Trainer.train(config(run, 2, DECAY), Trainer.Options.quiet()));
        Trainer.afterLastZip = r -> { };
        assertFalse(Files.exists(run.resolve(RunDirectory.BEST)), "epoch 1 was the best and its best.zip was not written");
        ModelBundle last = ModelBundle.load(run.resolve(RunDirectory.LAST));
        float[] raw = last.network().params().toFloatVector();
        float[] average = last.weightAverage().toFloatVector();

        Resumption r = Resumption.open(run.resolve(RunDirectory.LAST), config(run, 2, DECAY), new PrintStream(PrintStream.nullOutputStream()));
        r.dir().close();
        ModelBundle best = ModelBundle.load(run.resolve(RunDirectory.BEST));
        assertArrayEquals(average, best.network().params().toFloatVector(), 0f, "best.zip is epoch 1's average");
        assertNull(best.weightAverage());
        assertArrayEquals(raw, r.checkpoint().network().params().toFloatVector(), 0f, "the resumed network keeps the raw weights");
    }

    @Test
    void enginesThatTrainCopiesAreRefusedInOneLineBeforeAnyRunFolder(@TempDir Path tmp) {
        Map<String, Map<String, Object>> refused = Map.of(
                "workers 2 (ParallelWrapper)", Map.of("emaDecay", DECAY, "workers", 2),
                "--featurize", Map.of("emaDecay", DECAY, "featurize", true, "freezeTrunk", true, "augment", false),
                "engine spark", Map.of("emaDecay", DECAY, "engine", "spark"));
        for (Map.Entry<String, Map<String, Object>> e : refused.entrySet()) {
            UserError u = assertThrows(UserError.class, () -> Trainer.engine(ConfigLoader.load(null, e.getValue())), e.getKey());
            assertTrue(u.getMessage().startsWith("emaDecay needs the local engine (workers: 1, engine: local, no --featurize): " + e.getKey()),
                    u.getMessage());
            assertFalse(u.getMessage().contains("\n"), u.getMessage());
        }
        try (TrainingEngine pw = Trainer.engine(ConfigLoader.load(null, Map.of("emaDecay", 0, "workers", 2)))) {
            assertTrue(pw.name().startsWith("parallel-wrapper(2"), "emaDecay 0 leaves every engine available: " + pw.name());
        }

        Path out = tmp.resolve("run");
        CliRunner.Outcome workers = CliRunner.cli("train", "--data", TestData.sample().toString(), "--out", out.toString(), "--no-progress",
                "--workers", "2", "--set", "emaDecay=0.99");
        assertEquals(2, workers.code(), workers.err());
        assertEquals(1, workers.err().strip().lines().count(), workers.err());
        assertTrue(workers.err().strip().startsWith("error: emaDecay needs the local engine"), workers.err());
        CliRunner.Outcome bad = CliRunner.cli("train", "--data", TestData.sample().toString(), "--out", out.toString(), "--no-progress",
                "--set", "emaDecay=1.5");
        assertEquals(2, bad.code(), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
        assertTrue(bad.err().contains("emaDecay must be in [0, 1)"), bad.err());
        assertFalse(Files.exists(out), "no run folder for a run that cannot start");
    }

    /** The tiny net with its trunk frozen: only the head (two dense layers) trains; of three epochs, the third is the best. */
    private static RunConfig frozenConfig(Path run, int epochs) {
        Map<String, Object> o = new HashMap<>(Map.of("data", TestData.sample().toString(), "out", run.toString(), "epochs", epochs,
                "maxBatchesPerEpoch", 2, "maxImagesPerClass", 40, "seed", 11, "headDropout", List.of(0.0), "ttaOperatingPoint", false,
                "freezeTrunk", true));
        o.put("emaDecay", DECAY);
        // A random frozen trunk leaves the head little to learn: at this rate the validation AUCs of the three epochs
        // differ, so the best epoch does not rest on a tie (history.csv keeps them rounded).
        o.put("learningRate", 0.1);
        return TestData.tinyConfig(o);
    }

    /** The numbers of {@code all} where {@code mask} is set, in order. */
    private static float[] masked(float[] all, boolean[] mask) {
        int n = 0;
        for (boolean b : mask) {
            n += b ? 1 : 0;
        }
        float[] out = new float[n];
        for (int i = 0, j = 0; i < all.length; i++) {
            if (mask[i]) {
                out[j++] = all[i];
            }
        }
        return out;
    }

    /** The head's parameters records the network at the start of training (the run's own network, frozen trunk). */
    static final class HeadMask extends BaseTrainingListener {
        boolean[] mask;

        @Override
        public void onEpochStart(Model model) {
            if (mask == null) {
                mask = TestData.headMask((org.deeplearning4j.nn.graph.ComputationGraph) model);
            }
        }
    }

    @Test
    void aFrozenTrunkIsLeftOutOfTheAverageAndBestZipKeepsItsWeights(@TempDir Path tmp) {
        Path run = tmp.resolve("frozen");
        Updates updates = new Updates();
        HeadMask head = new HeadMask();
        LastZips lastZips = new LastZips(run);
        Trainer.Result result = Trainer.train(frozenConfig(run, 2), new Trainer.Options(false, List.of(updates, head), List.of(lastZips), null));
        boolean[] mask = head.mask;
        int total = mask.length;
        int trainable = masked(new float[total], mask).length;
        assertTrue(trainable > 0 && trainable < total / 4, trainable + " of " + total + ": a small head on a frozen trunk");

        // Frozen means frozen: the trunk's numbers never moved, so the average has nothing to follow there.
        for (float[] p : updates.params) {
            for (int i = 0; i < total; i++) {
                if (!mask[i]) {
                    assertEquals(Float.floatToIntBits(updates.initial[i]), Float.floatToIntBits(p[i]), "frozen parameter " + i);
                }
            }
        }
        // The average of the head only, computed here in double from the recorded weights.
        float[] initialHead = masked(updates.initial, mask);
        double[] avg = new double[trainable];
        for (int i = 0; i < trainable; i++) {
            avg[i] = initialHead[i];
        }
        List<double[]> expectedAfterEpoch = new ArrayList<>();
        for (int k = 0; k < updates.params.size(); k++) {
            int n = updates.iterations.get(k);
            double d = Math.min(DECAY, (1.0 + n) / (10.0 + n));
            float[] p = masked(updates.params.get(k), mask);
            for (int i = 0; i < trainable; i++) {
                avg[i] = p[i] + d * (avg[i] - p[i]);
            }
            if (k % 2 == 1) {
                expectedAfterEpoch.add(avg.clone());
            }
        }
        for (int e = 0; e < 2; e++) {
            assertEquals(trainable, lastZips.average.get(e).length, "last.zip's average holds the trainable parameters only");
            assertClose(expectedAfterEpoch.get(e), lastZips.average.get(e), "the average in last.zip after epoch " + (e + 1));
        }

        // best.zip: the frozen weights unchanged, the head's averaged, at the best epoch.
        int best = result.bestEpoch();
        float[] bestParams = ModelBundle.load(run.resolve(RunDirectory.BEST)).network().params().toFloatVector();
        assertEquals(total, bestParams.length);
        double[] bestAverage = expectedAfterEpoch.get(best - 1);
        for (int i = 0, j = 0; i < total; i++) {
            if (mask[i]) {
                assertEquals(bestAverage[j], bestParams[i], 1e-5 * Math.max(1, Math.abs(bestAverage[j])), "best.zip head parameter " + i);
                j++;
            } else {
                assertEquals(Float.floatToIntBits(updates.initial[i]), Float.floatToIntBits(bestParams[i]), "best.zip frozen parameter " + i);
            }
        }
        assertArrayEquals(lastZips.average.get(best - 1), masked(bestParams, mask), 0f, "best.zip's head is the average of epoch " + best);
        // The raw weights go on training: last.zip's network holds them (its frozen part the same unchanged weights).
        assertArrayEquals(updates.params.get(3), lastZips.raw.get(1), 0f);
    }

    /**
     * A frozen-trunk run resumed from a new last.zip (the head's average) and from one written before the average left
     * frozen layers out (a full-length average, its frozen part the unchanged frozen weights, as the old update kept
     * them exactly): both end bit-identical to an uninterrupted run.
     */
    @Test
    void aFrozenTrunkRunResumesBitExactlyFromANewOrAnOlderFullLengthAverage(@TempDir Path tmp) throws Exception {
        Path straight = tmp.resolve("straight");
        assertEquals(3, Trainer.train(frozenConfig(straight, 3), Trainer.Options.quiet()).bestEpoch(), "best.zip is written after the resume");
        ModelBundle a = ModelBundle.load(straight.resolve(RunDirectory.LAST));

        Path resumed = tmp.resolve("resumed");
        HeadMask head = new HeadMask();
        Trainer.train(frozenConfig(resumed, 2), new Trainer.Options(false, List.of(head), List.of(), null));
        Path last = resumed.resolve(RunDirectory.LAST);
        Path twoEpochs = Files.copy(last, tmp.resolve("last-after-2.zip"));

        Trainer.train(frozenConfig(resumed, 3), new Trainer.Options(false, List.of(), List.of(), last));
        assertSameRun(a, ModelBundle.load(last), "resumed from the head's average");
        assertArrayEquals(ModelBundle.load(straight.resolve(RunDirectory.BEST)).network().params().toFloatVector(),
                ModelBundle.load(resumed.resolve(RunDirectory.BEST)).network().params().toFloatVector(), 0f, "best.zip");

        // The same last.zip as the previous version wrote it: the average of all parameters, whose frozen part was the
        // frozen weights themselves (avg = p + d (p - p) = p, exactly).
        ModelBundle two = ModelBundle.load(twoEpochs);
        float[] raw = two.network().params().toFloatVector();
        float[] headAverage = two.weightAverage().toFloatVector();
        boolean[] mask = head.mask;
        float[] full = new float[raw.length];
        for (int i = 0, j = 0; i < raw.length; i++) {
            full[i] = mask[i] ? headAverage[j++] : raw[i];
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
            org.nd4j.linalg.factory.Nd4j.write(org.nd4j.linalg.factory.Nd4j.create(full, new long[]{1, full.length}, 'c'), out);
        }
        Files.copy(twoEpochs, last, StandardCopyOption.REPLACE_EXISTING);
        Path edited = org.xraydl.model.io.ZipEdits.replace(last, last.resolveSibling("edited.zip.part"), ModelZip.WEIGHT_AVERAGE, bytes.toByteArray());
        Files.move(edited, last, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(raw.length, ArrayLength.of(last), "the old entry holds every parameter");
        assertArrayEquals(headAverage, ModelBundle.load(last).weightAverage().toFloatVector(), 0f, "read as its trainable part");

        Trainer.train(frozenConfig(resumed, 3), new Trainer.Options(false, List.of(), List.of(), last));
        ModelBundle b = ModelBundle.load(last);
        assertSameRun(a, b, "resumed from an older full-length average");
        assertEquals(headAverage.length, ArrayLength.of(last), "the next last.zip is written in the new form");
    }

    private static void assertSameRun(ModelBundle a, ModelBundle b, String what) {
        assertEquals(6, b.network().getConfiguration().getIterationCount(), what);
        assertArrayEquals(a.network().params().toFloatVector(), b.network().params().toFloatVector(), 0f, what + ": raw weights");
        assertArrayEquals(a.weightAverage().toFloatVector(), b.weightAverage().toFloatVector(), 0f, what + ": the average");
        assertArrayEquals(a.network().getUpdater().getStateViewArray().toFloatVector(),
                b.network().getUpdater().getStateViewArray().toFloatVector(), 0f, what + ": updater state");
    }

    /** The number of values the weight-average entry of a zip declares (read here with ND4J, not through the project). */
    private static final class ArrayLength {
        static long of(Path zip) throws IOException {
            try (ZipFile z = new ZipFile(zip.toFile());
                 java.io.DataInputStream in = new java.io.DataInputStream(z.getInputStream(z.getEntry(ModelZip.WEIGHT_AVERAGE)))) {
                return org.nd4j.linalg.factory.Nd4j.read(in).length();
            }
        }
    }

    /** A history row without its timing columns (seconds, img/s), which differ between runs. */
    private static String withoutTimes(String row) {
        String[] f = row.split(",");
        return String.join(",", java.util.Arrays.copyOf(f, f.length - 2));
    }

    private static void assertClose(double[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5 * Math.max(1, Math.abs(expected[i])), what + " at " + i);
        }
    }

    private static boolean hasEntry(Path zip, String name) throws IOException {
        try (ZipFile z = new ZipFile(zip.toFile())) {
            return z.getEntry(name) != null;
        }
    }

    /** Rewrites {@code zip} without its entry {@code name}. */
    private static void withoutEntry(Path zip, String name) throws IOException {
        Path tmp = zip.resolveSibling("edited.zip.part");
        try (ZipFile in = new ZipFile(zip.toFile()); ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(tmp))) {
            Enumeration<? extends ZipEntry> entries = in.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (!e.getName().equals(name)) {
                    out.putNextEntry(new ZipEntry(e.getName()));
                    in.getInputStream(e).transferTo(out);
                    out.closeEntry();
                }
            }
        }
        Files.move(tmp, zip, StandardCopyOption.REPLACE_EXISTING);
    }
}
