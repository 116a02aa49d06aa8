package org.xraydl.evaluate;

import java.util.List;

/**
 * Model outputs on a labelled set: per image the file, the true class index and the class
 * probabilities (rows in the same order).
 */
public record Predictions(List<String> labels, List<String> files, int[] trueClass, double[][] probabilities) {

    public int size() {
        return trueClass.length;
    }

    public int predictedClass(int i) {
        double[] p = probabilities[i];
        int best = 0;
        for (int k = 1; k < p.length; k++) {
            if (p[k] > p[best]) {
                best = k;
            }
        }
        return best;
    }
}
