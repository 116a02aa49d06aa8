package org.xraydl.evaluate;

import org.xraydl.data.ClassLabels;

/**
 * Pure functions from predictions to metrics. The confusion matrix counts the decision "positive when
 * the positive-class probability is >= threshold"; the AUC is the tie-safe Mann-Whitney value of {@link Roc}
 * (DL4J's exact ROC sorts without a tie rule, so tied scores could make it depend on row order).
 */
public final class MetricsCalculator {

    private MetricsCalculator() {
    }

    /** The default operating point: threshold 0.5 (the most probable class, for two classes). */
    public static final double DEFAULT_THRESHOLD = 0.5;

    /**
     * Binary metrics with {@code positiveLabel} (the project's: {@link ClassLabels#POSITIVE}) as the positive class.
     *
     * @throws org.xraydl.UserError if the predictions' labels do not hold {@code positiveLabel}
     */
    public static Metrics compute(Predictions p, String positiveLabel) {
        return compute(p, positiveLabel, DEFAULT_THRESHOLD);
    }

    public static Metrics compute(Predictions p, String positiveLabel, double threshold) {
        int n = p.size();
        int k = p.labels().size();
        if (k != 2) {
            throw new IllegalArgumentException("binary metrics need exactly two classes, got " + p.labels());
        }
        int pos = ClassLabels.indexOf(p.labels(), positiveLabel);
        int neg = 1 - pos;
        double loss = 0;
        int[][] confusion = new int[k][k];
        for (int i = 0; i < n; i++) {
            int truth = p.trueClass()[i];
            loss -= Math.log(Math.max(1e-12, p.probabilities()[i][truth]));
            confusion[truth][p.probabilities()[i][pos] >= threshold ? pos : neg]++;
        }
        double[] scores = Calibration.scores(p, pos);
        boolean[] positive = Calibration.isPositive(p, pos);
        double auc = Roc.auc(scores, positive);
        double tp = confusion[pos][pos], fn = confusion[pos][neg], fp = confusion[neg][pos], tn = confusion[neg][neg];
        double sensitivity = ratio(tp, tp + fn);
        double specificity = ratio(tn, tn + fp);
        double precision = ratio(tp, tp + fp);
        double f1 = Double.isNaN(precision) || Double.isNaN(sensitivity) || precision + sensitivity == 0 ? 0
                : 2 * precision * sensitivity / (precision + sensitivity);
        java.util.Map<String, double[]> ci = new java.util.LinkedHashMap<>();
        ci.put("accuracy", ConfidenceIntervals.wilson(tp + tn, n));
        ci.put("sensitivity", ConfidenceIntervals.wilson(tp, tp + fn));
        ci.put("specificity", ConfidenceIntervals.wilson(tn, tn + fp));
        ci.put("precision", ConfidenceIntervals.wilson(tp, tp + fp));
        ci.put("auc", ConfidenceIntervals.hanleyMcNeil(auc, (int) (tp + fn), (int) (tn + fp)));
        return new Metrics(n, ratio(tp + tn, n), sensitivity, specificity, precision, f1, auc,
                n == 0 ? Double.NaN : loss / n, p.labels().get(pos), p.labels(), confusion, ci, threshold,
                Calibration.ece(scores, positive));
    }

    /** ROC points (false positive rate, true positive rate) for plotting; see {@link Roc#curve}. */
    public static double[][] rocCurve(Predictions p, String positiveLabel) {
        int pos = ClassLabels.indexOf(p.labels(), positiveLabel);
        return Roc.curve(Calibration.scores(p, pos), Calibration.isPositive(p, pos));
    }

    private static double ratio(double a, double b) {
        return b == 0 ? Double.NaN : a / b;
    }
}
