package org.xraydl.evaluate;

import org.junit.jupiter.api.Test;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.io.DecisionRule;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OperatingPointTest {
    // Positives 0.95, 0.9, 0.8, 0.8, 0.6, 0.3; negatives 0.85, 0.5, 0.4, 0.3, 0.2, 0.1.
    static final double[] SCORES = {0.95, 0.9, 0.8, 0.8, 0.6, 0.3, 0.85, 0.5, 0.4, 0.3, 0.2, 0.1};
    static final boolean[] POSITIVE = {true, true, true, true, true, true, false, false, false, false, false, false};

    @Test
    void sensitivityMethodTakesTheHighestThresholdMeetingTheTarget() {
        // 0.97 of 6 positives needs all 6: the lowest positive score, 0.3 (the negative tied at 0.3 is called positive too);
        // at the next higher score, 0.4, sensitivity is 5/6 < 0.97.
        assertEquals(0.3, OperatingPoint.threshold(SCORES, POSITIVE, "sensitivity", 0.97), 0);
        // 0.5 needs 3 positives: the 3rd highest positive score is 0.8, tied with the 4th, so sensitivity there is 4/6;
        // at 0.85 it is 2/6 < 0.5.
        assertEquals(0.8, OperatingPoint.threshold(SCORES, POSITIVE, "sensitivity", 0.5), 0);
        // Exactly 4/6 is met at 0.8 as well; 5/6 needs 0.6.
        assertEquals(0.8, OperatingPoint.threshold(SCORES, POSITIVE, "sensitivity", 4.0 / 6), 0);
        assertEquals(0.6, OperatingPoint.threshold(SCORES, POSITIVE, "sensitivity", 5.0 / 6), 0);
    }

    @Test
    void youdenMethodMaximisesSensitivityPlusSpecificity() {
        // J by hand: 0.95 -> 1/6, 0.9 -> 2/6, 0.85 -> 1/6, 0.8 -> 3/6, 0.6 -> 4/6 (5 TP, 5 TN), 0.5 -> 3/6, 0.4 -> 2/6,
        // 0.3 -> 2/6, 0.2 -> 1/6, 0.1 -> 0.
        assertEquals(0.6, OperatingPoint.threshold(SCORES, POSITIVE, "youden", 0.97), 0);
        // Equal J (1/2) at 0.9 and 0.5: the higher threshold.
        assertEquals(0.9, OperatingPoint.threshold(new double[]{0.9, 0.5, 0.7, 0.1}, new boolean[]{true, true, false, false}, "youden", 0), 0);
    }

    @Test
    void oneClassOrAnUnknownMethodIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> OperatingPoint.threshold(new double[]{0.2}, new boolean[]{true}, "youden", 0.9));
        assertThrows(IllegalArgumentException.class, () -> OperatingPoint.threshold(SCORES, POSITIVE, "f1", 0.9));
    }

    @Test
    void chooseUsesTheConfiguredMethodAndTheMetricsAtTheThresholdMeetTheTarget() {
        int[] truth = new int[SCORES.length];
        for (int i = 0; i < truth.length; i++) {
            truth[i] = POSITIVE[i] ? 1 : 0;
        }
        Predictions p = TestData.predictions(truth, SCORES);
        RunConfig youden = TestData.tinyConfig(Map.of("thresholdMethod", "youden"));
        DecisionRule rule = OperatingPoint.choose(p, youden, "PNEUMONIA");
        assertEquals("youden", rule.method());
        assertEquals("PNEUMONIA", rule.positive());
        RunConfig sens = TestData.tinyConfig(Map.of("thresholdMethod", "sensitivity", "targetSensitivity", 0.97));
        DecisionRule r = OperatingPoint.choose(p, sens, "PNEUMONIA");
        Map<String, Object> report = OperatingPoint.report(p, r);
        assertEquals(1.0, (double) report.get("sensitivity"), 1e-12, "all 6 positives at or above the threshold");
        // The threshold is on the temperature-scaled scale; with T = 1 it is the raw 0.3.
        if (r.temperature() == 1.0) {
            assertEquals(0.3, r.threshold(), 0);
        } else {
            assertEquals(Calibration.scale(new double[]{0.7, 0.3}, r.temperature())[1], r.threshold(), 1e-12);
        }
        assertTrue(r.temperature() > 0);
    }
}
