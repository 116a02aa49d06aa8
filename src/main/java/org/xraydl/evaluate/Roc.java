package org.xraydl.evaluate;

import java.util.Arrays;
import java.util.Comparator;

/**
 * ROC AUC and curve from full-precision scores, exact and independent of row order: the AUC is the
 * Mann-Whitney statistic P(score of a positive > score of a negative) with tied pairs counted 1/2,
 * which equals the trapezoid area under {@link #curve}, whose points are taken at every distinct score.
 */
public final class Roc {

    private Roc() {
    }

    /** Mann-Whitney AUC with mid-ranks for ties; NaN unless both classes are present. */
    public static double auc(double[] scores, boolean[] positive) {
        int n = scores.length;
        Integer[] order = sortedAscending(scores);
        double positiveRankSum = 0;
        long positives = 0;
        for (int i = 0; i < n; ) {
            int j = i;
            while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
                j++;
            }
            double midRank = (i + j) / 2.0 + 1; // 1-based ranks i+1 .. j+1, averaged over the tie
            for (int k = i; k <= j; k++) {
                if (positive[order[k]]) {
                    positiveRankSum += midRank;
                    positives++;
                }
            }
            i = j + 1;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        return (positiveRankSum - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
    }

    /**
     * Points (false positive rate, true positive rate) for "positive when score >= t", t running down
     * through the distinct scores, from (0, 0) to (1, 1); a tie moves diagonally.
     */
    public static double[][] curve(double[] scores, boolean[] positive) {
        int n = scores.length;
        long p = 0;
        for (boolean b : positive) {
            if (b) {
                p++;
            }
        }
        long neg = n - p;
        Integer[] order = sortedAscending(scores);
        double[] fpr = new double[n + 1];
        double[] tpr = new double[n + 1];
        int points = 1;
        long tp = 0, fp = 0;
        for (int i = n - 1; i >= 0; ) {
            int j = i;
            while (j - 1 >= 0 && scores[order[j - 1]] == scores[order[i]]) {
                j--;
            }
            for (int k = j; k <= i; k++) {
                if (positive[order[k]]) tp++; else fp++;
            }
            fpr[points] = neg == 0 ? Double.NaN : fp / (double) neg;
            tpr[points] = p == 0 ? Double.NaN : tp / (double) p;
            points++;
            i = j - 1;
        }
        return new double[][]{Arrays.copyOf(fpr, points), Arrays.copyOf(tpr, points)};
    }

    private static Integer[] sortedAscending(double[] scores) {
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> scores[i]));
        return order;
    }
}
