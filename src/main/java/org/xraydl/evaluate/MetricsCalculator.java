package org.xraydl.evaluate;

import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.evaluation.classification.ROC;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.data.ClassLabels;

/** Pure functions from predictions to metrics, on DL4J's own Evaluation and ROC (exact AUC). */
public final class MetricsCalculator {

    private MetricsCalculator() {
    }

    /**
     * Binary metrics with {@code positiveLabel} (the project's: {@link ClassLabels#POSITIVE}) as the positive class.
     *
     * @throws org.xraydl.UserError if the predictions' labels do not hold {@code positiveLabel}
     */
    public static Metrics compute(Predictions p, String positiveLabel) {
        int n = p.size();
        int k = p.labels().size();
        if (k != 2) {
            throw new IllegalArgumentException("binary metrics need exactly two classes, got " + p.labels());
        }
        int pos = ClassLabels.indexOf(p.labels(), positiveLabel);
        int neg = 1 - pos;
        INDArray labels = Nd4j.zeros(n, k);
        INDArray probs = Nd4j.create(p.probabilities());
        double loss = 0;
        for (int i = 0; i < n; i++) {
            labels.putScalar(i, p.trueClass()[i], 1.0);
            loss -= Math.log(Math.max(1e-12, p.probabilities()[i][p.trueClass()[i]]));
        }
        Evaluation eval = new Evaluation(p.labels(), 1);
        eval.eval(labels, probs);
        int[][] confusion = new int[k][k];
        for (int t = 0; t < k; t++) {
            for (int q = 0; q < k; q++) {
                confusion[t][q] = eval.getConfusionMatrix().getCount(t, q);
            }
        }
        // ROC on the positive-class probability: exact (thresholdSteps = 0).
        ROC roc = new ROC(0);
        roc.eval(labels.getColumn(pos).reshape(n, 1), probs.getColumn(pos).reshape(n, 1));
        double auc = hasBothClasses(p.trueClass()) ? roc.calculateAUC() : Double.NaN;
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
                n == 0 ? Double.NaN : loss / n, p.labels().get(pos), p.labels(), confusion, ci);
    }

    /** ROC points (false positive rate, true positive rate) for plotting. */
    public static double[][] rocCurve(Predictions p, String positiveLabel) {
        int pos = ClassLabels.indexOf(p.labels(), positiveLabel);
        int n = p.size();
        INDArray labels = Nd4j.zeros(n, 1);
        INDArray probs = Nd4j.zeros(n, 1);
        for (int i = 0; i < n; i++) {
            labels.putScalar(i, 0, p.trueClass()[i] == pos ? 1 : 0);
            probs.putScalar(i, 0, p.probabilities()[i][pos]);
        }
        ROC roc = new ROC(0);
        roc.eval(labels, probs);
        var curve = roc.getRocCurve();
        double[] fpr = curve.getX();
        double[] tpr = curve.getY();
        return new double[][]{fpr, tpr};
    }

    private static boolean hasBothClasses(int[] t) {
        boolean a = false, b = false;
        for (int x : t) {
            if (x == 0) a = true; else b = true;
        }
        return a && b;
    }

    private static double ratio(double a, double b) {
        return b == 0 ? Double.NaN : a / b;
    }
}
