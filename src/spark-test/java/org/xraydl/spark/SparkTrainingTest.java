package org.xraydl.spark;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageIterators;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.ModelFactory;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;
import org.xraydl.train.Trainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Trains a tiny compact DenseNet on real sample X-rays in local[2] with each DL4J training master,
 * through the same Trainer as local training, and checks the result the way a user would: history,
 * changed parameters, the run folder against a local run made the same way, and the saved model
 * scored on the held-out test images with the project's Evaluator.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SparkTrainingTest {
    private static final int EPOCHS = 2;
    private static final Path SAMPLE = TestData.sample();

    @TempDir
    static Path tmp;
    private Trainer.Result local;

    /** TestData's tiny compact DenseNet (32 px), 2 batches of 8 per epoch from 20 images per class. */
    static Map<String, Object> tiny(Path out, String engine, String trainingMaster) {
        Map<String, Object> o = new LinkedHashMap<>(TestData.tinyOverrides());
        o.put("data", SAMPLE.resolve("train").toString());
        o.put("out", out.toString());
        o.put("maxBatchesPerEpoch", 2);
        o.put("maxImagesPerClass", 20);
        o.put("epochs", EPOCHS);
        o.put("classWeights", "none");
        o.put("learningRate", 0.01);
        o.put("engine", engine);
        o.put("sparkMaster", "local[2]");
        o.put("trainingMaster", trainingMaster);
        return o;
    }

    @BeforeAll
    void localReference() {
        local = Trainer.train(ConfigLoader.load(null, tiny(tmp.resolve("local"), "local", "shared")), Trainer.Options.quiet());
    }

    @AfterAll
    void noSparkLeftRunning() {
        assertTrue(org.apache.spark.SparkContext$.MODULE$.getActive().isEmpty(), "a SparkContext was left running");
    }

    @ParameterizedTest
    @ValueSource(strings = {"shared", "averaging"})
    void trainsOnSparkLikeLocalTraining(String trainingMaster) throws IOException {
        RunConfig c = ConfigLoader.load(null, tiny(tmp.resolve(trainingMaster), "spark", trainingMaster));
        Trainer.Result r = Trainer.train(c, Trainer.Options.quiet());
        Path dir = r.runDirectory().path();

        // History: every epoch trained on images and was validated.
        assertEquals(EPOCHS, r.history().size());
        for (EpochRecord e : r.history()) {
            assertTrue(Double.isFinite(e.trainLoss()) && e.trainLoss() > 0, "train loss " + e.trainLoss());
            assertTrue(Double.isFinite(e.valLoss()) && e.valLoss() > 0, "val loss " + e.valLoss());
            assertTrue(e.imagesPerSecond() > 0, "no images reported as seen in epoch " + e.epoch());
        }
        assertEquals(RunDirectory.readHistory(dir.resolve(RunDirectory.HISTORY)).size(), EPOCHS);

        // The run folder holds exactly what a local run's holds.
        assertEquals(files(local.runDirectory().path()), files(dir));
        assertEquals(jsonKeys(local.runDirectory().path().resolve(RunDirectory.METRICS)), jsonKeys(dir.resolve(RunDirectory.METRICS)));
        assertEquals(Files.readAllLines(local.runDirectory().path().resolve(RunDirectory.PREDICTIONS)).size(),
                Files.readAllLines(dir.resolve(RunDirectory.PREDICTIONS)).size());
        JsonNode provenance = ConfigLoader.JSON.readTree(dir.resolve(RunDirectory.PROVENANCE).toFile());
        assertEquals("spark(" + trainingMaster + ", local[2])", provenance.get("engine").asText());

        // Parameters moved away from the (deterministic) initial ones.
        INDArray init = ModelFactory.create(c, 2, null).params();
        assertEquals(init, ModelFactory.create(c, 2, null).params(), "initialisation is not deterministic: the next check would prove nothing");
        ModelBundle last = ModelBundle.load(dir.resolve(RunDirectory.LAST));
        INDArray trained = last.network().params();
        double change = trained.sub(init).norm2Number().doubleValue();
        assertTrue(change > 1e-4, "parameters did not change: |trained - init| = " + change);
        assertTrue(Double.isFinite(trained.sumNumber().doubleValue()), "non-finite parameters");
        assertTrue(last.network().getUpdater().getStateViewArray() != null, "last.zip has no updater state");

        // The best model, scored on the held-out test images by the evaluator local training uses.
        ModelBundle best = ModelBundle.load(dir.resolve(RunDirectory.BEST));
        ImageFolder test = ImageFolderScanner.scan(SAMPLE.resolve("test"), "test", false, 10);
        Predictions p = Evaluator.predict(best.network(), ImageIterators.evaluation(test.images(), best.preprocessing(), 8),
                best.preprocessing().labels());
        Metrics m = MetricsCalculator.compute(p, ClassLabels.POSITIVE);
        assertEquals(20, m.n());
        assertTrue(Double.isFinite(m.loss()), "test loss " + m.loss());
        assertTrue(m.auc() >= 0 && m.auc() <= 1, "test AUC " + m.auc());
        for (double[] row : p.probabilities()) {
            assertEquals(1.0, row[0] + row[1], 1e-4);
        }
        // ... and the validation metrics Spark training wrote are what that evaluator says about best.zip.
        Predictions val = Evaluator.predict(best.network(), ImageIterators.evaluation(validation(dir), best.preprocessing(), 8),
                best.preprocessing().labels());
        assertEquals(r.validation().auc(), MetricsCalculator.compute(val, ClassLabels.POSITIVE).auc(), 1e-6);
        assertEquals(r.validation().loss(), MetricsCalculator.compute(val, ClassLabels.POSITIVE).loss(), 1e-4);
    }

    @org.junit.jupiter.api.Test
    void batchesCanBeExportedToSharedStorageInstead() throws IOException {
        Path export = tmp.resolve("export");
        Map<String, Object> o = tiny(tmp.resolve("exported"), "spark", "averaging");
        o.put("epochs", 1);
        System.setProperty("spark.xraydl.exportDir", export.toString());
        Trainer.Result r;
        try {
            r = Trainer.train(ConfigLoader.load(null, o), Trainer.Options.quiet());
        } finally {
            System.clearProperty("spark.xraydl.exportDir");
        }
        assertEquals(1, r.history().size());
        assertTrue(Double.isFinite(r.history().get(0).trainLoss()));
        assertTrue(Files.isDirectory(export), "nothing was exported to " + export);
        try (Stream<Path> s = Files.walk(export)) {
            List<Path> left = s.filter(p -> p.toString().endsWith(".bin")).toList();
            assertTrue(left.isEmpty(), "exported batches left behind: " + left);
        }
    }

    private static List<org.xraydl.data.LabeledImage> validation(Path dir) throws IOException {
        List<org.xraydl.data.LabeledImage> out = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve(RunDirectory.SPLIT))) {
            String[] f = line.split(",");
            if (f.length == 4 && f[3].equals("validation")) {
                out.add(new org.xraydl.data.LabeledImage(Path.of(f[0]), f[1], f[2]));
            }
        }
        assertTrue(!out.isEmpty(), "no validation rows in split.csv");
        return out;
    }

    private static Set<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    private static Set<String> jsonKeys(Path file) throws IOException {
        Set<String> keys = new TreeSet<>();
        ConfigLoader.JSON.readTree(file.toFile()).fieldNames().forEachRemaining(keys::add);
        return keys;
    }
}
