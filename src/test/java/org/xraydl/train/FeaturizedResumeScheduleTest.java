package org.xraydl.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.util.NetworkUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.Heads;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * --featurize trains the head in a separate graph (TransferLearningHelper): a resumed run must
 * still continue the learning-rate schedule at the iteration where the run stopped, as the
 * plain path does, not start it again.
 */
class FeaturizedResumeScheduleTest {
    static final double PEAK = 0.004;
    static final double MIN = 0.0001;
    static final int BATCHES = 2;
    static final int EPOCHS = 3;

    private static RunConfig config(Path run, int epochs) {
        Map<String, Object> o = new HashMap<>(Map.of("data", TestData.sample().toString(), "out", run.toString(), "epochs", epochs,
                "featurize", true, "freezeTrunk", true, "augment", false, "maxBatchesPerEpoch", BATCHES));
        o.putAll(Map.of("maxImagesPerClass", 24, "lrSchedule", "cosine", "learningRate", PEAK, "lrMin", MIN, "seed", 3));
        return TestData.tinyConfig(o);
    }

    /** The cosine formula (no warm-up) over {@code total} iterations, written out here, not taken from the code. */
    static double cosine(int iteration, int total) {
        return MIN + (PEAK - MIN) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, iteration / (double) total)));
    }

    /** The iteration and the learning rate the head's updater used, at each iteration. */
    static final class Rates extends BaseTrainingListener {
        final List<Integer> iterations = new ArrayList<>();
        final List<Double> rates = new ArrayList<>();

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            // Called before DL4J increments the count: the rate of the update just applied.
            iterations.add(iteration);
            rates.add(NetworkUtils.getLearningRate((ComputationGraph) model, Heads.OUTPUT));
        }
    }

    @Test
    void aResumedFeaturizedRunContinuesTheSchedule(@TempDir Path tmp) {
        Path run = tmp.resolve("run");
        Rates first = new Rates();
        Trainer.train(config(run, 1), new Trainer.Options(false, List.of(first), List.of(), null));
        assertEquals(List.of(0, 1), first.iterations);
        assertEquals(cosine(1, BATCHES), first.rates.get(1), 1e-12);
        assertEquals(BATCHES, ModelBundle.load(run.resolve(RunDirectory.LAST)).network().getConfiguration().getIterationCount(),
                "last.zip records the iterations the featurized head trained");

        // Resumed with more epochs: the schedule is stretched to EPOCHS * BATCHES and continues at iteration BATCHES.
        Rates resumed = new Rates();
        Trainer.train(config(run, EPOCHS), new Trainer.Options(false, List.of(resumed), List.of(), run.resolve(RunDirectory.LAST)));
        int total = EPOCHS * BATCHES;
        assertEquals(List.of(2, 3, 4, 5), resumed.iterations);
        assertEquals(cosine(BATCHES, total), resumed.rates.get(0), 1e-12);
        assertNotEquals(cosine(0, total), resumed.rates.get(0), 1e-6); // what restarting the schedule would give
        assertEquals(cosine(total - 1, total), resumed.rates.get(resumed.rates.size() - 1), 1e-12);
    }
}
