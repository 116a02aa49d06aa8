package org.xraydl.evaluate;

import org.junit.jupiter.api.Test;
import org.xraydl.TestData;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CalibrationTest {

    @Test
    void eceMatchesTheHandComputedBinGaps() {
        double[] scores = {0.05, 0.15, 0.15, 0.85, 0.95, 1.0};
        boolean[] positive = {false, true, false, true, true, false};
        // Bin [0, 0.1): 0.05 vs 0 -> 0.05 x 1/6. Bin [0.1, 0.2): mean 0.15 vs 1/2 -> 0.35 x 2/6.
        // Bin [0.8, 0.9): 0.85 vs 1 -> 0.15 x 1/6. Bin [0.9, 1.0] (1.0 included): mean 0.975 vs 1/2 -> 0.475 x 2/6.
        double hand = (0.05 + 2 * 0.35 + 0.15 + 2 * 0.475) / 6;
        assertEquals(hand, Calibration.ece(scores, positive), 1e-12);
        Calibration.Bin last = Calibration.reliability(scores, positive, 10)[9];
        assertEquals(2, last.count());
        assertEquals(0.5, last.positiveFraction(), 1e-12);
    }

    @Test
    void temperatureOneChangesNothingAndTwoSoftensABinaryOutput() {
        assertArrayEquals(new double[]{0.2, 0.8}, Calibration.scale(new double[]{0.2, 0.8}, 1.0), 0);
        // T = 2: 0.8^(1/2) / (0.8^(1/2) + 0.2^(1/2)) = 0.894427 / (0.894427 + 0.447214) = 2/3.
        assertEquals(2.0 / 3, Calibration.scale(new double[]{0.2, 0.8}, 2.0)[1], 1e-12);
    }

    @Test
    void temperatureFitLowersTheNllOfAnOverConfidentModel() {
        // 10 images at P(PNEUMONIA) = 0.99 of which 7 are positive, 10 at 0.01 of which 3 are positive.
        int[] truth = new int[20];
        double[] p = new double[20];
        for (int i = 0; i < 20; i++) {
            boolean high = i < 10;
            p[i] = high ? 0.99 : 0.01;
            truth[i] = high ? (i < 7 ? 1 : 0) : (i < 13 ? 1 : 0);
        }
        Predictions pred = TestData.predictions(truth, p);
        // Before: -(0.7 ln 0.99 + 0.3 ln 0.01) = 1.38861. The best T maps 0.99 to 0.7: sigmoid(ln 99 / T) = 0.7,
        // T = ln 99 / ln(7/3) = 5.42332, NLL then -(0.7 ln 0.7 + 0.3 ln 0.3) = 0.61086.
        assertEquals(-(0.7 * Math.log(0.99) + 0.3 * Math.log(0.01)), Calibration.nll(pred, 1.0), 1e-9);
        double t = Calibration.fitTemperature(pred);
        assertEquals(Math.log(99) / Math.log(7.0 / 3), t, 1e-3);
        assertEquals(-(0.7 * Math.log(0.7) + 0.3 * Math.log(0.3)), Calibration.nll(pred, t), 1e-6);
        double[] before = Calibration.scores(pred, 1);
        double[] after = Calibration.scores(Calibration.scale(pred, t), 1);
        boolean[] positive = Calibration.isPositive(pred, 1);
        // ECE 0.29 before (both bins off by 0.29), ~0 after.
        assertEquals(0.29, Calibration.ece(before, positive), 1e-9);
        assertTrue(Calibration.ece(after, positive) < 1e-3);
    }
}
