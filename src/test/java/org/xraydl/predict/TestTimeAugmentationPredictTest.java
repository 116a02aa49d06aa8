package org.xraydl.predict;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
import org.xraydl.data.TestTimeAugmentation;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * --tta on a tiny untrained model and real sample images: off, predict answers exactly what the plain
 * evaluation path (DataVec record reader, centre crop) gives; on, it averages six views and differs.
 */
class TestTimeAugmentationPredictTest {
    private static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");

    @Test
    void ttaOffEqualsThePlainPathAndTtaOnDiffersAndMatchesTheAveragedEvaluation() throws IOException {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Preprocessing pre = Preprocessing.of(c, LABELS);
        ModelBundle bundle = new ModelBundle(net, pre, c, Map.of());
        List<LabeledImage> images = new ArrayList<>();
        for (String label : LABELS) {
            try (Stream<Path> s = Files.list(TestData.sample().resolve("test").resolve(label))) {
                s.sorted().limit(2).forEach(f -> images.add(new LabeledImage(f, label, f.getFileName().toString())));
            }
        }
        Predictions plain = Evaluator.predict(net, ImageIterators.evaluation(images, pre, 8), LABELS);
        List<Supplier<DataSetIterator>> views = new ArrayList<>();
        TestTimeAugmentation.views(pre).forEach(v -> views.add(() -> ImageIterators.evaluation(images, pre, 8, v)));
        Predictions averaged = Evaluator.predictAveraged(net, views, LABELS);

        Predictor off = new Predictor(bundle, false, 0.5);
        Predictor on = new Predictor(bundle, true, 0.5);
        for (int i = 0; i < images.size(); i++) {
            double pOff = off.predict(images.get(i).file()).probabilities().get("PNEUMONIA");
            double pOn = on.predict(images.get(i).file()).probabilities().get("PNEUMONIA");
            assertEquals(plain.probabilities()[i][1], pOff, 1e-6, "TTA off = the plain evaluation path");
            assertEquals(averaged.probabilities()[i][1], pOn, 1e-6, "TTA on = the mean over the views on the evaluation path");
            assertNotEquals(pOff, pOn, "TTA changes the probability of " + images.get(i).file());
        }
        // The single-view average is the plain prediction, bit for bit.
        Predictions one = Evaluator.predictAveraged(net, views.subList(0, 1), LABELS);
        assertEquals(plain.probabilities()[0][1], one.probabilities()[0][1], 0);
    }

    @Test
    void theClassIsDecidedWithTheThresholdOnTheProbability() throws IOException {
        RunConfig c = TestData.tinyConfig(Map.of());
        ModelBundle bundle = new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, LABELS), c, Map.of());
        Path f;
        try (Stream<Path> s = Files.list(TestData.sample().resolve("test").resolve("NORMAL"))) {
            f = s.sorted().findFirst().orElseThrow();
        }
        double p = new Predictor(bundle, false, 0.5).predict(f).probabilities().get("PNEUMONIA");
        Predictor.Answer atP = new Predictor(bundle, false, p).predict(f);
        Predictor.Answer above = new Predictor(bundle, false, Math.nextUp(p)).predict(f);
        assertEquals("PNEUMONIA", atP.predictedClass(), "p >= threshold is positive");
        assertEquals(p, atP.threshold(), 0);
        assertEquals("NORMAL", above.predictedClass());
        assertEquals(1 - p, above.confidence(), 1e-6);
    }
}
