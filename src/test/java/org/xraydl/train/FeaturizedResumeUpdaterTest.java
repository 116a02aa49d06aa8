package org.xraydl.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --featurize trains the head in a separate graph (TransferLearningHelper) with its own updater: its Adam
 * moments must reach last.zip and come back on --resume, so that one epoch, a resume and one more epoch
 * end where two uninterrupted epochs end.
 * <p>
 * Each epoch is one batch holding the whole training split and the head has no dropout: the featurized
 * examples' order (fixed by the first epoch this process trains, so it differs after a resume) then only
 * changes the order of a sum, and no random draw differs between the two runs.
 */
class FeaturizedResumeUpdaterTest {

    private static RunConfig config(Path run, int epochs) {
        Map<String, Object> o = new HashMap<>(Map.of("data", TestData.sample().toString(), "out", run.toString(), "epochs", epochs,
                "featurize", true, "freezeTrunk", true, "augment", false, "maxImagesPerClass", 16, "batchSize", 64));
        o.putAll(Map.of("headDropout", List.of(0.0), "seed", 5, "learningRate", 0.01));
        return TestData.tinyConfig(o);
    }

    @Test
    void oneEpochThenResumeEndsWhereTwoUninterruptedEpochsEnd(@TempDir Path tmp) {
        Path straight = tmp.resolve("straight");
        Trainer.train(config(straight, 2), Trainer.Options.quiet());

        Path resumed = tmp.resolve("resumed");
        Trainer.train(config(resumed, 1), Trainer.Options.quiet());
        float[] afterOne = state(resumed);
        Trainer.train(config(resumed, 2), new Trainer.Options(false, List.of(), List.of(), resumed.resolve(RunDirectory.LAST)));

        // last.zip holds the head's moments: after a step of Adam with a non-zero gradient they are not all zero.
        assertTrue(maxAbs(afterOne) > 0, "last.zip after epoch 1 holds a non-zero updater state");
        ComputationGraph a = ModelBundle.load(straight.resolve(RunDirectory.LAST)).network();
        ComputationGraph b = ModelBundle.load(resumed.resolve(RunDirectory.LAST)).network();
        assertEquals(2, a.getConfiguration().getIterationCount());
        assertEquals(2, b.getConfiguration().getIterationCount());
        float[] pa = a.params().toFloatVector();
        float[] pb = b.params().toFloatVector();
        float[] sa = a.getUpdater().getStateViewArray().toFloatVector();
        float[] sb = b.getUpdater().getStateViewArray().toFloatVector();
        assertEquals(sa.length, sb.length);
        assertTrue(maxAbs(sa) > 0, "the uninterrupted run's last.zip holds a non-zero updater state");
        assertClose(pa, pb, "parameters");
        assertClose(sa, sb, "updater state");
    }

    private static float[] state(Path run) {
        return ModelBundle.load(run.resolve(RunDirectory.LAST)).network().getUpdater().getStateViewArray().toFloatVector();
    }

    private static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /** Equal up to float rounding (the order of a sum): 1e-5 of the array's scale. */
    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        double tol = 1e-5 * Math.max(1e-6, maxAbs(expected));
        int worst = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Math.abs(expected[i] - actual[i]) > Math.abs(expected[worst] - actual[worst])) {
                worst = i;
            }
        }
        assertEquals(expected[worst], actual[worst], tol, what + " differ most at " + worst + " of " + expected.length);
    }
}
