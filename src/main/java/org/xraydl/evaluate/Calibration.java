package org.xraydl.evaluate;

/**
 * Calibration of the positive-class probability. ECE (expected calibration error): the scores are
 * put into {@value #BINS} equal-width bins [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0] (1.0 in the last
 * bin); ECE = sum over bins of (images in the bin / all images) * |mean positive-class probability
 * in the bin - fraction of positives in the bin|. This is the binary reliability diagram's gap, not
 * the top-label ECE. Temperature scaling: p'_k = softmax_k(log p_k / T), T > 1 softens over-confident
 * outputs; T is fitted on validation by minimising the mean negative log-likelihood (golden-section
 * search on log T). It keeps the ranking of a binary score, so the AUC does not change.
 */
public final class Calibration {
    public static final int BINS = 10;
    /**
     * Probabilities are clipped to this before the log, so an output of exactly 0.0 stays finite; it is below
     * every nonzero float32 softmax output, so scaling never merges two different scores into a tie.
     */
    static final double EPS = Double.MIN_NORMAL;
    static final double LOG_T_MIN = Math.log(0.05);
    static final double LOG_T_MAX = Math.log(20);

    /** One reliability bin: its bounds, image count, mean predicted probability and observed positive fraction. */
    public record Bin(double low, double high, int count, double meanProbability, double positiveFraction) {
    }

    private Calibration() {
    }

    public static Bin[] reliability(double[] scores, boolean[] positive, int bins) {
        int[] count = new int[bins];
        double[] sumP = new double[bins];
        int[] pos = new int[bins];
        for (int i = 0; i < scores.length; i++) {
            int b = Math.min(bins - 1, Math.max(0, (int) Math.floor(scores[i] * bins)));
            count[b]++;
            sumP[b] += scores[i];
            if (positive[i]) {
                pos[b]++;
            }
        }
        Bin[] out = new Bin[bins];
        for (int b = 0; b < bins; b++) {
            out[b] = new Bin(b / (double) bins, (b + 1) / (double) bins, count[b],
                    count[b] == 0 ? Double.NaN : sumP[b] / count[b], count[b] == 0 ? Double.NaN : pos[b] / (double) count[b]);
        }
        return out;
    }

    /** ECE with {@link #BINS} bins; NaN for no images. */
    public static double ece(double[] scores, boolean[] positive) {
        int n = scores.length;
        if (n == 0) {
            return Double.NaN;
        }
        double e = 0;
        for (Bin b : reliability(scores, positive, BINS)) {
            if (b.count() > 0) {
                e += b.count() / (double) n * Math.abs(b.meanProbability() - b.positiveFraction());
            }
        }
        return e;
    }

    /** Class probabilities after temperature T (T = 1 returns the same values, clipped rows aside). */
    public static double[] scale(double[] probabilities, double temperature) {
        if (temperature == 1.0) {
            return probabilities.clone();
        }
        double[] z = new double[probabilities.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < z.length; k++) {
            z[k] = Math.log(Math.max(EPS, probabilities[k])) / temperature;
            max = Math.max(max, z[k]);
        }
        double sum = 0;
        for (int k = 0; k < z.length; k++) {
            z[k] = Math.exp(z[k] - max);
            sum += z[k];
        }
        for (int k = 0; k < z.length; k++) {
            z[k] /= sum;
        }
        return z;
    }

    public static Predictions scale(Predictions p, double temperature) {
        if (temperature == 1.0) {
            return p;
        }
        double[][] out = new double[p.size()][];
        for (int i = 0; i < p.size(); i++) {
            out[i] = scale(p.probabilities()[i], temperature);
        }
        return new Predictions(p.labels(), p.files(), p.trueClass(), out);
    }

    /** Mean negative log-likelihood of the true class after temperature T. */
    public static double nll(Predictions p, double temperature) {
        double s = 0;
        for (int i = 0; i < p.size(); i++) {
            s -= Math.log(Math.max(EPS, scale(p.probabilities()[i], temperature)[p.trueClass()[i]]));
        }
        return p.size() == 0 ? Double.NaN : s / p.size();
    }

    /** The temperature in [0.05, 20] with the lowest {@link #nll}: golden-section search on log T. */
    public static double fitTemperature(Predictions p) {
        double invPhi = (Math.sqrt(5) - 1) / 2;
        double a = LOG_T_MIN, b = LOG_T_MAX;
        double c = b - invPhi * (b - a), d = a + invPhi * (b - a);
        double fc = nll(p, Math.exp(c)), fd = nll(p, Math.exp(d));
        for (int i = 0; i < 60 && b - a > 1e-6; i++) {
            if (fc <= fd) {
                b = d;
                d = c;
                fd = fc;
                c = b - invPhi * (b - a);
                fc = nll(p, Math.exp(c));
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + invPhi * (b - a);
                fd = nll(p, Math.exp(d));
            }
        }
        return Math.exp((a + b) / 2);
    }

    /** Positive-class scores of every row. */
    public static double[] scores(Predictions p, int positiveIndex) {
        double[] s = new double[p.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = p.probabilities()[i][positiveIndex];
        }
        return s;
    }

    /** Whether each row's true class is the positive one. */
    public static boolean[] isPositive(Predictions p, int positiveIndex) {
        boolean[] b = new boolean[p.size()];
        for (int i = 0; i < b.length; i++) {
            b[i] = p.trueClass()[i] == positiveIndex;
        }
        return b;
    }
}
