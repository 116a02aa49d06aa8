package org.xraydl.evaluate;

import org.xraydl.config.RunConfig;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Chooses the decision rule of a trained model on its VALIDATION predictions (never on the data it
 * is later evaluated on). A threshold t calls an image positive when its positive-class probability
 * p >= t, so the thresholds worth considering are the distinct validation scores.
 * <ul>
 * <li>{@code sensitivity}: the highest t whose validation sensitivity #{positives with p >= t} / #positives
 *     is >= the target. Sensitivity only falls as t rises, so this is the k-th highest positive score,
 *     k = ceil(target * #positives); images tied with it are all called positive.</li>
 * <li>{@code youden}: the t maximising sensitivity + specificity - 1 (specificity = #{negatives with
 *     p < t} / #negatives); among equal values the highest t.</li>
 * </ul>
 */
public final class OperatingPoint {
    public static final String SENSITIVITY = "sensitivity";
    public static final String YOUDEN = "youden";

    private OperatingPoint() {
    }

    /**
     * Fits the temperature (kept only when it lowers the validation ECE), then chooses the threshold on
     * the temperature-scaled validation scores, which is the scale evaluate and predict apply it to.
     */
    public static DecisionRule choose(Predictions validation, RunConfig c, String positiveLabel) {
        int pos = positiveIndex(validation, positiveLabel);
        boolean[] positive = Calibration.isPositive(validation, pos);
        double t = Calibration.fitTemperature(validation);
        double eceBefore = Calibration.ece(Calibration.scores(validation, pos), positive);
        double eceAfter = Calibration.ece(Calibration.scores(Calibration.scale(validation, t), pos), positive);
        double temperature = eceAfter < eceBefore ? t : 1.0;
        double[] scores = Calibration.scores(Calibration.scale(validation, temperature), pos);
        double threshold = threshold(scores, positive, c.thresholdMethod(), c.targetSensitivity());
        return new DecisionRule(validation.labels().get(pos), threshold, c.thresholdMethod(), c.targetSensitivity(), temperature);
    }

    /**
     * The end of a training run: chooses the rule on the best model's plain validation predictions and, the
     * same way, on its validation predictions averaged over {@code views} test-time augmentation views (what
     * {@code --tta} applies it to), stores both in that model's zip and returns the stored rule. With
     * {@code tta} null (the TTA pass was skipped) only the plain rule is stored.
     */
    public static DecisionRule chooseAndStore(Predictions plain, Predictions tta, int views, RunConfig c, String positiveLabel,
                                              Path bestZip) {
        DecisionRule rule = choose(plain, c, positiveLabel);
        if (tta != null) {
            rule = rule.withTta(choose(tta, c, positiveLabel), views);
        }
        ModelBundle.storeDecision(bestZip, rule);
        return rule;
    }

    /** {@link #report} of the stored TTA rule on the TTA-averaged validation predictions, with the number of views. */
    public static Map<String, Object> reportTta(Predictions tta, DecisionRule stored) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("views", stored.tta().views());
        out.putAll(report(tta, stored.forTta()));
        return out;
    }

    /** The threshold by {@code method} (see the class comment); needs at least one positive and one negative. */
    public static double threshold(double[] scores, boolean[] positive, String method, double targetSensitivity) {
        int p = 0;
        for (boolean b : positive) {
            if (b) p++;
        }
        int n = scores.length - p;
        if (p == 0 || n == 0) {
            throw new IllegalArgumentException("a threshold needs both classes in the validation predictions");
        }
        if (SENSITIVITY.equals(method)) {
            double[] posScores = new double[p];
            int j = 0;
            for (int i = 0; i < scores.length; i++) {
                if (positive[i]) posScores[j++] = scores[i];
            }
            Arrays.sort(posScores);
            int k = (int) Math.ceil(targetSensitivity * p - 1e-9); // positives that must score >= t
            k = Math.max(1, Math.min(p, k));
            return posScores[p - k];
        }
        if (YOUDEN.equals(method)) {
            double[] distinct = Arrays.stream(scores).distinct().sorted().toArray();
            double best = Double.NEGATIVE_INFINITY;
            double bestT = distinct[distinct.length - 1];
            for (int d = distinct.length - 1; d >= 0; d--) {
                double t = distinct[d];
                int tp = 0, tn = 0;
                for (int i = 0; i < scores.length; i++) {
                    if (positive[i] && scores[i] >= t) tp++;
                    if (!positive[i] && scores[i] < t) tn++;
                }
                double j = tp / (double) p + tn / (double) n - 1;
                if (j > best) { // strictly better: ties keep the higher t found first
                    best = j;
                    bestT = t;
                }
            }
            return bestT;
        }
        throw new IllegalArgumentException("unknown threshold method " + method + " (sensitivity | youden)");
    }

    /** The rule's numbers and the validation metrics at its threshold, for metrics.json. */
    public static Map<String, Object> report(Predictions validation, DecisionRule rule) {
        Predictions scaled = Calibration.scale(validation, rule.temperature());
        int pos = positiveIndex(validation, rule.positive());
        boolean[] positive = Calibration.isPositive(validation, pos);
        Metrics m = MetricsCalculator.compute(scaled, rule.positive(), rule.threshold());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("threshold", rule.threshold());
        out.put("method", rule.method());
        out.put("target_sensitivity", rule.targetSensitivity());
        out.put("temperature", rule.temperature());
        out.put("ece_uncalibrated", Calibration.ece(Calibration.scores(validation, pos), positive));
        out.put("ece_calibrated", Calibration.ece(Calibration.scores(scaled, pos), positive));
        out.put("note", "chosen on this validation split, so its metrics here are optimistic");
        out.put("accuracy", m.accuracy());
        out.put("sensitivity", m.sensitivity());
        out.put("specificity", m.specificity());
        out.put("precision", m.precision());
        out.put("confusion", m.confusion());
        return out;
    }

    static int positiveIndex(Predictions p, String positiveLabel) {
        int pos = p.labels().indexOf(positiveLabel);
        return pos >= 0 ? pos : p.labels().size() - 1;
    }
}
