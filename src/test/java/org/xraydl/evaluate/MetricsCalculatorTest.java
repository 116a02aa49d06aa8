package org.xraydl.evaluate;

import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.TestData.predictions;

class MetricsCalculatorTest {
    @Test
    void hand_counted_confusion_gives_the_textbook_metrics() {
        // 4 pneumonia (3 caught), 4 normal (1 false alarm).
        int[] truth = {1, 1, 1, 1, 0, 0, 0, 0};
        double[] pPneumonia = {0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1};
        Metrics m = MetricsCalculator.compute(predictions(truth, pPneumonia), "PNEUMONIA");
        assertEquals(8, m.n());
        assertEquals(0.75, m.accuracy(), 1e-12);
        assertEquals(0.75, m.sensitivity(), 1e-12);
        assertEquals(0.75, m.specificity(), 1e-12);
        assertEquals(0.75, m.precision(), 1e-12);
        assertEquals(0.75, m.f1(), 1e-12);
        assertArrayEquals(new int[]{3, 1}, m.confusion()[0], "true NORMAL row");
        assertArrayEquals(new int[]{1, 3}, m.confusion()[1], "true PNEUMONIA row");
        // 16 positive/negative pairs, 15 ranked correctly (0.4 < 0.6 is the only inversion).
        assertEquals(15.0 / 16.0, m.auc(), 1e-9);
        double loss = 0;
        for (int i = 0; i < truth.length; i++) {
            loss -= Math.log(truth[i] == 1 ? pPneumonia[i] : 1 - pPneumonia[i]);
        }
        assertEquals(loss / 8, m.loss(), 1e-6);
        // Wilson 95% interval of 3/4 (textbook value 0.301 - 0.954).
        assertEquals(0.3006, m.ci95().get("sensitivity")[0], 1e-3);
        assertEquals(0.9544, m.ci95().get("sensitivity")[1], 1e-3);
        double[] auc = m.ci95().get("auc");
        assertTrue(auc[0] < m.auc() && m.auc() < auc[1] && auc[1] <= 1, java.util.Arrays.toString(auc));
    }

    @Test
    void intervalsNarrowWithMoreDataAndHanleyMcNeilMatchesItsPaper() {
        double[] small = ConfidenceIntervals.wilson(8, 10);
        double[] large = ConfidenceIntervals.wilson(800, 1000);
        assertTrue(large[1] - large[0] < (small[1] - small[0]) / 5);
        // AUC 0.9, 50 positives, 50 negatives, by hand: Q1 = 0.8182, Q2 = 0.8526, SE = sqrt(2.5798 / 2500) = 0.0321.
        double[] ci = ConfidenceIntervals.hanleyMcNeil(0.9, 50, 50);
        assertEquals(0.0321, (ci[1] - ci[0]) / 2 / ConfidenceIntervals.Z95, 2e-4);
        assertTrue(Double.isNaN(ConfidenceIntervals.wilson(0, 0)[0]));
    }

    @Test
    void aucIsUndefinedWithOneClassAndTheRocCurveSpansTheUnitSquare() {
        Metrics one = MetricsCalculator.compute(predictions(new int[]{1, 1}, new double[]{0.2, 0.9}), "PNEUMONIA");
        assertTrue(Double.isNaN(one.auc()));
        double[][] roc = MetricsCalculator.rocCurve(predictions(new int[]{1, 0, 1, 0}, new double[]{0.9, 0.1, 0.6, 0.7}), "PNEUMONIA");
        assertEquals(roc[0].length, roc[1].length);
        assertEquals(0.0, roc[0][0], 1e-12);
        assertEquals(1.0, roc[0][roc[0].length - 1], 1e-12);
        assertEquals(1.0, roc[1][roc[1].length - 1], 1e-12);
    }
}
