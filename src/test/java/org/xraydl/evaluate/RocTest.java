package org.xraydl.evaluate;

import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.classification.ROC;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The AUC of tied and saturated scores is the hand-counted Mann-Whitney value in any row order. */
class RocTest {
    // Positives 1.0, 1.0, 1.0, 0.0, 0.5 and negatives 1.0, 0.0, 0.0, 0.0, 0.5, 0.2: 5 x 6 = 30 pairs.
    // Per positive, negatives below + 1/2 per tie: 1.0 -> 5 + 0.5 (three times: 16.5), 0.0 -> 0 + 1.5, 0.5 -> 4 + 0.5.
    // AUC = (16.5 + 1.5 + 4.5) / 30 = 0.75.
    static final double HAND_AUC = 22.5 / 30;
    static final double[] POS = {1.0, 1.0, 1.0, 0.0, 0.5};
    static final double[] NEG = {1.0, 0.0, 0.0, 0.0, 0.5, 0.2};

    @Test
    void tiedAndSaturatedScoresGiveTheMannWhitneyAucInBothRowOrders() {
        Predictions positivesFirst = rows(true);
        Predictions negativesFirst = rows(false);
        assertEquals(HAND_AUC, MetricsCalculator.compute(positivesFirst, "PNEUMONIA").auc(), 1e-12);
        assertEquals(HAND_AUC, MetricsCalculator.compute(negativesFirst, "PNEUMONIA").auc(), 1e-12);
        // The plotted curve has the same area (trapezoids: a tie is a diagonal step).
        assertEquals(HAND_AUC, trapezoid(MetricsCalculator.rocCurve(positivesFirst, "PNEUMONIA")), 1e-12);
        assertEquals(HAND_AUC, trapezoid(MetricsCalculator.rocCurve(negativesFirst, "PNEUMONIA")), 1e-12);
    }

    @Test
    void curveStepsThroughEveryDistinctScoreFromTheTop() {
        double[][] c = Roc.curve(new double[]{0.9, 0.1, 0.9, 0.5}, new boolean[]{true, false, false, true});
        // t = 0.9: 1 of 2 positives, 1 of 2 negatives; t = 0.5: 2/2, 1/2; t = 0.1: 2/2, 2/2.
        assertEquals(java.util.List.of(0.0, 0.5, 0.5, 1.0), java.util.Arrays.stream(c[0]).boxed().toList());
        assertEquals(java.util.List.of(0.0, 0.5, 1.0, 1.0), java.util.Arrays.stream(c[1]).boxed().toList());
    }

    /**
     * Why the project does not use DL4J's exact ROC (thresholdSteps = 0) for the AUC: on these rows it gives
     * 0.8667 with the positives first and 0.6333 with the negatives first (measured, DL4J 1.0.0-M2.1).
     */
    @Test
    void dl4jExactRocDependsOnRowOrderWithTies() {
        double[] dl4j = new double[2];
        for (boolean posFirst : new boolean[]{true, false}) {
            Predictions p = rows(posFirst);
            int n = p.size();
            var labels = Nd4j.zeros(n, 1);
            var probs = Nd4j.zeros(n, 1);
            for (int i = 0; i < n; i++) {
                labels.putScalar(i, 0, p.trueClass()[i]);
                probs.putScalar(i, 0, p.probabilities()[i][1]);
            }
            ROC roc = new ROC(0);
            roc.eval(labels, probs);
            dl4j[posFirst ? 0 : 1] = roc.calculateAUC();
        }
        org.junit.jupiter.api.Assertions.assertNotEquals(dl4j[0], dl4j[1], 1e-6,
                "DL4J's ROC(0) no longer depends on row order: its AUC could be used again");
    }

    static Predictions rows(boolean positivesFirst) {
        int[] truth = new int[POS.length + NEG.length];
        double[] scores = new double[truth.length];
        int i = 0;
        for (int pass = 0; pass < 2; pass++) {
            boolean positive = (pass == 0) == positivesFirst;
            for (double s : positive ? POS : NEG) {
                truth[i] = positive ? 1 : 0;
                scores[i++] = s;
            }
        }
        return TestData.predictions(truth, scores);
    }

    static double trapezoid(double[][] c) {
        double a = 0;
        for (int i = 1; i < c[0].length; i++) {
            a += (c[0][i] - c[0][i - 1]) * (c[1][i] + c[1][i - 1]) / 2;
        }
        return a;
    }
}
